"""The 18 commands of Iroha 1 and three of our own, as frozen records with a canonical array encoding.

Our own take the next free tags, so every earlier encoding stays what it was: ``FreezeAccount`` (19) and
``UnfreezeAccount`` (20), the central bank's freeze of an account (docs/ledger.md, "Freezing"), and
``TransferWithReference`` (21), a transfer carrying the KHQR md5 it pays and an external reference
(docs/ledger.md, "Payment references").

A command encodes as ``[command_tag, field, ...]`` inside a transaction payload. Each class lists its
fields with a checker; decoding runs the checkers, so a decoded command is always syntactically valid
(stateless rules); whether it can apply is the executor's business (``node.ledger.execution``).

The field checkers (``check_account`` ...) take an untrusted decoded value and return it typed or raise
StatelessError; queries and the transaction fast path check their fields with the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from node.ledger import ids
from node.ledger.errors import StatelessError
from node.ledger.permissions import GRANTABLE_PERMISSIONS, ROLE_PERMISSIONS

MAX_DETAIL_KEY = 64
MAX_DETAIL_VALUE = 4096
MAX_DESCRIPTION = 256
MAX_QUORUM = 128
MAX_ADDRESS = 255
MAX_REFERENCE = 64
"""An external / instruction reference: at most this many printable ASCII characters."""
MD5_HEX = 32
MAX_DETAILS_PER_WRITER = 128
"""How many details one writer may keep on one account (``detail_quota_exceeded`` beyond)."""
MAX_DETAIL_BYTES_PER_WRITER = 64 * 1024
"""How many bytes (keys and values, UTF-8) one writer may keep on one account."""

Checker = Callable[[Any], Any]
R = TypeVar("R", bound="CheckedRecord")


def check_account(v: Any) -> str:
    return ids.check_account_id(check_str(v))


def check_asset(v: Any) -> str:
    return ids.check_asset_id(check_str(v))


def check_domain(v: Any) -> str:
    return ids.check_domain_id(check_str(v))


def check_name(v: Any) -> str:
    return ids.check_name(check_str(v))


def check_role(v: Any) -> str:
    return ids.check_name(check_str(v), "role")


def check_str(v: Any, limit: int = 4096) -> str:
    if type(v) is not str or len(v) > limit:
        raise StatelessError("bad_field", f"expected a string of at most {limit} characters")
    return v


def check_public_key(v: Any) -> bytes:
    if type(v) is not bytes or len(v) != 32:
        raise StatelessError("bad_public_key", "a public key is 32 bytes (Ed25519)")
    return v


def check_amount(v: Any) -> str:
    return ids.check_amount(v)


def check_precision(v: Any) -> int:
    if type(v) is not int or not 0 <= v <= ids.MAX_PRECISION:
        raise StatelessError("bad_precision", f"precision must be an integer 0..{ids.MAX_PRECISION}")
    return v


def check_quorum(v: Any) -> int:
    if type(v) is not int or not 1 <= v <= MAX_QUORUM:
        raise StatelessError("bad_quorum", f"quorum must be an integer 1..{MAX_QUORUM}")
    return v


def check_description(v: Any) -> str:
    return check_str(v, MAX_DESCRIPTION)


def check_md5(v: Any) -> str:
    """A KHQR md5 as a command carries it: 32 lower-case hex digits (one spelling, so one index key), or ""."""
    if type(v) is not str or (v and (len(v) != MD5_HEX or v.strip("0123456789abcdef"))):
        raise StatelessError("bad_md5", f"qr_md5 must be {MD5_HEX} lower-case hex digits or empty")
    return v


def check_reference(v: Any) -> str:
    """An external / instruction reference: printable ASCII (spaces allowed), at most ``MAX_REFERENCE``, or ""."""
    if type(v) is not str or len(v) > MAX_REFERENCE or not (v.isascii() and v.isprintable()):
        raise StatelessError("bad_reference", f"reference must be at most {MAX_REFERENCE} printable ASCII characters")
    return v


def check_detail_key(v: Any) -> str:
    if type(v) is not str or not 1 <= len(v) <= MAX_DETAIL_KEY or not v.replace("_", "a").isalnum() or not v.isascii():
        raise StatelessError("bad_detail_key", f"detail key must be [A-Za-z0-9_]{{1,{MAX_DETAIL_KEY}}}")
    return v


def check_detail_value(v: Any) -> str:
    if type(v) is not str or len(v) > MAX_DETAIL_VALUE:
        raise StatelessError("bad_detail_value", f"detail value must be a string of at most {MAX_DETAIL_VALUE}")
    return v


def check_optional_detail_value(v: Any) -> str | None:
    return None if v is None else check_detail_value(v)


def check_role_permissions(v: Any) -> tuple[str, ...]:
    if type(v) not in (list, tuple) or len(v) > len(ROLE_PERMISSIONS):
        raise StatelessError("bad_permission", "permissions must be a list of role permission names")
    for p in v:
        if type(p) is not str or p not in ROLE_PERMISSIONS:
            raise StatelessError("bad_permission", f"unknown role permission {p!r}")
    perms = tuple(sorted(set(v)))
    if list(perms) != list(v):
        raise StatelessError("bad_permission", "permissions must be sorted and unique")
    return perms


def check_grantable(v: Any) -> str:
    if type(v) is not str or v not in GRANTABLE_PERMISSIONS:
        raise StatelessError("bad_permission", f"unknown grantable permission {v!r}")
    return str(v)


def check_address(v: Any) -> str:
    host, sep, port = check_str(v, MAX_ADDRESS).rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise StatelessError("bad_address", f"peer address {v!r} must be host:port")
    return str(v)


def check_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise StatelessError("bad_field", "expected true or false")
    return v


@dataclass(frozen=True)
class CheckedRecord:
    """A record encoded as ``[TAG, field, ...]`` whose fields are validated by ``CHECKS`` on decode."""

    TAG: ClassVar[int] = 0
    CHECKS: ClassVar[tuple[Checker, ...]] = ()

    def to_array(self) -> list[Any]:
        return [self.TAG, *(list(v) if isinstance(v, tuple) else v for v in self.values())]

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name()}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.hex() if isinstance(v, bytes) else list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class Command(CheckedRecord):
    """Base of all commands; ``TAG`` is the command's number in the encoding."""


@dataclass(frozen=True)
class CreateDomain(Command):
    TAG = 1
    domain_id: str
    default_role: str
    CHECKS = (check_domain, check_role)


@dataclass(frozen=True)
class CreateAccount(Command):
    TAG = 2
    account_name: str
    domain_id: str
    public_key: bytes
    CHECKS = (check_name, check_domain, check_public_key)

    @property
    def account_id(self) -> str:
        return f"{self.account_name}@{self.domain_id}"


@dataclass(frozen=True)
class CreateAsset(Command):
    TAG = 3
    asset_name: str
    domain_id: str
    precision: int
    CHECKS = (check_name, check_domain, check_precision)

    @property
    def asset_id(self) -> str:
        return f"{self.asset_name}#{self.domain_id}"


@dataclass(frozen=True)
class AddAssetQuantity(Command):
    """Mint ``amount`` of ``asset_id`` into the creator's account."""

    TAG = 4
    asset_id: str
    amount: str
    CHECKS = (check_asset, check_amount)


@dataclass(frozen=True)
class SubtractAssetQuantity(Command):
    """Burn ``amount`` of ``asset_id`` from the creator's account."""

    TAG = 5
    asset_id: str
    amount: str
    CHECKS = (check_asset, check_amount)


@dataclass(frozen=True)
class TransferAsset(Command):
    TAG = 6
    src_account_id: str
    dest_account_id: str
    asset_id: str
    description: str
    amount: str
    CHECKS: ClassVar[tuple[Checker, ...]] = (check_account, check_account, check_asset, check_description,
                                             check_amount)


@dataclass(frozen=True)
class AddSignatory(Command):
    TAG = 7
    account_id: str
    public_key: bytes
    CHECKS = (check_account, check_public_key)


@dataclass(frozen=True)
class RemoveSignatory(Command):
    TAG = 8
    account_id: str
    public_key: bytes
    CHECKS = (check_account, check_public_key)


@dataclass(frozen=True)
class SetAccountQuorum(Command):
    TAG = 9
    account_id: str
    quorum: int
    CHECKS = (check_account, check_quorum)


@dataclass(frozen=True)
class CreateRole(Command):
    TAG = 10
    role_name: str
    permissions: tuple[str, ...]
    CHECKS = (check_role, check_role_permissions)


@dataclass(frozen=True)
class AppendRole(Command):
    TAG = 11
    account_id: str
    role_name: str
    CHECKS = (check_account, check_role)


@dataclass(frozen=True)
class DetachRole(Command):
    TAG = 12
    account_id: str
    role_name: str
    CHECKS = (check_account, check_role)


@dataclass(frozen=True)
class GrantPermission(Command):
    """The creator grants ``permission`` over its own account to ``account_id``."""

    TAG = 13
    account_id: str
    permission: str
    CHECKS = (check_account, check_grantable)


@dataclass(frozen=True)
class RevokePermission(Command):
    TAG = 14
    account_id: str
    permission: str
    CHECKS = (check_account, check_grantable)


@dataclass(frozen=True)
class SetAccountDetail(Command):
    TAG = 15
    account_id: str
    key: str
    value: str
    CHECKS = (check_account, check_detail_key, check_detail_value)


@dataclass(frozen=True)
class CompareAndSetAccountDetail(Command):
    """Set the detail only if its current value (written by the creator) equals ``old_value``.

    ``old_value`` None means the detail must not exist yet (Iroha's ``check_empty``)."""

    TAG = 16
    account_id: str
    key: str
    value: str
    old_value: str | None
    CHECKS = (check_account, check_detail_key, check_detail_value, check_optional_detail_value)


@dataclass(frozen=True)
class AddPeer(Command):
    """Add a node: a validator, or with ``syncing`` an observer that follows without voting."""

    TAG = 17
    address: str
    public_key: bytes
    name: str
    syncing: bool
    CHECKS = (check_address, check_public_key, check_name, check_bool)


@dataclass(frozen=True)
class RemovePeer(Command):
    TAG = 18
    public_key: bytes
    CHECKS = (check_public_key,)


@dataclass(frozen=True)
class FreezeAccount(Command):
    """Freeze ``account_id``: nobody can debit it (its owner and grantees included) until it is unfrozen."""

    TAG = 19
    account_id: str
    reason: str
    CHECKS = (check_account, check_description)


@dataclass(frozen=True)
class UnfreezeAccount(Command):
    """Lift the freeze of ``account_id``."""

    TAG = 20
    account_id: str
    reason: str
    CHECKS = (check_account, check_description)


@dataclass(frozen=True)
class TransferWithReference(TransferAsset):
    """A ``TransferAsset`` that also records the md5 of the KHQR string it pays and an external /
    instruction reference (either may be ""), signed with the transaction. It executes exactly as a
    transfer (it is one: every rule and index of transfers applies) and is also indexed for look-up by
    md5, short hash and reference (``node.ledger.payments``)."""

    TAG = 21
    qr_md5: str
    reference: str
    CHECKS = (*TransferAsset.CHECKS, check_md5, check_reference)


COMMAND_TYPES: dict[int, type[Command]] = {
    cls.TAG: cls
    for cls in (
        CreateDomain, CreateAccount, CreateAsset, AddAssetQuantity, SubtractAssetQuantity, TransferAsset,
        AddSignatory, RemoveSignatory, SetAccountQuorum, CreateRole, AppendRole, DetachRole,
        GrantPermission, RevokePermission, SetAccountDetail, CompareAndSetAccountDetail, AddPeer, RemovePeer,
        FreezeAccount, UnfreezeAccount, TransferWithReference,
    )
}
COMMANDS_BY_NAME: dict[str, type[Command]] = {cls.__name__: cls for cls in COMMAND_TYPES.values()}


def record_from_array(value: Any, types: dict[int, type[R]], what: str) -> R:
    """Decode and check one tagged record; raises StatelessError naming what is wrong."""
    if type(value) is not list or not value or type(value[0]) is not int:
        raise StatelessError(f"bad_{what}", f"a {what} is an array starting with its tag")
    cls = types.get(value[0])
    if cls is None:
        raise StatelessError(f"unknown_{what}", f"unknown {what} tag {value[0]}")
    args = value[1:]
    if len(args) != len(cls.CHECKS):
        raise StatelessError(f"bad_{what}", f"{cls.__name__} takes {len(cls.CHECKS)} fields, got {len(args)}")
    return cls(*(check(arg) for check, arg in zip(cls.CHECKS, args, strict=True)))


def command_from_array(value: Any) -> Command:
    return record_from_array(value, COMMAND_TYPES, "command")


# Fields a JSON client may leave out, with the value they then take.
_JSON_DEFAULTS: dict[str, Any] = {"old_value": None, "description": "", "syncing": False, "qr_md5": "",
                                  "reference": ""}


def record_from_json(obj: Any, types: dict[str, type[R]], what: str) -> R:
    """Build a record from its JSON form ``{"type": "TransferAsset", ...}`` (bytes fields in hex)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise StatelessError(f"bad_{what}", f'a {what} is an object with a "type"')
    cls = types.get(obj["type"])
    if cls is None:
        raise StatelessError(f"unknown_{what}", f"unknown {what} type {obj['type']!r}")
    args = []
    for f, check in zip(fields(cls), cls.CHECKS, strict=True):
        if f.name not in obj:
            if f.name in _JSON_DEFAULTS:
                args.append(check(_JSON_DEFAULTS[f.name]))
                continue
            raise StatelessError(f"bad_{what}", f"{cls.__name__} needs field {f.name!r}")
        v = obj[f.name]
        if f.name == "public_key" and isinstance(v, str):
            try:
                v = bytes.fromhex(v)
            except ValueError:
                raise StatelessError("bad_public_key", "public_key must be 64 hex characters") from None
        if f.name == "permissions" and isinstance(v, list):
            v = sorted(set(v)) if all(isinstance(p, str) for p in v) else v
        args.append(check(v))
    extra = set(obj) - {f.name for f in fields(cls)} - {"type"}
    if extra:
        raise StatelessError(f"bad_{what}", f"{cls.__name__} has unknown fields {sorted(extra)}")
    return cls(*args)


def command_from_json(obj: Any) -> Command:
    return record_from_json(obj, COMMANDS_BY_NAME, "command")


__all__ = ["COMMAND_TYPES", "Command", "command_from_array", "command_from_json"]
