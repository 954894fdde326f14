"""Typed world-state records: what each world-state row holds, and the one place that reads rows.

A world-state row (``storage.keys``: D A X M R G K P) is stored as the canonical encoding of a plain
value: an array for the records below, an int for a balance, a str for a detail. The bytes go into
the state root, so ``to_array`` gives exactly the array the row has always held (tests/
test_state_root_formula.py pins it), and ``decode_row`` is the only place a stored row becomes a
typed value.

The committed cache and the block overlay (``node.ledger.state``) keep rows as these records: a record
is built once per cache miss, not per read, and because records are frozen a value the cache shares
with an overlay can never change under either.

The look-ups (``get_account`` and friends, after execution-specs' ``get_account(state, address)``)
read any ``WorldStateReader``: the overlay while a block executes, a published state for queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from consensus import codec
from node.ledger import errors as e
from node.ledger.errors import LedgerError
from storage import keys


@dataclass(frozen=True, slots=True)
class Freeze:
    """Why and since when an account is frozen: ``[height, by, reason]``, the fourth element of its row."""

    height: int
    """The block that froze the account."""
    by: str
    """The account that froze it (holder of ``can_freeze_account``)."""
    reason: str
    """Why, as given with the command (a case or order reference)."""

    def to_array(self) -> list[Any]:
        return [self.height, self.by, self.reason]

    @classmethod
    def from_array(cls, a: list[Any]) -> Freeze:
        return cls(a[0], a[1], a[2])


@dataclass(frozen=True, slots=True)
class Account:
    """An account row: ``[quorum, roles, signatories]``, and ``[..., freeze]`` while it is frozen.

    The freeze sits in the row every transfer reads anyway (no extra read per payment), and only a
    frozen account's row has the fourth element, so no other row's bytes (and no state root) change."""

    quorum: int
    """How many of its signatories must sign its transactions."""
    roles: tuple[str, ...]
    """Names of the roles it holds, sorted; its permissions are theirs together."""
    signatories: tuple[bytes, ...]
    """Public keys that may sign for it, sorted."""
    frozen: Freeze | None = None
    """Set while the account is frozen: nobody may debit it."""

    def to_array(self) -> list[Any]:
        row = [self.quorum, list(self.roles), list(self.signatories)]
        return row if self.frozen is None else [*row, self.frozen.to_array()]

    @classmethod
    def from_array(cls, a: list[Any]) -> Account:
        return cls(a[0], tuple(a[1]), tuple(a[2]), Freeze.from_array(a[3]) if len(a) > 3 else None)


@dataclass(frozen=True, slots=True)
class Domain:
    """A domain row: ``[default_role]``."""

    default_role: str
    """The role every account created in the domain starts with."""

    def to_array(self) -> list[Any]:
        return [self.default_role]

    @classmethod
    def from_array(cls, a: list[Any]) -> Domain:
        return cls(a[0])


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset row: ``[precision]``."""

    precision: int
    """Decimal places of one unit: balances are integer counts of 10**-precision units."""

    def to_array(self) -> list[Any]:
        return [self.precision]

    @classmethod
    def from_array(cls, a: list[Any]) -> Asset:
        return cls(a[0])


@dataclass(frozen=True, slots=True)
class Role:
    """A role row: its permission names, stored as a sorted array."""

    permissions: frozenset[str]
    """Role permissions (``node.ledger.permissions``); a set, because every command asks one."""

    def to_array(self) -> list[Any]:
        return sorted(self.permissions)

    @classmethod
    def from_array(cls, a: list[Any]) -> Role:
        return cls(frozenset(a))


@dataclass(frozen=True, slots=True)
class Grants:
    """A grant row (keyed by grantee and grantor): the grantable permissions given, stored sorted."""

    permissions: frozenset[str]
    """What the grantee may do to the grantor's account."""

    def to_array(self) -> list[Any]:
        return sorted(self.permissions)

    @classmethod
    def from_array(cls, a: list[Any]) -> Grants:
        return cls(frozenset(a))


@dataclass(frozen=True, slots=True)
class Peer:
    """A peer row: ``[address, name, syncing]`` under the peer's public key."""

    public_key: bytes
    """The peer's identity; the row's key, not part of its value."""
    address: str
    """``host:port`` of its p2p listener."""
    name: str
    """A label for people (the bank code)."""
    syncing: bool
    """An observer: it follows the chain without voting."""

    @property
    def observer(self) -> bool:
        return self.syncing

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host, int(port)

    def to_array(self) -> list[Any]:
        return [self.address, self.name, self.syncing]

    @classmethod
    def from_array(cls, a: list[Any], public_key: bytes) -> Peer:
        return cls(public_key, a[0], a[1], bool(a[2]))


Record: TypeAlias = Account | Domain | Asset | Role | Grants | Peer
WorldValue: TypeAlias = Record | int | str
"""What a world-state row holds once decoded: a record, a balance (int) or a detail (str)."""

# Per key family, how a decoded array becomes its record; balances and details stay as decoded.
_FROM_ARRAY: dict[bytes, Callable[[bytes, Any], Record]] = {
    keys.ACCOUNT: lambda _key, a: Account.from_array(a),
    keys.DOMAIN: lambda _key, a: Domain.from_array(a),
    keys.ASSET: lambda _key, a: Asset.from_array(a),
    keys.ROLE: lambda _key, a: Role.from_array(a),
    keys.GRANT: lambda _key, a: Grants.from_array(a),
    keys.PEER: lambda key, a: Peer.from_array(a, key[len(keys.PEER):]),
}


def decode_row(key: bytes, raw: bytes) -> WorldValue:
    """The typed value of the world-state row ``key`` stored as ``raw`` (bytes this node wrote)."""
    value = codec.decode_trusted(raw)
    from_array = _FROM_ARRAY.get(key[:1])
    return value if from_array is None else from_array(key, value)


def encode_row(value: WorldValue) -> bytes:
    """The stored bytes of a world-state value: the canonical encoding of its array."""
    # Balances first: a block writes two per transfer and few records.
    if isinstance(value, (int, str)):
        return codec.encode_trusted(value)
    return codec.encode_trusted(value.to_array())


# ---- look-ups ----


class WorldStateReader(Protocol):
    """Anything that reads decoded world-state rows by key (None when absent)."""

    def get(self, key: bytes) -> Any: ...


def get_account(state: WorldStateReader, account_id: str) -> Account | None:
    account: Account | None = state.get(keys.account(account_id))
    return account


def get_domain(state: WorldStateReader, domain_id: str) -> Domain | None:
    domain: Domain | None = state.get(keys.domain(domain_id))
    return domain


def get_asset(state: WorldStateReader, asset_id: str) -> Asset | None:
    asset: Asset | None = state.get(keys.asset(asset_id))
    return asset


def get_role(state: WorldStateReader, role_name: str) -> Role | None:
    role: Role | None = state.get(keys.role(role_name))
    return role


def get_grants(state: WorldStateReader, grantee: str, grantor: str) -> Grants | None:
    grants: Grants | None = state.get(keys.grant(grantee, grantor))
    return grants


def get_peer(state: WorldStateReader, public_key: bytes) -> Peer | None:
    peer: Peer | None = state.get(keys.peer(public_key))
    return peer


def get_detail(state: WorldStateReader, account_id: str, writer: str, key: str) -> str | None:
    detail: str | None = state.get(keys.detail(account_id, writer, key))
    return detail


# The ``require_*`` look-ups raise ``error`` (CommandError while executing, QueryError while answering)
# with the code and message both layers give a missing entity. A transfer runs ``require_account``
# twice and ``require_asset`` once, so those two read the state themselves (one call, not two).


def require_account(state: WorldStateReader, account_id: str, error: type[LedgerError]) -> Account:
    account: Account | None = state.get(keys.account(account_id))
    if account is None:
        raise error(e.NO_SUCH_ACCOUNT, f"account {account_id} does not exist")
    return account


def require_domain(state: WorldStateReader, domain_id: str, error: type[LedgerError]) -> Domain:
    domain = get_domain(state, domain_id)
    if domain is None:
        raise error(e.NO_SUCH_DOMAIN, f"domain {domain_id} does not exist")
    return domain


def require_asset(state: WorldStateReader, asset_id: str, error: type[LedgerError]) -> Asset:
    asset: Asset | None = state.get(keys.asset(asset_id))
    if asset is None:
        raise error(e.NO_SUCH_ASSET, f"asset {asset_id} does not exist")
    return asset


def require_role(state: WorldStateReader, role_name: str, error: type[LedgerError]) -> Role:
    role = get_role(state, role_name)
    if role is None:
        raise error(e.NO_SUCH_ROLE, f"role {role_name} does not exist")
    return role
