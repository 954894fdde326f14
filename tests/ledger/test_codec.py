"""The canonical codec: one value, one encoding; anything else is refused with a typed error.

Property tests over arbitrary allowed values, over transactions and blocks, and over broken inputs
(truncated, non-canonical, foreign msgpack types, random bytes).
"""

from __future__ import annotations

import struct
import threading
from typing import Any

import msgpack
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from consensus import codec
from consensus.codec import CodecError, NonCanonicalEncoding, TruncatedInput, UnexpectedShape
from consensus.crypto import Domain, signing_digest, verify
from node import packing as node_packing
from node.ledger import commands as c
from node.ledger.blocks import BlockHeader, decode_block, make_block, tx_root
from node.ledger.commands import COMMAND_TYPES, command_from_array
from node.ledger.errors import InvalidBlock, StatelessError
from node.ledger.permissions import GRANTABLE_PERMISSIONS, ROLE_PERMISSIONS
from node.ledger.transactions import TxPayload, build_transaction, decode_transaction
from tests.ledger_world import CHAIN, key

# ---- strategies ----

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
scalars = st.none() | st.booleans() | ints | st.text(max_size=300) | st.binary(max_size=300)
values = st.recursive(scalars, lambda children: st.lists(children, max_size=20), max_leaves=40)

names = st.from_regex(r"[a-z_0-9]{1,32}", fullmatch=True)
domains = st.sampled_from(["nbc", "aclb", "abaa", "wing", "bank.kh"])
accounts = st.builds(lambda n, d: f"{n}@{d}", names, domains)
assets = st.builds(lambda n, d: f"{n}#{d}", names, domains)
amounts = st.from_regex(r"[1-9][0-9]{0,15}(\.[0-9]{1,6})?", fullmatch=True)
public_keys = st.binary(min_size=32, max_size=32)
detail_keys = st.from_regex(r"[A-Za-z0-9_]{1,64}", fullmatch=True)

commands = st.one_of(
    st.builds(c.CreateDomain, domains, names),
    st.builds(c.CreateAccount, names, domains, public_keys),
    st.builds(c.CreateAsset, names, domains, st.integers(0, 18)),
    st.builds(c.AddAssetQuantity, assets, amounts),
    st.builds(c.SubtractAssetQuantity, assets, amounts),
    st.builds(c.TransferAsset, accounts, accounts, assets, st.text(max_size=40), amounts),
    st.builds(c.AddSignatory, accounts, public_keys),
    st.builds(c.RemoveSignatory, accounts, public_keys),
    st.builds(c.SetAccountQuorum, accounts, st.integers(1, 128)),
    st.builds(c.CreateRole, names, st.sets(st.sampled_from(sorted(ROLE_PERMISSIONS))).map(lambda s: tuple(sorted(s)))),
    st.builds(c.AppendRole, accounts, names),
    st.builds(c.DetachRole, accounts, names),
    st.builds(c.GrantPermission, accounts, st.sampled_from(sorted(GRANTABLE_PERMISSIONS))),
    st.builds(c.RevokePermission, accounts, st.sampled_from(sorted(GRANTABLE_PERMISSIONS))),
    st.builds(c.SetAccountDetail, accounts, detail_keys, st.text(max_size=100)),
    st.builds(c.CompareAndSetAccountDetail, accounts, detail_keys, st.text(max_size=100),
              st.none() | st.text(max_size=100)),
    st.builds(c.AddPeer, st.builds(lambda p: f"10.0.0.1:{p}", st.integers(1, 65535)), public_keys, names,
              st.booleans()),
    st.builds(c.RemovePeer, public_keys),
)
signers = st.lists(st.sampled_from([key(f"signer{i}") for i in range(4)]), max_size=3, unique_by=lambda k: k.seed)
payloads = st.builds(TxPayload, st.just(CHAIN), accounts, st.integers(0, 2**63 - 1), st.integers(1, 4),
                     st.lists(commands, min_size=1, max_size=4).map(tuple))
transactions = st.builds(lambda p, ks: build_transaction(p, *ks), payloads, signers)
headers = st.builds(BlockHeader, st.integers(0, 2**40), st.binary(min_size=32, max_size=32), st.integers(0, 2**50),
                    st.binary(max_size=32), st.just(b""), st.binary(min_size=32, max_size=32),
                    st.lists(st.binary(min_size=32, max_size=32), max_size=3).map(tuple))


@st.composite
def blocks(draw: st.DrawFn) -> Any:
    txs = tuple(draw(st.lists(transactions, max_size=3, unique_by=lambda t: t.hash)))
    header = draw(headers)
    return make_block(BlockHeader(header.height, header.prev_hash, header.created_ms, header.proposer,
                                  tx_root(txs), header.state_root, header.rejected), txs)


def as_lists(value: Any) -> Any:
    return [as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


# ---- round trips ----

@given(values)
def test_every_allowed_value_round_trips(value: Any) -> None:
    assert codec.decode(codec.encode(value)) == as_lists(value)


@given(values)
def test_the_node_packer_writes_exactly_what_packb_writes(value: Any) -> None:
    assert codec.pack is node_packing.pack  # tests/conftest.py installed it, as every entry point does
    assert codec.pack(value) == msgpack.packb(value, use_bin_type=True)


def test_the_node_packer_is_not_shared_between_threads() -> None:
    items = [[i, "x" * (i % 50), b"y" * (i % 70), [None, True, -i]] for i in range(3000)]
    expected = [msgpack.packb(v, use_bin_type=True) for v in items]
    results: dict[int, list[bytes]] = {}

    def work(n: int) -> None:
        results[n] = [codec.pack(v) for v in items]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[n] == expected for n in range(4))


@given(ints)
def test_integers_across_the_64_bit_range_round_trip(n: int) -> None:
    assert codec.decode(codec.encode(n)) == n


@pytest.mark.parametrize("n", [2**64, -(2**63) - 1, 10**30])
def test_integers_outside_the_64_bit_range_are_refused_by_encode(n: int) -> None:
    with pytest.raises(UnexpectedShape):
        codec.encode([1, n])


@pytest.mark.parametrize("value", [1.5, {"a": 1}, {1, 2}, bytearray(b"x"), [object()]])
def test_values_without_a_canonical_form_are_refused_by_encode(value: Any) -> None:
    with pytest.raises(UnexpectedShape):
        codec.encode(value)


@given(transactions)
def test_transactions_round_trip(tx: Any) -> None:
    assert decode_transaction(tx.encode()) == tx


@given(blocks())
def test_blocks_round_trip(block: Any) -> None:
    decoded = decode_block(block.encode())
    assert decoded == block
    assert decoded.hash == block.hash


# ---- hashes and signing digests ----

@given(payloads, signers)
def test_adding_signatures_does_not_change_the_tx_hash(payload: TxPayload, keys: list[Any]) -> None:
    unsigned = build_transaction(payload)
    signed = build_transaction(payload, *keys)
    assert signed.hash == unsigned.hash
    assert decode_transaction(signed.encode()).hash == unsigned.hash
    assert len(signed.signatures) == len(keys)


def test_every_signing_domain_gives_a_different_digest() -> None:
    digests = {signing_digest(d, CHAIN, b"same bytes") for d in Domain}
    assert len(digests) == len(Domain)


def test_the_chain_id_changes_the_signing_digest() -> None:
    assert signing_digest(Domain.TRANSACTION, "chain-a", b"m") != signing_digest(Domain.TRANSACTION, "chain-b", b"m")
    # the length prefix keeps chain id and message apart: ("ab", "c") is not ("a", "bc")
    assert signing_digest(Domain.TRANSACTION, "ab", b"c") != signing_digest(Domain.TRANSACTION, "a", b"bc")


def test_a_transaction_signature_does_not_verify_as_another_kind_or_on_another_chain() -> None:
    signer = key("signer0")
    sig = signer.sign_for(Domain.TRANSACTION, CHAIN, b"payload")
    assert verify(signer.public_key, signing_digest(Domain.TRANSACTION, CHAIN, b"payload"), sig)
    assert not verify(signer.public_key, signing_digest(Domain.PREVOTE, CHAIN, b"payload"), sig)
    assert not verify(signer.public_key, signing_digest(Domain.TRANSACTION, "other", b"payload"), sig)


# ---- broken input ----

@given(values)
def test_every_truncation_is_refused_as_truncated(value: Any) -> None:
    data = codec.encode(value)
    for end in range(len(data)):
        with pytest.raises(TruncatedInput):
            codec.decode(data[:end])


@given(values, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(value: Any, extra: bytes) -> None:
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(codec.encode(value) + extra)


def wider_int(n: int) -> bytes:
    """``n`` in the 64-bit msgpack form, whatever the smallest form is."""
    return b"\xcf" + struct.pack(">Q", n) if n >= 0 else b"\xd3" + struct.pack(">q", n)


@given(st.integers(-(2**31), 2**32 - 1))
def test_an_integer_in_a_wider_form_than_needed_is_refused(n: int) -> None:
    assert codec.decode(codec.encode(n)) == n
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(wider_int(n))
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(b"\x92" + wider_int(n) + b"\xc0")  # inside an array too


def test_a_positive_integer_in_a_signed_form_is_refused() -> None:
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(b"\xd0\x05")  # int8 5; canonical is fixint 0x05


@given(st.text(max_size=31))
def test_a_short_string_as_str8_is_refused(text: str) -> None:
    raw = text.encode()
    assume(len(raw) < 32)
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(b"\xd9" + bytes([len(raw)]) + raw)


@given(st.binary(max_size=255))
def test_short_bytes_as_bin16_are_refused(data: bytes) -> None:
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(b"\xc5" + struct.pack(">H", len(data)) + data)


@given(st.lists(st.integers(0, 127), max_size=15))
def test_a_short_array_as_array16_is_refused(items: list[int]) -> None:
    with pytest.raises(NonCanonicalEncoding):
        codec.decode(b"\xdc" + struct.pack(">H", len(items)) + bytes(items))


def test_bytes_written_as_a_string_are_a_different_value() -> None:
    # bin and str are distinct types: a str in place of bytes decodes as str, never silently as bytes
    assert codec.decode(b"\xa2ab") == "ab"
    assert codec.decode(b"\xc4\x02ab") == b"ab"


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb({"a": 1}),
        msgpack.packb([1, {}]),
        msgpack.packb({1: 2}, strict_types=False),
        msgpack.packb(1.5),
        msgpack.packb(1.5, use_single_float=True),
        msgpack.packb(msgpack.ExtType(5, b"abcd")),
        msgpack.packb([msgpack.ExtType(1, b"")]),
        msgpack.packb(msgpack.Timestamp(1, 0)),
    ],
    ids=["map", "nested map", "int-keyed map", "float64", "float32", "ext", "nested ext", "timestamp"],
)
def test_maps_floats_and_ext_types_are_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        codec.decode(data)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\xa1\xff", b"\x91" * 40 + b"\xc0"],
                         ids=["empty", "never-used byte", "invalid utf-8", "too deep"])
def test_malformed_input_is_refused_with_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        codec.decode(data)


def test_input_over_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(codec.InputTooLarge):
        codec.decode(codec.encode(b"x" * 100), max_bytes=50)


@given(st.binary(max_size=200))
def test_random_bytes_decode_canonically_or_raise_a_codec_error(data: bytes) -> None:
    try:
        value = codec.decode(data)
    except CodecError:
        return
    assert codec.encode(value) == data


# ---- broken transactions and blocks ----

@given(transactions)
def test_every_truncation_of_a_transaction_is_a_stateless_error(tx: Any) -> None:
    data = tx.encode()
    for end in range(len(data)):
        with pytest.raises(StatelessError) as info:
            decode_transaction(data[:end])
        assert info.value.code == "bad_encoding_truncated"


@given(transactions, st.data())
def test_a_mutated_transaction_is_refused_or_decodes_to_exactly_its_bytes(tx: Any, data: st.DataObject) -> None:
    raw = bytearray(tx.encode())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
    try:
        decoded = decode_transaction(bytes(raw))
    except StatelessError:
        return
    assert decoded.encode() == bytes(raw)


@given(st.binary(max_size=300))
def test_random_bytes_as_a_transaction_raise_only_stateless_errors(data: bytes) -> None:
    try:
        decode_transaction(data)
    except StatelessError:
        pass


@given(st.binary(max_size=300))
def test_random_bytes_as_a_block_raise_only_invalid_block(data: bytes) -> None:
    try:
        decode_block(data)
    except InvalidBlock:
        pass


@given(blocks())
def test_truncated_blocks_are_refused(block: Any) -> None:
    data = block.encode()
    # 64 cut points across the block plus the last byte (every cut point would be slow for big blocks)
    for end in [*range(0, len(data), max(1, len(data) // 64)), len(data) - 1]:
        with pytest.raises(InvalidBlock):
            decode_block(data[:end])


# Fields that are sometimes right, sometimes almost right: ids, permission lists with odd items, anything.
command_fields = values | names | accounts | assets | amounts | public_keys | st.lists(
    st.sampled_from(sorted(ROLE_PERMISSIONS | GRANTABLE_PERMISSIONS)) | values, max_size=3)


@given(st.sampled_from(sorted(COMMAND_TYPES)), st.lists(command_fields, max_size=6))
def test_a_command_with_arbitrary_fields_is_checked_or_refused_with_a_stateless_error(tag: int, fields: list[Any]) -> None:
    try:
        command = command_from_array([tag, *fields])
    except StatelessError:
        return
    assert command.to_array() == [tag, *as_lists(fields)]


@pytest.mark.parametrize(
    "array",
    [
        [10, "teller", [["can_transfer"]]],   # a permission that is not a string
        [10, "teller", [b"can_transfer"]],
        [13, "bob@aclb", ["can_transfer_my_assets"]],  # a grantable permission that is a list
        [14, "bob@aclb", b"can_transfer_my_assets"],
        [17, "host:\u00b2", b"k" * 32, "peer", False],  # a non-ASCII digit as the port
    ],
)
def test_command_fields_of_the_wrong_type_are_stateless_errors(array: list[Any]) -> None:
    with pytest.raises(StatelessError):
        command_from_array(array)
