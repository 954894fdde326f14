"""Who asks: a signed Iroha ``Query`` or ``BlocksQuery`` read from its wire bytes and checked as Iroha does.

Both messages are ``{1: the signed part, 2: Signature}`` on the wire: a Query signs its ``payload``, a
BlocksQuery its ``meta`` (as the official client's ``IrohaCrypto.get_payload_to_be_signed`` does).
The signed part is read as the bytes received, never re-serialized, so the signature and the
query hash (``sha3_256`` of those bytes) are over what the client sent.

Checks, in Iroha's order and with its answers (``Refusal``):
- stateless (STATELESS_INVALID, code 0): the shape, the creator's id, the created time within Iroha's
  window (at most 24 hours old, at most 5 minutes ahead of this node's clock), the query counter
  above 0, and the signature under its key's kind (``node.ledger.iroha_crypto``: standard Ed25519 over
  the bytes, legacy Ed25519/SHA3 over their sha3_256);
- stateful (STATEFUL_INVALID, code 3 "invalid signatures"): the key is a signatory of the creator.

The counter: Iroha documents it as "incremented with every subsequent query", but its validators only
require it to be positive and the official client sends 1 unless told otherwise; so do we.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from node.api.torii.iroha_answers import Refusal, stateful, stateless
from node.ledger import ids
from node.ledger.chain import PublishedChain
from node.ledger.errors import StatelessError
from node.ledger.iroha_crypto import parse_iroha_public_key, parse_iroha_signature, verify_iroha_signature
from node.ledger.iroha_proto import primitive_pb2, queries_pb2
from node.ledger.records import get_account

MAX_QUERY_BYTES = 64 * 1024
"""A query is a few hundred bytes; GetTransactions with many hashes the most (66 bytes per hash)."""
MAX_PAST_MS = 24 * 60 * 60 * 1000
"""Iroha refuses a query created more than 24 hours before its clock."""
MAX_FUTURE_MS = 5 * 60 * 1000
"""... or more than 5 minutes after it."""
INVALID_SIGNATURES = 3

_SIGNED_FIELD = 0x0A  # field 1, length-delimited: Query.payload / BlocksQuery.meta
_SIGNATURE_FIELD = 0x12  # field 2, length-delimited: the Signature


@dataclass(frozen=True)
class SignedPart:
    """The part of a query its signature covers, as received, and the signature's parts."""

    signed: bytes
    public_key: str
    signature: str

    @property
    def query_hash(self) -> str:
        """Iroha's query hash: hex sha3_256 of the signed bytes."""
        return hashlib.sha3_256(self.signed).hexdigest()


def split_signed(message: bytes) -> SignedPart:
    """``{1: signed part, 2: Signature}`` as received; a Refusal (stateless) if it is anything else."""
    if len(message) > MAX_QUERY_BYTES:
        raise stateless(f"a query is at most {MAX_QUERY_BYTES} bytes")
    signed: bytes | None = None
    signature: bytes | None = None
    at = 0
    while at < len(message):
        tag = message[at]
        length, at = _varint(message, at + 1)
        if at + length > len(message):
            raise stateless("a field runs past the end of the query")
        value, at = message[at:at + length], at + length
        if tag == _SIGNED_FIELD and signed is None:
            signed = value
        elif tag == _SIGNATURE_FIELD and signature is None:
            signature = value
        else:
            raise stateless("a query holds its payload and one signature, nothing else")
    if signed is None:
        raise stateless("the query has no payload")
    if signature is None:
        raise stateless("Signatures cannot be empty")
    try:
        parsed = primitive_pb2.Signature.FromString(signature)
    except (DecodeError, RecursionError):
        raise stateless("the query's signature is not a Signature message") from None
    return SignedPart(signed, parsed.public_key, parsed.signature)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):  # a longer prefix than the data allows is refused as running past the end
            raise stateless("a length prefix is cut short")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def check_meta(meta: queries_pb2.QueryPayloadMeta, now_ms: int) -> None:
    """Iroha's stateless checks of a query's meta."""
    try:
        ids.check_account_id(meta.creator_account_id)
    except StatelessError as exc:
        raise stateless(f"creator_account_id: {exc.message}") from None
    if meta.created_time > now_ms + MAX_FUTURE_MS:
        raise stateless(f"bad timestamp: sent from future, timestamp: {meta.created_time}, now: {now_ms}")
    if now_ms > meta.created_time + MAX_PAST_MS:
        raise stateless(f"bad timestamp: too old, timestamp: {meta.created_time}, now: {now_ms}")
    if meta.query_counter <= 0:
        raise stateless(f"Counter should be > 0, passed value: {meta.query_counter}")


def check_signature(part: SignedPart) -> bytes:
    """The signer's 32-byte key, once its signature over the signed bytes verifies (stateless)."""
    try:
        key = parse_iroha_public_key(part.public_key)
        signature = parse_iroha_signature(part.signature)
    except StatelessError as exc:
        raise stateless(exc.message) from None
    if not verify_iroha_signature(key, part.signed, signature):
        raise stateless(f"Wrong signature [{part.signature};{part.public_key}]")
    return key.raw


def check_signatory(chain: PublishedChain, creator: str, key: bytes) -> None:
    """The signer must be one of the creator's signatories (Iroha: stateful, code 3)."""
    account = get_account(chain.world, creator)
    if account is None or key not in account.signatories:
        raise stateful(INVALID_SIGNATURES, "query signatories did not pass validation: the key is not a "
                       f"signatory of {creator}")


def parse_query(message: bytes, now_ms: int) -> tuple[SignedPart, queries_pb2.Query.Payload, bytes]:
    """A Query's signed payload, parsed and checked statelessly: (part, payload, signer key)."""
    part = split_signed(message)
    try:
        payload = queries_pb2.Query.Payload.FromString(part.signed)
    except (DecodeError, RecursionError):
        raise stateless("the payload is not an iroha.protocol.Query.Payload") from None
    check_meta(payload.meta, now_ms)
    return part, payload, check_signature(part)


def parse_blocks_query(message: bytes, now_ms: int) -> tuple[SignedPart, queries_pb2.QueryPayloadMeta, bytes]:
    """A BlocksQuery's signed meta, parsed and checked statelessly: (part, meta, signer key)."""
    part = split_signed(message)
    try:
        meta = queries_pb2.QueryPayloadMeta.FromString(part.signed)
    except (DecodeError, RecursionError):
        raise stateless("the meta is not an iroha.protocol.QueryPayloadMeta") from None
    check_meta(meta, now_ms)
    return part, meta, check_signature(part)


__all__ = ["Refusal", "SignedPart", "check_signatory", "parse_blocks_query", "parse_query", "split_signed"]
