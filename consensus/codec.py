"""The canonical codec: one encoding for the wire, the disk and signing.

Rules every record follows (ARCHITECTURE.md section 3):
- a record is a msgpack *array* ``[tag, version, field, ...]`` in a fixed field order;
- allowed values are int, str, bytes (as msgpack bin), bool, None and arrays of them;
  never floats, never maps, never msgpack ext types;
- decoding re-encodes the value and rejects input whose bytes differ, so one value has exactly
  one encoding and a signature or hash over the bytes is a signature over the value.

It lives in ``consensus`` because that is the lowest layer both the engine and the node may import;
``storage`` treats values as opaque bytes and never needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NoReturn

import msgpack

# Hard cap on what a single decode accepts; callers pass tighter limits where they know better.
DEFAULT_MAX_BYTES: Final = 8 * 1024 * 1024


def pack(value: Any) -> bytes:
    """``msgpack.packb(value, use_bin_type=True)``, unless the embedding program installed a faster
    equivalent with ``use_packer`` (the node reuses a Packer per thread: packb builds a Packer per
    call, half its cost). This layer knows no threads, so it cannot keep one itself."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)  # msgpack is untyped: say what it returns
    return packed


def use_packer(packer: Callable[[Any], bytes]) -> None:
    """Make ``pack`` (and every encode and canonical check here) call ``packer``, which must return
    exactly ``msgpack.packb(value, use_bin_type=True)``. Rebinds the name: no extra call per pack."""
    global pack
    pack = packer  # type: ignore[assignment]


class CodecError(ValueError):
    """Input that is not a canonical encoding of a record we understand (a peer's or client's fault)."""

    code = "malformed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TruncatedInput(CodecError):
    code = "truncated"


class NonCanonicalEncoding(CodecError):
    code = "non_canonical"


class UnexpectedShape(CodecError):
    code = "unexpected_shape"


class UnknownTag(CodecError):
    code = "unknown_tag"


class InputTooLarge(CodecError):
    code = "too_large"


def _reject_map(_pairs: Any) -> NoReturn:
    raise UnexpectedShape("maps are not allowed in canonical records")


def _reject_ext(code: int, _data: bytes) -> NoReturn:
    raise UnexpectedShape(f"msgpack ext type {code} is not allowed")


_MIN_INT: Final = -(2**63)
_MAX_INT: Final = 2**64 - 1


def _check_value(value: Any, depth: int = 0) -> None:
    """Refuse types that have no canonical encoding (floats, maps, ...) before encoding."""
    if depth > 32:
        raise UnexpectedShape("nesting deeper than 32 levels")
    t = type(value)
    if t is int:
        if not _MIN_INT <= value <= _MAX_INT:
            raise UnexpectedShape(f"integer {value} is outside msgpack's 64-bit range")
        return
    if t is bytes or t is str or t is bool or value is None:
        return
    if t is list or t is tuple:
        for item in value:
            _check_value(item, depth + 1)
        return
    raise UnexpectedShape(f"type {t.__name__} cannot be encoded canonically")


_SCALARS: Final = frozenset({int, str, bytes, bool, type(None)})


def _check_decoded(value: Any) -> None:
    """``_check_value`` for what msgpack just decoded, on the hot path of every transaction and
    message: ints are in range by construction, so only the types (floats, timestamps) and the
    nesting depth are checked, iteratively and with no call per scalar."""
    t = type(value)
    if t is not list:
        if t not in _SCALARS:
            raise UnexpectedShape(f"type {t.__name__} cannot be encoded canonically")
        return
    level = [value]  # the lists at one depth, breadth first
    for _depth in range(32):
        nested: list[Any] = []
        for items in level:
            for item in items:
                t = type(item)
                if t is list:
                    nested.append(item)
                elif t not in _SCALARS:
                    raise UnexpectedShape(f"type {t.__name__} cannot be encoded canonically")
        if not nested:
            return
        level = nested
    if any(level):  # a non-empty list at depth 32 holds values at depth 33
        raise UnexpectedShape("nesting deeper than 32 levels")


def encode(value: Any) -> bytes:
    """Encode a value (nested lists of int/str/bytes/bool/None) to its one canonical byte string."""
    _check_value(value)
    return pack(value)


def encode_trusted(value: Any) -> bytes:
    """Encode a value built by our own code (no type walk): the hot path for state and blocks."""
    return pack(value)


def decode(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Decode untrusted bytes, accepting only the canonical encoding of an allowed value."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UnexpectedShape("input must be bytes")
    if len(data) > max_bytes:
        raise InputTooLarge(f"input of {len(data)} bytes exceeds the limit of {max_bytes}")
    if len(data) == 0:
        raise TruncatedInput("empty input")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_pairs_hook=_reject_map,
            ext_hook=_reject_ext,
        )
    except CodecError:
        raise
    except msgpack.ExtraData as exc:
        raise NonCanonicalEncoding("trailing bytes after the record") from exc
    except (ValueError, msgpack.UnpackException) as exc:
        # Truncated input raises OutOfData (a ValueError subclass in msgpack >= 1.0), or, when a
        # header declares more items than there are bytes left, "exceeds max_..._len": msgpack's
        # length limits default to the input's size, so that too means the input ends early.
        text = str(exc).lower()
        if isinstance(exc, msgpack.OutOfData) or "incomplete" in text or "exceeds max_" in text:
            raise TruncatedInput("input ends in the middle of a record") from exc
        reason = str(exc) or exc.__class__.__name__  # msgpack's StackError (nesting too deep) has no words
        raise CodecError(f"undecodable input: {reason}") from exc
    # BufferError: a memoryview of items wider than a byte (msgpack cannot read it), not a crash.
    except (TypeError, RecursionError, UnicodeDecodeError, BufferError) as exc:
        raise CodecError(f"undecodable input: {exc.__class__.__name__}") from exc
    _check_decoded(value)
    again = pack(value)
    if again != bytes(data):
        raise NonCanonicalEncoding("input is not the canonical encoding of its value")
    return value


def decode_trusted(data: bytes) -> Any:
    """Decode bytes our own node wrote (world state, block store): no canonical re-check."""
    return msgpack.unpackb(data, raw=False, use_list=True)


# ---- field readers for record decoders: each raises UnexpectedShape with the field's name ----


def expect_list(value: Any, what: str, length: int | None = None, max_length: int | None = None) -> list[Any]:
    if type(value) is not list:
        raise UnexpectedShape(f"{what}: expected an array")
    if length is not None and len(value) != length:
        raise UnexpectedShape(f"{what}: expected {length} fields, got {len(value)}")
    if max_length is not None and len(value) > max_length:
        raise UnexpectedShape(f"{what}: more than {max_length} items")
    return value


def expect_int(value: Any, what: str, minimum: int | None = 0, maximum: int | None = None) -> int:
    if type(value) is not int:
        raise UnexpectedShape(f"{what}: expected an integer")
    if minimum is not None and value < minimum:
        raise UnexpectedShape(f"{what}: below {minimum}")
    if maximum is not None and value > maximum:
        raise UnexpectedShape(f"{what}: above {maximum}")
    return value


def expect_bytes(value: Any, what: str, length: int | None = None, max_length: int | None = None) -> bytes:
    if type(value) is not bytes:
        raise UnexpectedShape(f"{what}: expected bytes")
    if length is not None and len(value) != length:
        raise UnexpectedShape(f"{what}: expected {length} bytes, got {len(value)}")
    if max_length is not None and len(value) > max_length:
        raise UnexpectedShape(f"{what}: longer than {max_length} bytes")
    return value


def expect_str(value: Any, what: str, max_length: int = 4096) -> str:
    if type(value) is not str:
        raise UnexpectedShape(f"{what}: expected a string")
    if len(value) > max_length:
        raise UnexpectedShape(f"{what}: longer than {max_length} characters")
    return value


def expect_record(value: Any, tag: int, version: int, fields: int, what: str) -> list[Any]:
    """Check ``[tag, version, *fields]`` and return the fields."""
    items = expect_list(value, what)
    if len(items) < 2 or type(items[0]) is not int:
        raise UnexpectedShape(f"{what}: missing tag")
    if items[0] != tag:
        raise UnknownTag(f"{what}: tag {items[0]} where {tag} was expected")
    # type() first: msgpack true == 1 in Python, and a record must not decode from bytes that are not
    # its encoding (a relayed signed message could otherwise be re-encoded differently and still verify).
    if type(items[1]) is not int or items[1] != version:
        raise UnexpectedShape(f"{what}: unsupported version {items[1]!r}")
    if len(items) != fields + 2:
        raise UnexpectedShape(f"{what}: expected {fields} fields, got {len(items) - 2}")
    return items[2:]
