"""Genesis: the JSON file every node of a network shares, and the block 0 built from it.

Every node builds the same genesis block from the same file (no signatures: like Iroha's genesis
block it is trusted by construction), so the genesis block hash identifies the network. Format::

    {"chain_id": "...", "created_ms": 1764000000000,
     "roles": {"central_bank": ["can_..."], ...},
     "domains": [{"id": "nbc", "default_role": "customer"}, ...],
     "assets": [{"id": "khr#nbc", "precision": 2}, ...],
     "accounts": [{"id": "admin@nbc", "public_key": "<hex>", "roles": ["central_bank"],
                   "balances": {"khr#nbc": "1000000.00"}}, ...],
     "peers": [{"name": "nbc", "public_key": "<hex>", "address": "127.0.0.1:7100", "syncing": false}, ...]}

``roles`` of an account replace the domain's default role. ``syncing: true`` marks an observer.

Optional bulk accounts (for a network that starts with millions of customers)::

    "bulk_accounts": {"count": 1000000, "name_prefix": "c", "domains": ["aclb", "abaa", ...],
                      "public_key": "<hex>", "role": "customer",
                      "balances": {"khr#nbc": "4000000.00", "usd#nbc": "1000.00"}}

Account ``i`` (0 <= i < count) is ``f"{name_prefix}{i}@{domains[i % len(domains)]}"`` with quorum 1, the
one ``public_key`` as signatory, ``role`` (default: its domain's default role) and ``balances``. They
are not transactions: ``bulk_account_chunks`` yields their world-state rows, which ``Ledger.ensure_genesis``
writes directly (genesis facts, trusted like Iroha's genesis block), so block 0 stays small; block 0
itself is built and committed by ``Ledger.ensure_genesis``. Their
balances are genesis supply, exactly like the ordinary accounts' opening mints: per asset, the sum of all
balances = genesis balances (ordinary + count x bulk) + minted - burned since.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consensus import codec
from node.ledger import commands as c
from node.ledger import ids
from node.ledger.errors import LedgerError
from node.ledger.records import Account
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from storage import keys

# Bulk accounts per LevelDB write batch (and per state-root link): 10,000 accounts with two balances
# are 30,000 rows, a few MB of Python objects at once, so the import's memory stays bounded (measured
# for 1,000,000 accounts: RSS after the import 72 MB with 10,000, 97 MB with 50,000; same speed).
# The genesis state root is chained per chunk: changing this changes every bulk network's genesis hash.
BULK_CHUNK = 10_000


class GenesisError(LedgerError):
    """The genesis file is unusable."""


@dataclass(frozen=True)
class GenesisPeer:
    name: str
    public_key: bytes
    address: str
    syncing: bool


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    created_ms: int
    document: dict[str, Any]

    @property
    def peers(self) -> list[GenesisPeer]:
        return [
            GenesisPeer(p["name"], bytes.fromhex(p["public_key"]), p["address"], bool(p.get("syncing", False)))
            for p in self.document.get("peers", [])
        ]

    @property
    def precisions(self) -> dict[str, int]:
        return {a["id"]: int(a["precision"]) for a in self.document.get("assets", [])}


def load_genesis(path: str | Path) -> Genesis:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GenesisError("bad_genesis", f"cannot read genesis file {path}: {exc}") from exc
    return parse_genesis(doc)


def parse_genesis(doc: Any) -> Genesis:
    if (not isinstance(doc, dict) or not isinstance(doc.get("chain_id"), str)
            or not isinstance(doc.get("created_ms"), int)):
        raise GenesisError("bad_genesis", "genesis needs a chain_id string and a created_ms integer")
    if not doc["chain_id"].isascii() or not 1 <= len(doc["chain_id"]) <= 64:
        raise GenesisError("bad_genesis", "chain_id must be 1..64 ASCII characters")
    if not doc.get("accounts"):
        raise GenesisError("bad_genesis", "genesis needs at least one account")
    genesis = Genesis(doc["chain_id"], doc["created_ms"], doc)
    bulk_accounts(genesis)  # a bad bulk section fails here, before any node writes anything
    return genesis


@dataclass(frozen=True)
class BulkAccounts:
    """The ``bulk_accounts`` section, checked: everything needed to generate its rows."""

    count: int
    name_prefix: str
    domains: tuple[str, ...]
    public_key: bytes
    roles: tuple[str, ...]
    """The role of each domain's accounts, parallel to ``domains``."""
    balances: tuple[tuple[str, int], ...]
    """(asset id, minor units), sorted by asset id."""

    def account_id(self, i: int) -> str:
        return f"{self.name_prefix}{i}@{self.domains[i % len(self.domains)]}"


def bulk_accounts(genesis: Genesis) -> BulkAccounts | None:
    """The checked bulk section of the genesis, or None when it has none."""
    doc = genesis.document
    spec = doc.get("bulk_accounts")
    if spec is None:
        return None
    try:
        count = spec["count"]
        prefix = spec["name_prefix"]
        domains = tuple(spec["domains"])
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 10**9:
            raise ValueError("count must be an integer from 0 to 10^9")
        # The names vary only in their decimal suffix: the shortest and the longest decide validity.
        ids.check_name(f"{prefix}0", "bulk account name")
        ids.check_name(f"{prefix}{max(count - 1, 0)}", "bulk account name")
        defaults = {d["id"]: d["default_role"] for d in doc.get("domains", [])}
        if not domains or any(d not in defaults for d in domains):
            raise ValueError("domains must be a non-empty list of genesis domains")
        role = spec.get("role")
        if role is not None and role not in doc.get("roles", {}):
            raise ValueError(f"role {role} is not a genesis role")
        roles = tuple(role or defaults[d] for d in domains)
        public_key = bytes.fromhex(spec["public_key"])
        if len(public_key) != 32:
            raise ValueError("public_key must be 32 bytes of hex")
        precisions = genesis.precisions
        balances = []
        for asset, amount in sorted(spec.get("balances", {}).items()):
            if asset not in precisions:
                raise ValueError(f"asset {asset} is not a genesis asset")
            units = ids.to_minor_units(ids.check_amount(amount), precisions[asset])
            if units is None or units > ids.MAX_UNITS:
                raise ValueError(f"{amount} does not fit {asset}")
            balances.append((asset, units))
        bulk = BulkAccounts(count, prefix, domains, public_key, roles, tuple(balances))
        # An ordinary account may not also be a bulk one (its rows would be written twice).
        for acct in doc["accounts"]:
            name, _domain = ids.split_account(acct["id"])
            suffix = name[len(prefix):]
            if name.startswith(prefix) and suffix.isdigit() and str(int(suffix)) == suffix \
                    and int(suffix) < count and bulk.account_id(int(suffix)) == acct["id"]:
                raise ValueError(f"account {acct['id']} is both an ordinary and a bulk account")
    except (KeyError, ValueError, TypeError, AttributeError, LedgerError) as exc:
        raise GenesisError("bad_genesis", f"bulk_accounts is invalid: {exc}") from exc
    return bulk


def bulk_account_chunks(bulk: BulkAccounts, chunk: int | None = None) -> Iterator[dict[bytes, bytes]]:
    """The bulk accounts' world-state rows (encoded, as a block's write set), ``chunk`` accounts at a time
    (default ``BULK_CHUNK``), in account order: a pure function of the spec, so every node yields the same
    chunks. The genesis state root is chained over these chunks, so the chunk size is part of its
    definition: every node of a network must use the same one."""
    chunk = chunk or BULK_CHUNK
    # Every bulk account holds the same record and balances: encode them once.
    records = [codec.encode_trusted(Account(1, (role,), (bulk.public_key,)).to_array()) for role in bulk.roles]
    values = [(asset, codec.encode_trusted(units)) for asset, units in bulk.balances]
    ndomains = len(bulk.domains)
    for start in range(0, bulk.count, chunk):
        writes: dict[bytes, bytes] = {}
        for i in range(start, min(start + chunk, bulk.count)):
            account_id = bulk.account_id(i)
            writes[keys.account(account_id)] = records[i % ndomains]
            for asset, value in values:
                writes[keys.balance(account_id, asset)] = value
        yield writes


def _setup_commands(doc: dict[str, Any]) -> list[c.Command]:
    cmds: list[c.Command] = []
    for name, perms in sorted(doc.get("roles", {}).items()):
        cmds.append(c.CreateRole(name, tuple(sorted(set(perms)))))
    for d in doc.get("domains", []):
        cmds.append(c.CreateDomain(d["id"], d["default_role"]))
    for a in doc.get("assets", []):
        name, domain = ids.split_asset(a["id"])
        cmds.append(c.CreateAsset(name, domain, int(a["precision"])))
    defaults = {d["id"]: d["default_role"] for d in doc.get("domains", [])}
    for acct in doc["accounts"]:
        name, domain = ids.split_account(acct["id"])
        cmds.append(c.CreateAccount(name, domain, bytes.fromhex(acct["public_key"])))
        roles = acct.get("roles")
        if roles:
            for role in roles:
                if role != defaults.get(domain):
                    cmds.append(c.AppendRole(acct["id"], role))
            if defaults.get(domain) not in roles:
                cmds.append(c.DetachRole(acct["id"], defaults[domain]))
    for p in doc.get("peers", []):
        cmds.append(c.AddPeer(p["address"], bytes.fromhex(p["public_key"]), p["name"], bool(p.get("syncing", False))))
    return cmds


def genesis_transactions(genesis: Genesis) -> list[Transaction]:
    """One setup transaction, then one per funded account minting its opening balances."""
    doc = genesis.document
    first = doc["accounts"][0]["id"]
    try:
        txs = [_unsigned(genesis, first, _setup_commands(doc))]
        for acct in doc["accounts"]:
            mint = [c.AddAssetQuantity(asset, ids.check_amount(amount))
                    for asset, amount in sorted(acct.get("balances", {}).items())]
            if mint:
                txs.append(_unsigned(genesis, acct["id"], mint))
    except (KeyError, ValueError, TypeError, LedgerError) as exc:
        raise GenesisError("bad_genesis", f"genesis file is invalid: {exc}") from exc
    return txs


def _unsigned(genesis: Genesis, creator: str, commands: Sequence[c.Command]) -> Transaction:
    return build_transaction(TxPayload(genesis.chain_id, creator, genesis.created_ms, 1, tuple(commands)))
