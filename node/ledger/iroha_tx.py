"""Iroha 1 transactions as ledger transactions (issue 18; docs/iroha.md, "Transactions").

A client of Iroha's Torii sends ``iroha.protocol.Transaction`` protobuf bytes: a ``Payload`` (the
reduced payload: commands, creator, created time, quorum; optionally batch meta) and signatures, each a
hex public key of one of Iroha's two kinds and a hex signature. Here such bytes become a ``Transaction``
like a native one (same commands, same creator and quorum rules, same state), with three differences:

- identity: the hash is ``sha3_256(payload bytes)``, Iroha's transaction hash, over the payload bytes
  exactly as received (they are the field's own bytes, never a re-serialization, so a client re-derives
  the same hash from what it sent);
- signatures: each one verifies under its key's kind (``node.ledger.iroha_crypto``): standard Ed25519
  over the payload bytes, legacy Ed25519/SHA3-512 over their sha3_256. A signatory is the 32-byte key
  either way (a signatory can sign in either scheme only with the key's secret scalar), so native and
  Iroha transactions of one account share its signatories and quorum;
- bytes: in blocks, gossip and the journal an Iroha transaction travels as ``[IROHA_TX_TAG, 1,
  protobuf bytes]`` with the protobuf bytes as received, so blocks served to Iroha clients carry the
  transactions they signed. Only a merge of signatures from another copy re-encodes them (the payload
  bytes, and so the hash, never change).

An Iroha transaction names no chain: Iroha has none in its payload. Replays across networks are
possible for a client who uses one key on two Iroha-compatible networks, as with Iroha itself; the
hash index refuses a replay within the network.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from consensus import codec
from node.ledger import ids
from node.ledger.batch_meta import BatchMeta, BatchType
from node.ledger.errors import StatelessError
from node.ledger.iroha_commands import commands_from_iroha
from node.ledger.iroha_crypto import (
    IrohaPublicKey,
    KeyKind,
    parse_iroha_public_key,
    parse_iroha_signature,
    verify_iroha_signature,
)
from node.ledger.iroha_fast import decode_common_transfer
from node.ledger.iroha_proto import primitive_pb2, transaction_pb2
from node.ledger.transactions import MAX_COMMANDS, MAX_SIGNATURES, MAX_TX_BYTES, Transaction, TxPayload, frozen_record

IROHA_TX_TAG = 3
"""The tag of an Iroha transaction's envelope in our encodings (a native transaction's is 1)."""
ENVELOPE_VERSION = 1
IROHA_CHAIN = ""
"""The ``chain_id`` an Iroha transaction's payload shows: Iroha's payload names no chain."""

_PAYLOAD_FIELD = 0x0A  # field 1, length-delimited: Transaction.payload
_SIGNATURE_FIELD = 0x12  # field 2, length-delimited: Transaction.signatures (repeated)


@dataclass(frozen=True)
class IrohaTransaction(Transaction):
    """A transaction received in Iroha's protobuf format."""

    kinds: tuple[KeyKind, ...] = ()
    """Each signature's key kind, in ``signatures``' order: how it verifies and how it is re-encoded."""
    iroha_reduced_hash: bytes = b""
    """sha3_256 of the reduced payload's bytes: what a batch meta lists (Iroha's reduced hash)."""

    @property
    def reduced_hash(self) -> bytes:
        return self.iroha_reduced_hash

    @property
    def binds_chain(self) -> bool:
        return False

    @property
    def verification_id(self) -> object:
        # A kind is part of what was checked: the same (key, signature) under the other kind is
        # another claim, which must neither borrow this one's success nor poison it with a failure.
        return (self.signatures, self.kinds)

    def protobuf_bytes(self) -> bytes:
        """The ``iroha.protocol.Transaction`` bytes: as received, or rebuilt after a merge."""
        return _protobuf_of(self.encode())

    def encode(self) -> bytes:
        raw: bytes | None = self.__dict__.get("_raw")
        if raw is None:
            message = _field(_PAYLOAD_FIELD, self.payload_bytes) + b"".join(
                _field(_SIGNATURE_FIELD, _signature_message(key, kind, sig))
                for (key, sig), kind in zip(self.signatures, self.kinds, strict=True))
            raw = codec.encode_trusted([IROHA_TX_TAG, ENVELOPE_VERSION, message])
            object.__setattr__(self, "_raw", raw)
        return raw

    def first_bad_signature(self) -> tuple[int, bytes | None]:
        made = 0
        for (key, signature), kind in zip(self.signatures, self.kinds, strict=True):
            made += 1
            if not verify_iroha_signature(IrohaPublicKey(kind, key), self.payload_bytes, signature, self.hash):
                return made, key
        return made, None

    def merged_with(self, other: Transaction) -> Transaction:
        if not isinstance(other, IrohaTransaction):
            return self
        have = {key for key, _sig in self.signatures}
        extra = [(pair, kind) for pair, kind in zip(other.signatures, other.kinds, strict=True) if pair[0] not in have]
        if not extra:
            return self
        return IrohaTransaction(self.payload, self.payload_bytes, self.signatures + tuple(p for p, _k in extra),
                                self.hash, self.kinds + tuple(k for _p, k in extra), self.iroha_reduced_hash)

    def signature_json(self) -> list[dict[str, str]]:
        return [{"public_key": IrohaPublicKey(kind, key).text, "signature": sig.hex()}
                for (key, sig), kind in zip(self.signatures, self.kinds, strict=True)]


def iroha_hash(payload_bytes: bytes) -> bytes:
    """Iroha's transaction hash: sha3_256 of the payload's bytes."""
    return hashlib.sha3_256(payload_bytes).digest()


def wrap_iroha(protobuf_bytes: bytes) -> bytes:
    """Our encoding of an Iroha transaction received as ``protobuf_bytes`` (what admission takes)."""
    return codec.encode_trusted([IROHA_TX_TAG, ENVELOPE_VERSION, protobuf_bytes])


def is_iroha_envelope(data: bytes) -> bool:
    """Whether ``data`` starts like our envelope of an Iroha transaction (a 3-array tagged 3)."""
    return data[:2] == b"\x93\x03"


def decode_iroha_envelope(data: bytes) -> IrohaTransaction:
    """``[IROHA_TX_TAG, 1, protobuf bytes]`` -> the transaction; StatelessError naming what is wrong."""
    if len(data) > MAX_TX_BYTES + 16:
        raise StatelessError("tx_too_large", f"a transaction is at most {MAX_TX_BYTES} bytes")
    message = _envelope_message(data)
    if message is not None:
        tx = decode_iroha_transaction(message)
        object.__setattr__(tx, "_raw", bytes(data))
        return tx
    try:
        fields = codec.expect_record(codec.decode(data, MAX_TX_BYTES + 16), IROHA_TX_TAG, ENVELOPE_VERSION, 1,
                                     "iroha transaction")
        message = codec.expect_bytes(fields[0], "protobuf", max_length=MAX_TX_BYTES)
    except codec.CodecError as exc:
        raise StatelessError(f"bad_encoding_{exc.code}", exc.message) from exc
    tx = decode_iroha_transaction(message)
    object.__setattr__(tx, "_raw", bytes(data))  # the bytes as received travel on
    return tx


def _envelope_message(data: bytes) -> bytes | None:
    """The protobuf bytes of a canonical envelope, read without the codec: ``93 03 01`` then a msgpack
    bin8 (under 256 bytes) or bin16 (256 to 65,535) running to the end. None for anything else, which
    the codec then decodes or names the error of."""
    if data[:4] == b"\x93\x03\x01\xc4":
        message = data[5:]
        return message if len(data) > 4 and len(message) == data[4] else None
    if data[:4] == b"\x93\x03\x01\xc5":
        message = data[6:]
        return message if len(message) == int.from_bytes(data[4:6], "big") >= 256 else None
    return None


def decode_iroha_transaction(message: bytes) -> IrohaTransaction:
    """An ``iroha.protocol.Transaction`` as received -> the ledger transaction; StatelessError if bad."""
    if len(message) > MAX_TX_BYTES:
        raise StatelessError("tx_too_large", f"a transaction is at most {MAX_TX_BYTES} bytes")
    payload_bytes, signature_messages = _split(message)
    common = decode_common_transfer(payload_bytes, signature_messages)
    if common is not None:  # the usual transfer, read without the protobuf runtime (iroha_fast)
        return frozen_record(IrohaTransaction, payload=common["payload"], payload_bytes=payload_bytes,
                             signatures=common["signatures"], hash=iroha_hash(payload_bytes), kinds=common["kinds"],
                             iroha_reduced_hash=iroha_hash(common["reduced"]))
    return decode_iroha_general(payload_bytes, signature_messages)


def decode_iroha_general(payload_bytes: bytes, signature_messages: list[bytes]) -> IrohaTransaction:
    """Any transaction's payload and signature messages through the protobuf runtime; names the error."""
    try:
        payload = transaction_pb2.Transaction.Payload.FromString(payload_bytes)
        signatures = [primitive_pb2.Signature.FromString(m) for m in signature_messages]
    except (DecodeError, RecursionError) as exc:
        raise StatelessError("bad_protobuf", f"not an iroha.protocol.Transaction: {exc}") from None
    reduced = payload.reduced_payload
    creator = reduced.creator_account_id
    ids.check_account_id(creator)
    if not 1 <= reduced.quorum <= MAX_SIGNATURES:
        raise StatelessError("bad_quorum", f"a transaction's quorum is 1 to {MAX_SIGNATURES}")
    if not reduced.commands:
        raise StatelessError("no_commands", "a transaction needs at least one command")
    if len(reduced.commands) > MAX_COMMANDS:
        raise StatelessError("too_many_commands", f"at most {MAX_COMMANDS} commands in a transaction")
    if reduced.created_time >= 2**63:
        raise StatelessError("bad_created_time", "created_time is past the year 292,000,000")
    if len(signatures) > MAX_SIGNATURES:
        raise StatelessError("too_many_signatures", f"at most {MAX_SIGNATURES} signatures")
    pairs: list[tuple[bytes, bytes]] = []
    kinds: list[KeyKind] = []
    for signature in signatures:
        key = parse_iroha_public_key(signature.public_key)
        pairs.append((key.raw, parse_iroha_signature(signature.signature)))
        kinds.append(key.kind)
    commands = commands_from_iroha(reduced.commands)
    reduced_hash = iroha_hash(_reduced_payload_bytes(payload_bytes))
    meta = None
    if payload.HasField("batch"):
        meta = BatchMeta(BatchType(payload.batch.type), tuple(_hex_hash(h) for h in payload.batch.reduced_hashes))
        meta.check_member(reduced_hash)
    return IrohaTransaction(TxPayload(IROHA_CHAIN, creator, reduced.created_time, reduced.quorum, commands, meta),
                            payload_bytes, tuple(pairs), iroha_hash(payload_bytes), tuple(kinds), reduced_hash)


def _reduced_payload_bytes(payload_bytes: bytes) -> bytes:
    """The reduced payload's own bytes inside the payload (field 1), as the client serialized them."""
    at = 0
    while at < len(payload_bytes):
        tag = payload_bytes[at]
        length, at = _varint(payload_bytes, at + 1)
        if tag & 0x07 != 2 or at + length > len(payload_bytes):
            raise StatelessError("bad_protobuf", "a payload holds its reduced payload and batch meta, nothing else")
        if tag == 0x0A:
            return payload_bytes[at:at + length]
        at += length
    return b""  # absent: an empty reduced payload (whose creator check has refused it already)


def _hex_hash(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise StatelessError("bad_batch", "a batch's reduced hashes are 64 hex digits each")
    return raw


def _split(message: bytes) -> tuple[bytes, list[bytes]]:
    """The payload field's own bytes and each signature's, read from the wire format: the hash is over
    the payload exactly as sent, and nothing but these two fields (one payload) is accepted."""
    payload: bytes | None = None
    signatures: list[bytes] = []
    at = 0
    while at < len(message):
        tag = message[at]
        length, at = _varint(message, at + 1)
        if at + length > len(message):
            raise StatelessError("bad_protobuf", "a field runs past the end of the transaction")
        value = message[at:at + length]
        at += length
        if tag == _PAYLOAD_FIELD and payload is None:
            payload = value
        elif tag == _SIGNATURE_FIELD:
            signatures.append(value)
        else:
            raise StatelessError("bad_protobuf", "a transaction holds one payload and its signatures, nothing else")
    if payload is None:
        raise StatelessError("bad_protobuf", "a transaction needs its payload")
    return payload, signatures


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 28:
            raise StatelessError("bad_protobuf", "a length prefix is cut short or too long")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _field(tag: int, value: bytes) -> bytes:
    length = len(value)
    prefix = bytearray()
    while True:
        if length < 0x80:
            prefix.append(length)
            break
        prefix.append((length & 0x7F) | 0x80)
        length >>= 7
    return bytes([tag]) + bytes(prefix) + value


def _signature_message(key: bytes, kind: KeyKind, signature: bytes) -> bytes:
    return primitive_pb2.Signature(public_key=IrohaPublicKey(kind, key).text,
                                                    signature=signature.hex()).SerializeToString()


def _protobuf_of(envelope: bytes) -> bytes:
    fields = codec.decode_trusted(envelope)
    message: bytes = fields[2]
    return message
