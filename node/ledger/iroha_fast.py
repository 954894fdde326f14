"""The common Iroha transaction decoded straight from the wire format (issue 18, Performance).

Every node decodes every transaction it admits. Through the protobuf runtime and the command table
(``iroha_tx.decode_iroha_transaction``) an Iroha transfer cost 14 us against a native one's 6 us; Iroha
clients mostly send transfers. This path reads the one shape those take, field by field, in the order
every protobuf serializer writes them:

    Transaction   = payload (1) · signature (2)*
    Payload       = reduced_payload (1)                       (no batch meta)
    ReducedPayload = command (1)+ · creator (2) · created_time (3) · quorum (4)
    Command       = transfer_asset (16)
    TransferAsset = src (1) · dest (2) · asset (3) · [description (4)] · amount (5)
    Signature     = public_key (1) · signature (2)

Anything else (another command, a batch, a field out of order or repeated, an unknown field, a value
out of range, bad UTF-8, any check failing) returns None and goes the general way, which then accepts
or names the error exactly as before. So this path only ever accepts what the general one accepts, and
builds equal objects (tests/ledger/test_iroha_fast.py checks both on generated and mutated bytes).
"""

from __future__ import annotations

from typing import Any

from node.ledger import commands as c
from node.ledger import ids
from node.ledger.errors import StatelessError
from node.ledger.iroha_crypto import STANDARD_PREFIX, KeyKind
from node.ledger.transactions import MAX_COMMANDS, MAX_SIGNATURES, TxPayload, frozen_record

_TRANSFER_KEY = b"\x82\x01"  # Command field 16, length-delimited: transfer_asset
_STANDARD_PREFIX_HEX = STANDARD_PREFIX.hex()
_HEX = frozenset("0123456789abcdefABCDEF")


class _NotCommon(Exception):
    """The bytes are not the common shape: the general decoder takes them."""


def decode_common_transfer(payload_bytes: bytes, signature_messages: list[bytes]) -> dict[str, Any] | None:
    """The fields of an ``IrohaTransaction`` for the common shape, or None for the general path.

    Returns ``payload``, ``signatures``, ``kinds`` and ``reduced`` (the reduced payload's bytes); the
    caller adds the hashes (``iroha_tx``)."""
    try:
        return _decode(payload_bytes, signature_messages)
    except (_NotCommon, StatelessError, UnicodeDecodeError, IndexError, ValueError):
        return None


def _decode(payload_bytes: bytes, signature_messages: list[bytes]) -> dict[str, Any]:
    if len(signature_messages) > MAX_SIGNATURES:
        raise _NotCommon
    # Payload: exactly one field, the reduced payload.
    if payload_bytes[0] != 0x0A:
        raise _NotCommon
    length, at = _varint(payload_bytes, 1)
    if at + length != len(payload_bytes):
        raise _NotCommon
    reduced = payload_bytes[at:]
    commands: list[c.Command] = []
    at, end = 0, len(reduced)
    while at < end and reduced[at] == 0x0A:
        length, at = _varint(reduced, at + 1)
        stop = at + length
        if stop > end or len(commands) == MAX_COMMANDS:
            raise _NotCommon
        commands.append(_transfer(reduced, at, stop))
        at = stop
    if not commands:
        raise _NotCommon
    creator, at = _string(reduced, at, end, 0x12)
    if at >= end or reduced[at] != 0x18:
        raise _NotCommon
    created_time, at = _varint(reduced, at + 1)
    if at >= end or reduced[at] != 0x20:
        raise _NotCommon
    quorum, at = _varint(reduced, at + 1)
    if at != end or created_time >= 2**63 or not 1 <= quorum <= MAX_SIGNATURES:
        raise _NotCommon
    ids.check_account_id(creator)
    pairs: list[tuple[bytes, bytes]] = []
    kinds: list[KeyKind] = []
    for message in signature_messages:
        key_text, at = _string(message, 0, len(message), 0x0A)
        signature_text, at = _string(message, at, len(message), 0x12)
        if at != len(message) or len(signature_text) != 128 or not _HEX.issuperset(signature_text):
            raise _NotCommon
        if len(key_text) == 64 and _HEX.issuperset(key_text):
            kinds.append(KeyKind.LEGACY)
        elif len(key_text) == 70 and key_text[:6] == _STANDARD_PREFIX_HEX and _HEX.issuperset(key_text[6:]):
            key_text = key_text[6:]
            kinds.append(KeyKind.STANDARD)
        else:
            raise _NotCommon
        pairs.append((bytes.fromhex(key_text), bytes.fromhex(signature_text)))
    payload = frozen_record(TxPayload, chain_id="", creator=creator, created_ms=created_time,  # "": iroha_tx's
                            quorum=quorum, commands=tuple(commands), batch=None)  # IROHA_CHAIN (none named)
    return {"payload": payload, "signatures": tuple(pairs), "kinds": tuple(kinds), "reduced": reduced}


def _transfer(data: bytes, at: int, stop: int) -> c.Command:
    """One Command holding a TransferAsset, checked as the command table checks it."""
    if data[at:at + 2] != _TRANSFER_KEY:
        raise _NotCommon
    length, at = _varint(data, at + 2)
    if at + length != stop:
        raise _NotCommon
    src, at = _string(data, at, stop, 0x0A)
    dest, at = _string(data, at, stop, 0x12)
    asset, at = _string(data, at, stop, 0x1A)
    description = ""
    if at < stop and data[at] == 0x22:
        description, at = _string(data, at, stop, 0x22)
    amount, at = _string(data, at, stop, 0x2A)
    if at != stop:
        raise _NotCommon
    return frozen_record(c.TransferAsset, src_account_id=c.check_account(src),
                         dest_account_id=c.check_account(dest), asset_id=c.check_asset(asset),
                         description=c.check_description(description), amount=c.check_amount(amount))


def _string(data: bytes, at: int, stop: int, key: int) -> tuple[str, int]:
    """The string field ``key`` at ``at`` (it must be there: proto3 leaves out only empty ones, which the
    common shape has none of but the description)."""
    if at >= stop or data[at] != key:
        raise _NotCommon
    length, at = _varint(data, at + 1)
    end = at + length
    if end > stop:
        raise _NotCommon
    return data[at:end].decode("utf-8"), end


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A base-128 varint of at most 10 bytes, as protobuf allows; anything longer is not the common shape.
    (Its value may exceed 64 bits: every caller bounds what it reads, a time, a quorum or a length.)"""
    byte = data[at]
    if byte < 0x80:  # the usual one-byte length
        return byte, at + 1
    value = shift = 0
    while True:
        if shift > 63:
            raise _NotCommon
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


__all__ = ["decode_common_transfer"]
