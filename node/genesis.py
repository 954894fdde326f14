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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node import commands as c
from node import ids
from node.blocks import ZERO_HASH, Block, BlockHeader, make_block, tx_root
from node.errors import LedgerError
from node.transactions import Transaction, TxPayload, build_transaction


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
    if not isinstance(doc, dict) or not isinstance(doc.get("chain_id"), str) or not isinstance(doc.get("created_ms"), int):
        raise GenesisError("bad_genesis", "genesis needs a chain_id string and a created_ms integer")
    if not doc["chain_id"].isascii() or not 1 <= len(doc["chain_id"]) <= 64:
        raise GenesisError("bad_genesis", "chain_id must be 1..64 ASCII characters")
    if not doc.get("accounts"):
        raise GenesisError("bad_genesis", "genesis needs at least one account")
    return Genesis(doc["chain_id"], doc["created_ms"], doc)


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


def _unsigned(genesis: Genesis, creator: str, commands: list[c.Command]) -> Transaction:
    return build_transaction(TxPayload(genesis.chain_id, creator, genesis.created_ms, 1, tuple(commands)))


def build_genesis_block(genesis: Genesis, execute: Any) -> Block:
    """Build block 0: ``execute(txs)`` must return the state root the transactions produce."""
    txs = tuple(genesis_transactions(genesis))
    root = execute(txs)
    header = BlockHeader(0, ZERO_HASH, genesis.created_ms, b"", tx_root(txs), root, ())
    return make_block(header, txs)
