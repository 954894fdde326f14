"""The Iroha transfer fast path (``node.ledger.iroha_fast``) accepts only what the protobuf-runtime
decoder accepts and builds an equal transaction (same payload, signatures, kinds, hashes); everything
else goes the general way and gets its exact outcome.

Inputs: transfers built with our generated protobuf classes (valid and hostile field values, both key
kinds, several commands and signatures, empty descriptions left out as proto3 does), other commands
and batches (never the fast path), hand-made wire variants (fields out of order, repeated, unknown,
non-minimal varints, bad UTF-8), random byte flips, cuts and insertions of good encodings, and a
transfer the official client built.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from node.ledger.errors import StatelessError
from node.ledger.iroha_fast import decode_common_transfer
from node.ledger.iroha_proto import commands_pb2, primitive_pb2, transaction_pb2
from node.ledger.iroha_tx import (
    IrohaTransaction,
    _split,
    decode_iroha_envelope,
    decode_iroha_general,
    decode_iroha_transaction,
    wrap_iroha,
)
from node.ledger.transactions import decode_transaction

KEY = bytes(range(32))
STANDARD = "ed0120" + KEY.hex()
LEGACY = KEY.hex()
SIG = bytes(range(64)).hex()

accounts = st.sampled_from(["alice@aclb", "bob@wing", "c12345@abaa", "Bad@aclb", "no_domain", "", "x@" + "d" * 70])
assets = st.sampled_from(["khr#nbc", "usd#nbc", "KHR#nbc", "khr", ""])
amounts = st.sampled_from(["1", "12.34", "0.01", "0", "-1", "1e5", "1.", " 1", "", "100000000000000.5"])
descriptions = st.sampled_from(["", "rent", "é" * 3, "x" * 70])
keys = st.sampled_from([STANDARD, LEGACY, STANDARD.upper(), "ed0120" + "ab" * 31, "zz" * 32, ""])
signature_texts = st.sampled_from([SIG, SIG.upper(), SIG[:-2], "", "g" * 128])


def transfer_tx(commands: list[tuple[str, str, str, str, str]], creator: str, created: int, quorum: int,
                signatures: list[tuple[str, str]]) -> bytes:
    tx = transaction_pb2.Transaction()
    reduced = tx.payload.reduced_payload
    reduced.creator_account_id = creator
    reduced.created_time = created
    reduced.quorum = quorum
    for src, dest, asset, description, amount in commands:
        reduced.commands.append(commands_pb2.Command(transfer_asset=commands_pb2.TransferAsset(
            src_account_id=src, dest_account_id=dest, asset_id=asset, description=description, amount=amount)))
    for public_key, signature in signatures:
        tx.signatures.append(primitive_pb2.Signature(public_key=public_key, signature=signature))
    return tx.SerializeToString()


GOOD = transfer_tx([("alice@aclb", "bob@aclb", "khr#nbc", "", "12.34")], "alice@aclb", 1_700_000_000_000, 1,
                   [(STANDARD, SIG)])


def general(message: bytes) -> Any:
    try:
        payload_bytes, signature_messages = _split(message)
        tx = decode_iroha_general(payload_bytes, signature_messages)
    except StatelessError as exc:
        return ("error", exc.code, exc.message)
    return ("ok", tx, tx.hash, tx.iroha_reduced_hash, tx.kinds, tx.signatures)


def outcome(message: bytes) -> Any:
    try:
        tx = decode_iroha_transaction(message)
    except StatelessError as exc:
        return ("error", exc.code, exc.message)
    return ("ok", tx, tx.hash, tx.iroha_reduced_hash, tx.kinds, tx.signatures)


def fast(message: bytes) -> dict[str, Any] | None:
    try:
        payload_bytes, signature_messages = _split(message)
    except StatelessError:
        return None
    return decode_common_transfer(payload_bytes, signature_messages)


def check_same(message: bytes) -> dict[str, Any] | None:
    """The fast path's verdict agrees with the general decoder's, and decode_iroha_transaction's
    outcome is the general one's exactly."""
    expected = general(message)
    got = fast(message)
    if got is not None:
        assert expected[0] == "ok", f"fast path accepted what the general decoder refuses: {expected}"
        tx = expected[1]
        assert got["payload"] == tx.payload and type(got["payload"]) is type(tx.payload)
        assert [type(cmd) for cmd in got["payload"].commands] == [type(cmd) for cmd in tx.payload.commands]
        assert got["signatures"] == tx.signatures and got["kinds"] == tx.kinds
        assert hashlib.sha3_256(got["reduced"]).digest() == tx.iroha_reduced_hash
    assert outcome(message) == expected
    return got


def test_a_plain_transfer_takes_the_fast_path_and_equals_the_general_decoding() -> None:
    got = check_same(GOOD)
    assert got is not None
    tx = decode_iroha_transaction(GOOD)
    assert isinstance(tx, IrohaTransaction)
    assert tx.payload.commands[0].amount == "12.34" and tx.payload.creator == "alice@aclb"
    assert tx.hash == hashlib.sha3_256(_split(GOOD)[0]).digest()


def test_the_envelope_fast_read_agrees_with_the_codec() -> None:
    unsigned = transfer_tx([("alice@aclb", "bob@aclb", "khr#nbc", "", "1")], "alice@aclb", 5, 1, [])
    short, long = wrap_iroha(unsigned), wrap_iroha(GOOD)
    assert short[3] == 0xC4 and long[3] == 0xC5  # msgpack bin8 and bin16
    for data, message in ((short, unsigned), (long, GOOD)):
        assert decode_transaction(data) == decode_iroha_transaction(message)
        assert decode_iroha_envelope(data).encode() == data
    # A non-canonical bin16 for a short message, and a length that does not match: the codec's errors.
    for bad in (b"\x93\x03\x01\xc5\x00" + bytes([len(unsigned)]) + unsigned, short[:-1], short + b"\x00",
                long[:-1], long + b"\x00", b"\x93\x03\x01\xc4", b"\x93\x03\x01\xc5\x01"):
        try:
            decode_transaction(bad)
        except StatelessError as exc:
            assert exc.code.startswith("bad_encoding") or exc.code == "bad_protobuf"
        else:
            raise AssertionError("a non-canonical envelope was accepted")


@given(st.lists(st.tuples(accounts, accounts, assets, descriptions, amounts), min_size=1, max_size=3), accounts,
       st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
       st.lists(st.tuples(keys, signature_texts), min_size=0, max_size=3))
def test_generated_transfers_agree(commands: list[tuple[str, str, str, str, str]], creator: str, created: int,
                                   quorum: int, signatures: list[tuple[str, str]]) -> None:
    check_same(transfer_tx(commands, creator, created, quorum, signatures))


@given(st.binary(min_size=1, max_size=4), st.integers(0, len(GOOD)), st.sampled_from(["flip", "insert", "cut"]))
def test_mutated_bytes_agree(junk: bytes, at: int, how: str) -> None:
    if how == "flip":
        data = bytearray(GOOD)
        for i, b in enumerate(junk):
            data[(at + i) % len(data)] ^= b or 1
        check_same(bytes(data))
    elif how == "insert":
        check_same(GOOD[:at] + junk + GOOD[at:])
    else:
        check_same(GOOD[:at] + GOOD[at + len(junk):])


def test_other_shapes_go_the_general_way() -> None:
    tx = transaction_pb2.Transaction()
    tx.payload.CopyFrom(transaction_pb2.Transaction.FromString(GOOD).payload)
    tx.payload.batch.type = 0
    tx.payload.batch.reduced_hashes.append("00" * 32)
    tx.signatures.append(primitive_pb2.Signature(public_key=STANDARD, signature=SIG))
    other = transaction_pb2.Transaction.FromString(GOOD)
    other.payload.reduced_payload.commands.append(commands_pb2.Command(
        add_asset_quantity=commands_pb2.AddAssetQuantity(asset_id="khr#nbc", amount="1")))
    payload = _split(GOOD)[0]
    reduced = transaction_pb2.Transaction.Payload.FromString(payload).reduced_payload
    command = _field(0x0A, reduced.commands[0].SerializeToString())
    creator = _field(0x12, reduced.creator_account_id.encode())
    times = b"\x18" + _varint(reduced.created_time) + b"\x20\x01"
    creator_first = _field(0x0A, creator + command + times)
    unknown_field = _field(0x0A, command + creator + times + b"\x28\x01")
    for message in (tx.SerializeToString(), other.SerializeToString(),
                    GOOD.replace(b"bob@aclb", b"bob@\xffclb"),  # bad UTF-8: the runtime's error
                    GOOD + b"\x12\x00",  # an empty Signature message
                    _with_payload(GOOD, payload + b"\x0a\x00"),  # a second reduced payload (merged by protobuf)
                    _with_payload(GOOD, creator_first), _with_payload(GOOD, unknown_field)):
        assert fast(message) is None, message
        check_same(message)


def test_a_non_minimal_varint_reads_as_the_runtime_reads_it() -> None:
    payload = _split(GOOD)[0]
    reduced = payload[2:]
    at = reduced.index(b"\x20\x01")  # quorum = 1, written in two bytes
    padded = reduced[:at] + b"\x20\x81\x00" + reduced[at + 2:]
    message = _with_payload(GOOD, _field(0x0A, padded))
    got = check_same(message)
    assert got is not None and got["payload"].quorum == 1


def test_a_transfer_built_by_the_official_client_takes_the_fast_path() -> None:
    from tests.ledger.test_iroha_tx import ALICE_SEED, official, transfer

    (message, iroha_hash), = official({"creator": "alice@aclb", "created": 1_700_000_000_000,
                                       "commands": [transfer()], "keys": [["std", ALICE_SEED.hex()]]})
    assert check_same(message) is not None
    assert decode_iroha_transaction(message).hash == iroha_hash


def _with_payload(message: bytes, payload: bytes) -> bytes:
    """``message`` with its payload field's content replaced (its signatures kept)."""
    old = _split(message)[0]
    return _field(0x0A, payload) + message[len(_field(0x0A, old)):]


def _field(key: int, value: bytes) -> bytes:
    return bytes([key]) + _varint(len(value)) + value


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
