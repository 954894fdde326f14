"""The payment fast path of ``decode_transaction`` accepts only what the general decoder accepts, and
builds the same transaction; everything else gets the general decoder's exact error.

Inputs: well-formed payments, payments with one field replaced by a hostile value (wrong type, bool
for int, out of range, bad id, non-ASCII chain id), other commands, non-canonical re-encodings and
random byte flips of a good encoding.
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from node.ledger import commands as c
from node.ledger.errors import StatelessError
from node.ledger.transactions import (
    TX_TAG,
    VERSION,
    Transaction,
    TxPayload,
    _decode_payment,
    build_transaction,
    decode_general,
    decode_transaction,
)
from tests.ledger_world import CHAIN, key

SIGNER = key("alice@aclb")
accounts = st.sampled_from(["alice@aclb", "bob@wing", "c12345@abaa", "Bad@aclb", "no_domain", "x@" + "d" * 70])
assets = st.sampled_from(["khr#nbc", "usd#nbc", "KHR#nbc", "khr"])
amounts = st.sampled_from(["1", "12.34", "0.01", "0", "0.00", "-1", "1e5", "1.", " 1", "100000000000000.5"])
hostile = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=5) | st.binary(max_size=70)


def outcome(fn: Any, data: bytes) -> Any:
    try:
        tx = fn(data)
    except StatelessError as exc:
        return ("error", exc.code, exc.message)
    return ("ok", tx, tx.hash, tx.signatures, tx.encode())


def check_same(data: bytes) -> None:
    general = outcome(decode_general, data)
    fast = _decode_payment(data)
    if fast is not None:
        assert general[0] == "ok", f"fast path accepted what the general one refuses: {general}"
        assert isinstance(fast, Transaction)
        assert (fast, fast.hash, fast.signatures, fast.encode()) == general[1:]
        assert [type(cmd) for cmd in fast.payload.commands] == [type(cmd) for cmd in general[1].payload.commands]
    assert outcome(decode_transaction, data) == general


def payment(src: str, dest: str, asset: str, amount: str, description: str = "", creator: str = "alice@aclb",
            n: int = 1) -> bytes:
    payload = TxPayload(CHAIN, creator, 1_700_000_000_000, 1,
                        tuple(c.TransferAsset(src, dest, asset, description, amount) for _ in range(n)))
    return build_transaction(payload, SIGNER).encode()


def raw_tx(payload_fields: list[Any], sigs: Any = None, outer: list[Any] | None = None) -> bytes:
    payload_bytes = msgpack.packb(payload_fields, use_bin_type=True)
    sigs = [[SIGNER.public_key, b"\x01" * 64]] if sigs is None else sigs
    return msgpack.packb(outer if outer is not None else [TX_TAG, VERSION, payload_bytes, sigs], use_bin_type=True)


def good_fields() -> list[Any]:
    return [2, 1, CHAIN, "alice@aclb", 1_700_000_000_000, 1, [[6, "alice@aclb", "bob@wing", "khr#nbc", "", "1.00"]]]


def test_a_plain_payment_takes_the_fast_path_and_matches() -> None:
    data = payment("alice@aclb", "bob@wing", "khr#nbc", "12.34")
    assert _decode_payment(data) is not None
    check_same(data)


def test_other_commands_take_the_general_path() -> None:
    payload = TxPayload(CHAIN, "alice@aclb", 1_700_000_000_000, 1, (c.AddAssetQuantity("khr#nbc", "5.00"),))
    data = build_transaction(payload, SIGNER).encode()
    assert _decode_payment(data) is None
    check_same(data)


@given(accounts, accounts, assets, amounts, st.sampled_from(["", "rent", "x" * 257]), accounts,
       st.integers(1, 3))
def test_payments_with_good_and_bad_fields(src: str, dest: str, asset: str, amount: str, description: str,
                                           creator: str, n: int) -> None:
    check_same(payment(src, dest, asset, amount, description, creator, n))


@given(st.integers(0, 6), hostile)
def test_a_payload_field_replaced_by_a_hostile_value(index: int, value: Any) -> None:
    fields = good_fields()
    fields[index] = value
    check_same(raw_tx(fields))


@given(st.integers(0, 5), hostile)
def test_a_command_field_replaced_by_a_hostile_value(index: int, value: Any) -> None:
    fields = good_fields()
    fields[6][0][index] = value
    check_same(raw_tx(fields))


MD5 = "0123456789abcdef" * 2


def khqr_fields() -> list[Any]:
    """A KHQR payment (``TransferWithReference``, tag 21): a transfer's fields, the QR's md5, a reference."""
    return [2, 1, CHAIN, "alice@aclb", 1_700_000_000_000, 1,
            [[21, "alice@aclb", "bob@wing", "khr#nbc", "", "1500", MD5, "INV-7"]]]


def test_a_khqr_payment_takes_the_fast_path_and_matches() -> None:
    payload = TxPayload(CHAIN, "alice@aclb", 1_700_000_000_000, 1,
                        (c.TransferWithReference("alice@aclb", "bob@wing", "khr#nbc", "", "1500", MD5, "INV-7"),
                         c.TransferAsset("alice@aclb", "bob@wing", "usd#nbc", "tip", "1.00")))
    data = build_transaction(payload, SIGNER).encode()
    fast = _decode_payment(data)
    assert fast is not None
    assert [type(cmd) for cmd in fast.payload.commands] == [c.TransferWithReference, c.TransferAsset]
    check_same(data)


md5s = st.sampled_from(["", MD5, MD5.upper(), MD5[:31], MD5 + "0", "g" * 32, " " * 32])
references = st.sampled_from(["", "INV-1", "x" * 64, "x" * 200, "tab\there", "riel\u17db", " "])


@given(st.integers(0, 7), hostile)
def test_a_khqr_command_field_replaced_by_a_hostile_value(index: int, value: Any) -> None:
    fields = khqr_fields()
    fields[6][0][index] = value
    check_same(raw_tx(fields))


@given(md5s, references, st.sampled_from([6, 7, 8, 9]))
def test_khqr_md5_reference_and_field_count(md5: str, reference: str, width: int) -> None:
    fields = khqr_fields()
    command = fields[6][0][:6] + [md5, reference]
    fields[6][0] = (command + ["extra"])[:width]
    check_same(raw_tx(fields))


@given(st.integers(0, 3), hostile)
def test_an_envelope_field_replaced_by_a_hostile_value(index: int, value: Any) -> None:
    payload_bytes = msgpack.packb(good_fields(), use_bin_type=True)
    outer: list[Any] = [TX_TAG, VERSION, payload_bytes, [[SIGNER.public_key, b"\x01" * 64]]]
    outer[index] = value
    check_same(raw_tx([], outer=outer))


@given(st.lists(st.lists(st.binary(min_size=0, max_size=70), min_size=0, max_size=3), max_size=3))
def test_odd_signature_lists(sigs: list[list[bytes]]) -> None:
    check_same(raw_tx(good_fields(), sigs=sigs))


def test_non_canonical_encodings_are_refused_by_both() -> None:
    fields = good_fields()
    payload = bytearray(b"\x97")  # fixarray of 7
    for v in fields[:5]:
        payload += msgpack.packb(v, use_bin_type=True)
    payload += b"\xcc\x01"  # quorum 1 as uint8, where the one-byte fixint is the canonical form
    payload += msgpack.packb(fields[6], use_bin_type=True)
    assert msgpack.unpackb(bytes(payload)) == fields
    data = msgpack.packb([TX_TAG, VERSION, bytes(payload), [[SIGNER.public_key, b"\x01" * 64]]], use_bin_type=True)
    assert _decode_payment(data) is None
    check_same(data)
    good = payment("alice@aclb", "bob@wing", "khr#nbc", "1.00")
    bad = good[:1] + b"\xcc\x01" + good[2:]  # the envelope's tag as uint8
    assert msgpack.unpackb(bad) == msgpack.unpackb(good)
    assert _decode_payment(bad) is None
    check_same(bad)


@given(st.data())
def test_random_byte_flips_of_a_payment(data: st.DataObject) -> None:
    good = bytearray(payment("alice@aclb", "bob@wing", "usd#nbc", "7.25", "lunch"))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(good) - 1))
        good[i] = data.draw(st.integers(0, 255))
    check_same(bytes(good))


def test_a_batch_member_takes_the_general_path_and_keeps_its_meta() -> None:
    from node.ledger.batches import build_batch
    payloads = [TxPayload(CHAIN, "alice@aclb", 1_700_000_000_000 + i, 1,
                          (c.TransferAsset("alice@aclb", "bob@wing", "khr#nbc", "", "1.00"),)) for i in range(2)]
    data = build_transaction(build_batch(payloads)[0], SIGNER).encode()
    assert _decode_payment(data) is None
    check_same(data)
    assert decode_transaction(data).payload.batch is not None
