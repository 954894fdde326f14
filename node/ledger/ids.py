"""Identifier syntax (Iroha 1 rules) and amounts as decimal strings.

Account ``name@domain``, asset ``name#domain``, role and account/asset names ``[a-z_0-9]{1,32}``,
domain a dotted label list (a bank code such as ``nbc`` or ``aclb``). Amounts travel as decimal
strings (``"1500.50"``) and are held as integers of minor units once the asset's precision is known:
no floats anywhere.
"""

from __future__ import annotations

import re

from node.ledger.errors import StatelessError

_NAME = re.compile(r"[a-z_0-9]{1,32}\Z")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?\Z")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,37})(?:\.([0-9]{1,18}))?\Z")

MAX_DOMAIN_LENGTH = 255
MAX_PRECISION = 18
# Balances are capped so every amount fits a signed 64-bit column in any export or client.
MAX_UNITS = 2**63 - 1


def is_name(value: str) -> bool:
    return isinstance(value, str) and _NAME.match(value) is not None


def is_domain(value: str) -> bool:
    return isinstance(value, str) and len(value) <= MAX_DOMAIN_LENGTH and _DOMAIN.match(value) is not None


# Ids (and amounts) already found well formed: every transaction names a few accounts and an asset, and the same ones
# recur, so a set look-up replaces two regex matches on most. Bounded (forgotten wholesale when full):
# ~12 MB at most, a small part of a node's budget even with a million accounts.
_WELL_FORMED_ACCOUNTS: set[str] = set()
_WELL_FORMED_ASSETS: set[str] = set()
_WELL_FORMED_AMOUNTS: set[str] = set()
_WELL_FORMED_LIMIT = 65_536


def _remember(known: set[str], value: str) -> None:
    if len(known) >= _WELL_FORMED_LIMIT:
        known.clear()
    known.add(value)


def split_account(account_id: str) -> tuple[str, str]:
    """``alice@aclb`` -> ``("alice", "aclb")``; raises StatelessError on bad syntax."""
    if type(account_id) is str and account_id in _WELL_FORMED_ACCOUNTS:
        name, _, domain = account_id.partition("@")
        return name, domain
    name, sep, domain = account_id.partition("@") if isinstance(account_id, str) else ("", "", "")
    if not sep or not is_name(name) or not is_domain(domain):
        raise StatelessError("bad_account_id", f"bad account id {account_id!r}; expected name@domain")
    _remember(_WELL_FORMED_ACCOUNTS, account_id)
    return name, domain


def split_asset(asset_id: str) -> tuple[str, str]:
    if type(asset_id) is str and asset_id in _WELL_FORMED_ASSETS:
        name, _, domain = asset_id.partition("#")
        return name, domain
    name, sep, domain = asset_id.partition("#") if isinstance(asset_id, str) else ("", "", "")
    if not sep or not is_name(name) or not is_domain(domain):
        raise StatelessError("bad_asset_id", f"bad asset id {asset_id!r}; expected name#domain")
    _remember(_WELL_FORMED_ASSETS, asset_id)
    return name, domain


def check_account_id(account_id: str) -> str:
    split_account(account_id)
    return account_id


def check_asset_id(asset_id: str) -> str:
    split_asset(asset_id)
    return asset_id


def check_domain_id(domain_id: str) -> str:
    if not is_domain(domain_id):
        raise StatelessError("bad_domain_id", f"bad domain id {domain_id!r}")
    return domain_id


def check_name(value: str, what: str = "name") -> str:
    if not is_name(value):
        raise StatelessError(f"bad_{what}", f"bad {what} {value!r}; expected [a-z_0-9]{{1,32}}")
    return value


def account_domain(account_id: str) -> str:
    return account_id.partition("@")[2]


def asset_domain(asset_id: str) -> str:
    return asset_id.partition("#")[2]


def check_amount(amount: str) -> str:
    """A positive decimal string with at most 18 decimals (precision is checked against the asset later)."""
    if type(amount) is str and amount in _WELL_FORMED_AMOUNTS:
        return amount
    if not isinstance(amount, str) or _AMOUNT.match(amount) is None:
        raise StatelessError("bad_amount", f"bad amount {amount!r}; expected a decimal string like 1500.50")
    units, _scale = parse_amount(amount)
    if units <= 0:
        raise StatelessError("bad_amount", "amount must be greater than zero")
    _remember(_WELL_FORMED_AMOUNTS, amount)
    return amount


def parse_amount(amount: str) -> tuple[int, int]:
    """``"1500.50"`` -> ``(150050, 2)``: integer units at a scale of decimals."""
    whole, _, frac = amount.partition(".")
    return int(whole + frac), len(frac)


def to_minor_units(amount: str, precision: int) -> int | None:
    """Minor units of ``amount`` for an asset of ``precision``; None if it has too many decimals."""
    units, scale = parse_amount(amount)
    if scale > precision:
        return None
    factor: int = 10 ** (precision - scale)  # precision >= scale: an int (typeshed cannot tell)
    return units * factor


def format_amount(units: int, precision: int) -> str:
    """Minor units -> decimal string with exactly ``precision`` decimals (``150050, 2`` -> ``"1500.50"``)."""
    if precision == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**precision)
    return f"{sign}{whole}.{frac:0{precision}d}"
