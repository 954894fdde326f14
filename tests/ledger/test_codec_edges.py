"""The canonical codec at its edges, by example (the property tests in test_codec.py search the middle).

Every peer message, client transaction and signed record is decoded here first, and the error type
becomes the client's error code (``CodecError.code``), so each refusal is pinned by its type and words:
maps and ext types, floats at the top or inside, nesting past 32 levels, integers past 64 bits, input
that is not bytes, empty, one byte over its limit, cut short or followed by more.
"""

from __future__ import annotations

import array
from typing import Any

import msgpack
import pytest

from consensus import codec
from consensus.codec import CodecError, InputTooLarge, NonCanonicalEncoding, TruncatedInput, UnexpectedShape


def nest(levels: int, inner: Any = 1) -> Any:
    """``inner`` inside ``levels`` lists: nest(2) == [[1]], whose 1 sits at depth 2."""
    value = inner
    for _ in range(levels):
        value = [value]
    return value


def refusal(data: Any, **options: int) -> CodecError:
    with pytest.raises(CodecError) as refused:
        codec.decode(data, **options)
    return refused.value


def test_maps_and_ext_types_are_refused_as_shapes_by_name() -> None:
    error = refusal(msgpack.packb([1, {"a": 2}]))
    assert type(error) is UnexpectedShape and error.message == "maps are not allowed in canonical records"
    assert refusal(msgpack.packb([1, {1: 2}])).code == "malformed"  # msgpack itself refuses int keys first
    error = refusal(msgpack.packb([1, msgpack.ExtType(5, b"x")]))
    assert type(error) is UnexpectedShape and error.message == "msgpack ext type 5 is not allowed"
    assert str(error) == error.message and error.code == "unexpected_shape"


def test_a_float_is_refused_at_the_top_and_inside_both_ways() -> None:
    for value in (1.5, [1, 1.5], [[1.5]]):
        error = refusal(msgpack.packb(value))
        assert type(error) is UnexpectedShape and error.message == "type float cannot be encoded canonically"
        with pytest.raises(UnexpectedShape, match="type float cannot be encoded canonically"):
            codec.encode(value)
    with pytest.raises(UnexpectedShape, match="type dict cannot be encoded canonically"):
        codec.encode([{}])


def test_32_levels_of_nesting_are_the_most_either_way() -> None:
    for deepest in (nest(32), nest(32, [])):  # an int, or an empty list, at depth 32
        assert codec.decode(codec.encode(deepest)) == deepest
    for too_deep in (nest(33), nest(33, [1])):
        with pytest.raises(UnexpectedShape, match=r"^nesting deeper than 32 levels$"):
            codec.encode(too_deep)
        error = refusal(msgpack.packb(too_deep))
        assert type(error) is UnexpectedShape and error.message == "nesting deeper than 32 levels"


def test_integers_span_exactly_msgpacks_64_bits() -> None:
    for edge in (2**64 - 1, -(2**63), 0):
        assert codec.decode(codec.encode([edge])) == [edge]
    for outside in (2**64, -(2**63) - 1):
        with pytest.raises(UnexpectedShape, match="outside msgpack's 64-bit range"):
            codec.encode([outside])


def test_input_must_be_bytes_of_some_kind() -> None:
    data = codec.encode([1, "x"])
    assert codec.decode(bytearray(data)) == codec.decode(memoryview(data)) == [1, "x"]
    error = refusal("not bytes")
    assert type(error) is UnexpectedShape and error.message == "input must be bytes"


def test_a_memoryview_of_wider_items_is_malformed_not_a_crash() -> None:
    error = refusal(memoryview(array.array("I", [0x01020304])))  # msgpack raised BufferError through decode
    assert type(error) is CodecError and error.message == "undecodable input: BufferError"


def test_empty_input_is_truncated_as_such() -> None:
    error = refusal(b"")
    assert type(error) is TruncatedInput and error.message == "empty input" and error.code == "truncated"


def test_the_size_limit_is_inclusive_and_the_default_is_8_mib() -> None:
    data = codec.encode([1, 2, 3])
    assert codec.decode(data, max_bytes=len(data)) == [1, 2, 3]
    error = refusal(data, max_bytes=len(data) - 1)
    assert type(error) is InputTooLarge and error.message == f"input of {len(data)} bytes exceeds the limit of {len(data) - 1}"
    largest = codec.encode(b"x" * (8 * 1024 * 1024 - 5))  # bin32: a 5-byte header
    assert len(largest) == 8 * 1024 * 1024 and codec.decode(largest) == b"x" * (8 * 1024 * 1024 - 5)
    assert type(refusal(codec.encode(b"x" * (8 * 1024 * 1024 - 4)))) is InputTooLarge


def test_cut_short_followed_by_more_or_not_minimal_each_say_so() -> None:
    data = codec.encode([1, "two", b"three"])
    assert type(refusal(data[:-1])) is TruncatedInput
    assert type(refusal(data + b"\x00")) is NonCanonicalEncoding
    assert type(refusal(b"\xcd\x00\x01")) is NonCanonicalEncoding  # 1 as a uint16: legal msgpack, not ours


def test_undecodable_bytes_are_malformed_not_truncated() -> None:
    for data in (b"\xa2\xff\xfe", b"\xc1"):  # a str that is not UTF-8; msgpack's one reserved byte
        error = refusal(data)
        assert type(error) is CodecError and error.code == "malformed"
        assert error.message.startswith("undecodable input")


def test_nesting_past_msgpacks_own_stack_is_malformed_and_says_why() -> None:
    error = refusal(b"\x91" * 100_000 + b"\x01")  # 100,000 one-element arrays: msgpack's StackError
    assert type(error) is CodecError and error.message == "undecodable input: StackError"


def test_what_our_own_node_wrote_reads_back_without_the_checks() -> None:
    value = [1, "x", b"y", None, True, [2]]
    assert codec.decode_trusted(codec.encode_trusted(value)) == value


def test_a_field_reader_refuses_a_negative_integer_unless_told_otherwise() -> None:
    assert codec.expect_int(0, "height") == 0
    with pytest.raises(UnexpectedShape, match=r"^height: below 0$"):
        codec.expect_int(-1, "height")
    assert codec.expect_int(-1, "offset", minimum=None) == -1


# ---- the field readers every record decoder uses: each refusal names the field and the rule ----

def shape(read: Any, *args: Any, **options: Any) -> str:
    with pytest.raises(UnexpectedShape) as refused:
        read(*args, **options)
    return refused.value.message


def test_expect_list_checks_type_exact_length_and_an_inclusive_maximum() -> None:
    assert codec.expect_list([1, 2], "pair", length=2) == [1, 2]
    assert codec.expect_list([1, 2], "items", max_length=2) == [1, 2]
    assert shape(codec.expect_list, (1, 2), "pair") == "pair: expected an array"
    assert shape(codec.expect_list, [1], "pair", length=2) == "pair: expected 2 fields, got 1"
    assert shape(codec.expect_list, [1, 2, 3], "items", max_length=2) == "items: more than 2 items"


def test_expect_int_checks_type_and_both_inclusive_bounds() -> None:
    assert codec.expect_int(64, "count", 1, 64) == 64 and codec.expect_int(1, "count", 1, 64) == 1
    assert shape(codec.expect_int, "7", "count") == "count: expected an integer"
    assert shape(codec.expect_int, True, "count") == "count: expected an integer"  # msgpack's true is not 1
    assert shape(codec.expect_int, 65, "count", 1, 64) == "count: above 64"
    assert shape(codec.expect_int, 0, "count", 1, 64) == "count: below 1"


def test_expect_bytes_checks_type_exact_length_and_an_inclusive_maximum() -> None:
    assert codec.expect_bytes(b"ab", "hash", length=2) == b"ab"
    assert codec.expect_bytes(b"ab", "memo", max_length=2) == b"ab"
    assert shape(codec.expect_bytes, "ab", "hash") == "hash: expected bytes"
    assert shape(codec.expect_bytes, b"abc", "hash", length=2) == "hash: expected 2 bytes, got 3"
    assert shape(codec.expect_bytes, b"abc", "memo", max_length=2) == "memo: longer than 2 bytes"


def test_expect_str_checks_type_and_4096_characters_by_default() -> None:
    assert codec.expect_str("é" * 4096, "name") == "é" * 4096  # characters, not bytes
    assert shape(codec.expect_str, b"x", "name") == "name: expected a string"
    assert shape(codec.expect_str, "x" * 4097, "name") == "name: longer than 4096 characters"
    assert codec.expect_str("xy", "code", max_length=2) == "xy"
    assert shape(codec.expect_str, "xyz", "code", max_length=2) == "code: longer than 2 characters"


def test_expect_record_checks_tag_version_and_field_count_in_that_order() -> None:
    assert codec.expect_record([7, 1, "a", "b"], 7, 1, 2, "thing") == ["a", "b"]
    assert codec.expect_record([7, 1], 7, 1, 0, "thing") == []
    for value in ([], [7], ["7", 1], [True, 1]):
        assert shape(codec.expect_record, value, 7, 1, 0, "thing") == "thing: missing tag"
    with pytest.raises(codec.UnknownTag, match=r"^thing: tag 8 where 7 was expected$"):
        codec.expect_record([8, 1], 7, 1, 0, "thing")
    assert shape(codec.expect_record, [7, 2], 7, 1, 0, "thing") == "thing: unsupported version 2"
    assert shape(codec.expect_record, [7, True], 7, 1, 0, "thing") == "thing: unsupported version True"
    assert shape(codec.expect_record, [7, 1, "a"], 7, 1, 2, "thing") == "thing: expected 2 fields, got 1"
    assert shape(codec.expect_record, [7, 1, "a", "b", "c"], 7, 1, 2, "thing") == "thing: expected 2 fields, got 3"
