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

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.ledger import iroha_tx
from node.ledger.errors import StatelessError
from node.ledger.iroha_crypto import KeyKind
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
from node.ledger.transactions import MAX_TX_BYTES, decode_transaction

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
    message = transfer_tx(commands, creator, created, quorum, signatures)
    got = check_same(message)
    # Every transfer the general decoder takes goes the fast way, but for what a serializer leaves out
    # (created_time 0) and an upper-case multihash prefix (rare; the general way reads it).
    common = (general(message)[0] == "ok" and created > 0 and all(k != STANDARD.upper() for k, _s in signatures))
    assert (got is not None) == common


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


def test_the_common_shapes_never_reach_the_protobuf_runtime_or_the_codec(monkeypatch) -> None:
    """What banks send (either key kind, several signatures, a description, several commands; bin8 and
    bin16 envelopes) is read by the fast paths alone."""
    two_kinds = transfer_tx([("alice@aclb", "bob@aclb", "khr#nbc", "rent", "1.5")] * 3, "alice@aclb", 7, 2,
                            [(STANDARD, SIG), (LEGACY, SIG.upper())])
    legacy = transfer_tx([("alice@aclb", "bob@aclb", "usd#nbc", "", "0.01")], "alice@aclb", 2**63 - 1, 128,
                         [(LEGACY, SIG)])
    expected = {message: general(message)[1] for message in (GOOD, two_kinds, legacy)}

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the general way was taken")

    monkeypatch.setattr(iroha_tx, "decode_iroha_general", refuse)
    monkeypatch.setattr(iroha_tx.codec, "decode", refuse)
    for message, tx in expected.items():
        assert decode_iroha_transaction(message) == tx
        assert decode_transaction(wrap_iroha(message)) == tx
    assert expected[two_kinds].kinds == (KeyKind.STANDARD, KeyKind.LEGACY)
    assert expected[legacy].payload.quorum == 128 and expected[legacy].payload.created_ms == 2**63 - 1


@pytest.mark.parametrize(("change", "common"), [
    ({"created": 2**63}, False), ({"created": 2**63 - 1}, True), ({"created": 1}, True), ({"created": 0}, False),
    ({"quorum": 128}, True), ({"quorum": 129}, False), ({"quorum": 0}, False),
    ({"creator": "Bad@aclb"}, False), ({"creator": "bob@wing"}, True),
    ({"key": "ab" * 32}, True), ({"key": "ab" * 31 + "a"}, False), ({"key": "ab" * 33}, False),
    ({"key": "ed0120" + "ab" * 32}, True), ({"key": "ed0120" + "ab" * 31 + "a"}, False),
    ({"key": "ed0120" + "ab" * 32 + "a"}, False), ({"key": "ed0121" + "ab" * 32}, False),
    ({"key": "ab" * 31 + "zz"}, False), ({"key": "ed0120" + "ab" * 31 + "zz"}, False),
    ({"signature": "ab" * 64}, True), ({"signature": "ab" * 63 + "a"}, False), ({"signature": "ab" * 65}, False),
    ({"signature": "ab" * 63 + "zz"}, False),
    ({"amount": ""}, False), ({"asset": ""}, False), ({"src": ""}, False), ({"dest": ""}, False),
    ({"description": "x"}, True),
])
def test_the_edges_of_the_common_shape(change: dict[str, Any], common: bool) -> None:
    fields: dict[str, Any] = {"created": 5, "quorum": 1, "creator": "alice@aclb", "key": STANDARD, "signature": SIG,
                              "src": "alice@aclb", "dest": "bob@aclb", "asset": "khr#nbc", "description": "",
                              "amount": "1"} | change
    message = transfer_tx([(fields["src"], fields["dest"], fields["asset"], fields["description"], fields["amount"])],
                          fields["creator"], fields["created"], fields["quorum"], [(fields["key"], fields["signature"])])
    assert (check_same(message) is not None) is common
    if common:
        tx = decode_iroha_transaction(message)
        kind = KeyKind.LEGACY if len(fields["key"]) == 64 else KeyKind.STANDARD
        assert tx.kinds == (kind,) and tx.signatures[0][1] == bytes.fromhex(fields["signature"])
        assert tx.signatures[0][0] == bytes.fromhex(fields["key"][-64:])


def test_a_message_over_the_size_limit_is_too_large_and_one_at_it_is_read() -> None:
    for size, code in ((MAX_TX_BYTES + 1, "tx_too_large"), (MAX_TX_BYTES, "bad_protobuf")):
        message = _field(0x0A, bytes(size - 4))  # a payload of zeros: a 3-byte length prefix
        assert len(message) == size
        with pytest.raises(StatelessError) as caught:
            decode_iroha_transaction(message)
        assert caught.value.code == code, caught.value


@pytest.mark.parametrize(("data", "message"), [
    (b"\x93\x03\x01\xc4\x02ab", b"ab"),
    (b"\x93\x03\x01\xc4\x00", b""),
    (b"\x93\x03\x01\xc5\x01\x00" + bytes(256), bytes(256)),
    (b"\x93\x03\x01\xc5\x00\xff" + bytes(255), None),  # bin16 for what bin8 holds: not canonical
    (b"\x93\x03\x01\xc4\x03ab", None), (b"\x93\x03\x01\xc4\x01ab", None),
    (b"\x93\x03\x01\xc5\x01\x00" + bytes(255), None), (b"\x93\x03\x01\xc5\x01\x00" + bytes(257), None),
    (b"\x93\x03\x01\xc4", None), (b"\x93\x03\x01\xc5\x01", None), (b"\x93\x03\x01\xc5", None),
    (b"\x93\x03\x02\xc4\x02ab", None), (b"\x93\x03\x01\xc6\x00\x00\x00\x02ab", None),
    (b"\x94\x03\x01\xc4\x02ab", None), (b"\x93\x03\x02\xc5\x01\x00" + bytes(256), None),
])
def test_the_envelope_header_read_without_the_codec(data: bytes, message: bytes | None) -> None:
    assert iroha_tx._envelope_message(data) == message


TRANSFER = _field(0x0A, b"alice@aclb") + _field(0x12, b"bob@aclb") + _field(0x1A, b"khr#nbc") + _field(0x2A, b"1")


def _reduced_fields(creator: bytes = b"alice@aclb", tail: bytes = b"\x18\x05\x20\x01", commands: int = 1,
                    command: bytes | None = None) -> bytes:
    """A payload (field 1 around a reduced payload) written by hand: ``commands`` transfers (or copies of
    ``command``, a Command's bytes), the creator, then ``tail`` (created_time 5 and quorum 1 by default)."""
    if command is None:
        command = b"\x82\x01" + _varint(len(TRANSFER)) + TRANSFER
    return _field(0x0A, _field(0x0A, command) * commands + _field(0x12, creator) + tail)


@pytest.mark.parametrize(("payload", "common"), [
    (_reduced_fields(), True),
    (_reduced_fields(commands=256), True),
    (_reduced_fields(commands=257), False),  # too_many_commands
    (_reduced_fields(commands=0), False),  # no_commands
    (_reduced_fields(tail=b"\x28\x05\x20\x01"), False),  # an unknown field where created_time goes
    (_reduced_fields(tail=b"\x18\x05\x28\x01"), False),  # an unknown field where quorum goes
    (_reduced_fields(tail=b"\x18\x05\x20\x00"), False),  # quorum 0, written out: bad_quorum
    (_reduced_fields(tail=b"\x18\x05\x20\x01\x28\x01"), False),  # a field after quorum
    (b"\x2a" + _reduced_fields()[1:], False),  # the reduced payload's bytes as field 5 (the batch's)
    (b"\x0a" + _varint(len(_reduced_fields()) - 1) + _reduced_fields()[2:-1], False),  # cut short
    (_reduced_fields(command=b"\x9a\x01" + _varint(len(TRANSFER)) + TRANSFER), False),  # set_setting_value (19)
    (_reduced_fields(command=b"\xa2\x01" + _varint(len(TRANSFER)) + TRANSFER), False),  # call_engine (20)
    # transfer_asset's length one short: the runtime reads the rest as more Command fields (cut short here)
    (_reduced_fields(command=b"\x82\x01" + _varint(len(TRANSFER) - 1) + TRANSFER), False),
    (_reduced_fields(command=b"\x82\x01" + _varint(len(TRANSFER) + 2) + TRANSFER + b"\x30\x01"), False),  # field 6
    (_reduced_fields(command=b"\x82\x01" + _varint(len(TRANSFER)) + TRANSFER[12:22] + TRANSFER[:12] + TRANSFER[22:]),
     False),  # dest before src: the same transfer to protobuf, not the serializers' order
    (_reduced_fields(command=b"\x82\x01" + _varint(len(TRANSFER) + 12) + TRANSFER[:31] + b"\x22" + b"\x80" * 10
                     + b"\x00" + TRANSFER[31:]), False),  # a description length in 11 bytes: malformed
    (_reduced_fields(tail=b"\x18\x85" + b"\x80" * 8 + b"\x00\x20\x01"), True),  # created_time 5 in 10 bytes
])
def test_hand_written_payloads_take_the_fast_path_only_when_common(payload: bytes, common: bool) -> None:
    message = _field(0x0A, payload) + _field(0x12, _field(0x0A, STANDARD.encode()) + _field(0x12, SIG.encode()))
    assert (check_same(message) is not None) is common


def test_signature_counts_up_to_the_limit_are_common_and_beyond_it_general() -> None:
    signature = _field(0x12, _field(0x0A, STANDARD.encode()) + _field(0x12, SIG.encode()))
    for count, common in ((0, True), (128, True), (129, False)):
        message = _field(0x0A, _reduced_fields()) + signature * count
        assert (check_same(message) is not None) is common
