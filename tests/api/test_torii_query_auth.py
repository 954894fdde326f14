"""Who asks a Torii query (node.api.torii.query_auth): the wire form read as received, Iroha's window,
counter and signature rules, each refusal STATELESS_INVALID with code 0."""

from __future__ import annotations

import hashlib

import pytest

from node.api.torii.iroha_answers import Refusal
from node.api.torii.query_auth import (
    MAX_FUTURE_MS,
    MAX_PAST_MS,
    MAX_QUERY_BYTES,
    parse_blocks_query,
    parse_query,
    split_signed,
)
from node.ledger.iroha_crypto import legacy_public_key, legacy_sign, standard_public_key, standard_sign
from node.ledger.iroha_proto import qry_responses_pb2, queries_pb2

SEED = bytes(range(32))
NOW = 1_800_000_000_000


def signed_query(created_ms: int = NOW, counter: int = 1, legacy: bool = False, creator: str = "alice@aclb") -> bytes:
    q = queries_pb2.Query()
    q.payload.meta.creator_account_id = creator
    q.payload.meta.created_time = created_ms
    q.payload.meta.query_counter = counter
    q.payload.get_account.account_id = creator
    raw = q.payload.SerializeToString()
    key = legacy_public_key(SEED) if legacy else standard_public_key(SEED)
    signature = legacy_sign(SEED, raw) if legacy else standard_sign(SEED, raw)
    q.signature.public_key, q.signature.signature = key.text, signature.hex()
    return q.SerializeToString()


def refused(message: bytes, now: int = NOW) -> str:
    with pytest.raises(Refusal) as caught:
        parse_query(message, now)
    assert caught.value.reason == qry_responses_pb2.ErrorResponse.STATELESS_INVALID
    assert caught.value.code == 0
    return caught.value.message


@pytest.mark.parametrize("legacy", [False, True])
def test_both_key_kinds_sign_the_payload_bytes_and_the_hash_is_over_them(legacy: bool) -> None:
    message = signed_query(legacy=legacy)
    part, payload, key = parse_query(message, NOW)
    raw = queries_pb2.Query.FromString(message).payload.SerializeToString()
    assert part.signed == raw and part.query_hash == hashlib.sha3_256(raw).hexdigest()
    assert key == (legacy_public_key(SEED) if legacy else standard_public_key(SEED)).raw
    assert payload.get_account.account_id == "alice@aclb"


def test_the_window_is_irohas_24_hours_back_and_5_minutes_ahead() -> None:
    assert (MAX_PAST_MS, MAX_FUTURE_MS) == (86_400_000, 300_000)  # Iroha's kMaxDelay and default future gap
    parse_query(signed_query(created_ms=NOW - MAX_PAST_MS), NOW)  # both edges are inside
    parse_query(signed_query(created_ms=NOW + MAX_FUTURE_MS), NOW)
    assert "too old" in refused(signed_query(created_ms=NOW - MAX_PAST_MS - 1))
    assert "sent from future" in refused(signed_query(created_ms=NOW + MAX_FUTURE_MS + 1))


def test_counter_creator_and_signature_are_checked() -> None:
    assert "Counter" in refused(signed_query(counter=0))
    parse_query(signed_query(counter=1), NOW)
    assert "creator_account_id" in refused(signed_query(creator="Alice"))
    message = bytearray(signed_query())
    at = message.index(b"alice@aclb", 20)  # GetAccount's account id, inside the signed payload
    message[at] = ord("b")  # blice@aclb: well formed, but the signature no longer covers the payload
    assert "Wrong signature" in refused(bytes(message))
    q = queries_pb2.Query.FromString(signed_query())
    q.signature.public_key = "ab" * 5
    assert "bad public key" in refused(q.SerializeToString())


def test_the_wire_form_is_one_payload_and_one_signature_and_nothing_else() -> None:
    q = queries_pb2.Query.FromString(signed_query())
    payload, signature = q.payload.SerializeToString(), q.signature.SerializeToString()

    def field(tag: int, value: bytes) -> bytes:
        return bytes([tag, len(value)]) + value if len(value) < 128 else bytes([tag, len(value) & 0x7F | 0x80,
                                                                                   len(value) >> 7]) + value
    assert split_signed(field(0x0A, payload) + field(0x12, signature)).signed == payload
    assert "Signatures cannot be empty" in refused(field(0x0A, payload))
    assert "no payload" in refused(field(0x12, signature))
    assert "nothing else" in refused(field(0x0A, payload) + field(0x12, signature) + field(0x12, signature))
    assert "nothing else" in refused(field(0x0A, payload) + field(0x12, signature) + field(0x1A, b"x"))
    assert "past the end" in refused(field(0x0A, payload)[:-1])
    assert "cut short" in refused(b"\x0a\x80")
    assert "past the end" in refused(b"\x0a" + b"\xff" * 9 + b"\x01")  # a 70-bit length
    assert MAX_QUERY_BYTES == 65_536
    assert "at most" in refused(field(0x0A, payload) + field(0x12, signature) + b"\x00" * MAX_QUERY_BYTES)
    padded = field(0x0A, payload) + field(0x12, signature)
    padded += b"\x1a" + bytes([0x80 | (MAX_QUERY_BYTES - len(padded) - 4) & 0x7F,
                                (MAX_QUERY_BYTES - len(padded) - 4) >> 7 & 0x7F | 0x80,
                                (MAX_QUERY_BYTES - len(padded) - 4) >> 14])
    padded += b"\x00" * (MAX_QUERY_BYTES - len(padded))
    assert len(padded) == MAX_QUERY_BYTES and "nothing else" in refused(padded)  # the limit itself is allowed
    assert "not an iroha.protocol.Query.Payload" in refused(field(0x0A, b"\xff") + field(0x12, signature))
    assert "not a Signature" in refused(field(0x0A, payload) + field(0x12, b"\xff"))


def test_a_blocks_query_signs_its_meta() -> None:
    q = queries_pb2.BlocksQuery()
    q.meta.creator_account_id, q.meta.created_time, q.meta.query_counter = "admin@nbc", NOW, 1
    q.signature.public_key = standard_public_key(SEED).text
    q.signature.signature = standard_sign(SEED, q.meta.SerializeToString()).hex()
    _part, meta, key = parse_blocks_query(q.SerializeToString(), NOW)
    assert meta.creator_account_id == "admin@nbc" and key == standard_public_key(SEED).raw
    q.meta.query_counter = 2
    with pytest.raises(Refusal, match="Wrong signature"):
        parse_blocks_query(q.SerializeToString(), NOW)
    q.meta.query_counter = 0
    q.signature.signature = standard_sign(SEED, q.meta.SerializeToString()).hex()
    with pytest.raises(Refusal, match="Counter"):
        parse_blocks_query(q.SerializeToString(), NOW)
    with pytest.raises(Refusal, match=r"not an iroha\.protocol\.QueryPayloadMeta"):
        parse_blocks_query(b"\x0a\x01\xff" + q.SerializeToString()[len(q.meta.SerializeToString()) + 2:], NOW)
