"""Answers to queries: what each of Iroha 1's 13 queries may read and the JSON it answers with.

An ``Answers`` reads one published state of the chain (``Ledger.published()``), so a page never mixes
two blocks and no answer shows a transaction in a block the node's head does not name yet. Each answer
first checks the querier's permission (``node.ledger.permissions``' check, in Iroha's scopes: own
account / own domain / all), then reads typed records (``node.ledger.records``). Authentication and
dispatch are ``node.ledger.queries``' business: here the creator is already known to have signed.

Privacy (docs/ledger.md, "Who sees which transaction"): a transaction is shown whole only to a querier
that may see its creator's transactions (its creator, or a querier whose scope covers the creator);
anyone else sees only the commands that name an account in its scope, the rest redacted. A transaction
a querier may not see answers exactly like a missing one, so hashes tell nothing about existence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from consensus import codec
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger import ids
from node.ledger.blocks import Block
from node.ledger.chain import PublishedChain, TxStatusRecord
from node.ledger.errors import QueryError
from node.ledger.permissions import has_permission, query_scopes
from node.ledger.records import Peer, get_account, get_asset, require_account, require_asset, require_role
from node.ledger.transactions import Transaction
from storage import keys

if TYPE_CHECKING:  # queries.py imports this module to dispatch; the query types are annotations here
    from node.ledger.queries import (
        GetAccount,
        GetAccountAssets,
        GetAccountAssetTransactions,
        GetAccountDetail,
        GetAccountTransactions,
        GetAssetInfo,
        GetBlock,
        GetPeers,
        GetPendingTransactions,
        GetRolePermissions,
        GetRoles,
        GetSignatories,
        GetTransactions,
    )

PendingSource = Callable[[str], list[Transaction]]
"""The transactions of one creator waiting in this node's mempool."""
Sees = Callable[[str], bool]
"""Whether a querier's scope covers an account."""


def command_parties(cmd: c.Command) -> tuple[str, ...]:
    """The accounts a command names as the ones it acts on (a transfer's both ends)."""
    if isinstance(cmd, c.TransferAsset):
        return cmd.src_account_id, cmd.dest_account_id
    account_id = getattr(cmd, "account_id", None)
    return (account_id,) if isinstance(account_id, str) else ()


class Answers:
    """The answers to queries from one creator, read from one published state of the chain."""

    def __init__(self, chain: PublishedChain, creator: str, pending: PendingSource) -> None:
        self.chain = chain
        self.world = chain.world
        self.creator = creator
        self.pending = pending

    # ---- permissions ----

    def _has(self, permission: str) -> bool:
        return has_permission(self.world, get_account(self.world, self.creator), permission)

    def _require(self, permission: str) -> None:
        if not self._has(permission):
            raise QueryError(e.PERMISSION_DENIED, f"{permission} needed")

    def _sees(self, my: str | None, domain: str | None, all_: str) -> Sees:
        """Which accounts' transactions the querier's permissions cover: all, its domain's, or its own."""
        if self._has(all_) or self._has("can_get_all_txs"):
            return lambda _account: True
        if domain is not None and self._has(domain):
            own = ids.account_domain(self.creator)
            return lambda account: ids.account_domain(account) == own
        me = self.creator
        return lambda account: account == me

    def _tx_json(self, tx: Transaction, status: TxStatusRecord, sees: Sees) -> dict[str, Any]:
        """The transaction as this querier may see it: whole if its creator is in scope, else only the
        commands naming an account in scope (``command_indices`` says where they were, ``redacted``
        how many others there are)."""
        if sees(tx.creator):
            return _tx_json(tx, status)
        commands = tx.payload.commands
        shown = [i for i, cmd in enumerate(commands) if any(sees(a) for a in command_parties(cmd))]
        return {**_tx_json(tx, status), "commands": [commands[i].to_json() for i in shown],
                "command_indices": shown, "redacted": len(commands) - len(shown)}

    def _require_scoped(self, target: str, base: str) -> None:
        """Reading ``base`` of account ``target`` needs the all, the domain or the own-account scope."""
        my, domain, all_ = query_scopes(base)
        if self._has(all_):
            return
        same_domain = ids.account_domain(self.creator) == ids.account_domain(target)
        if same_domain and self._has(domain):
            return
        if self.creator == target and self._has(my):
            return
        raise QueryError(e.PERMISSION_DENIED, f"{self.creator} may not read {base} of {target}")

    # ---- accounts ----

    def account(self, q: GetAccount) -> dict[str, Any]:
        self._require_scoped(q.account_id, "accounts")
        account = require_account(self.world, q.account_id, QueryError)
        return {"account": {"account_id": q.account_id, "domain_id": ids.account_domain(q.account_id),
                            "quorum": account.quorum, "roles": list(account.roles),
                            "frozen": None if account.frozen is None else {
                                "height": account.frozen.height, "by": account.frozen.by,
                                "reason": account.frozen.reason}}}

    def account_assets(self, q: GetAccountAssets) -> dict[str, Any]:
        self._require_scoped(q.account_id, "acc_ast")
        require_account(self.world, q.account_id, QueryError)
        prefix = keys.balances_prefix(q.account_id)
        start = prefix + q.first.encode() if q.first else None
        rows = list(self.chain.store.scan(prefix, start=start, limit=q.page_size + 1))
        assets = []
        for k, v in rows[: q.page_size]:
            asset_id = k[len(prefix):].decode()
            asset = get_asset(self.world, asset_id)
            precision = 0 if asset is None else asset.precision
            assets.append({"asset_id": asset_id, "balance": ids.format_amount(codec.decode_trusted(v), precision)})
        nxt = rows[q.page_size][0][len(prefix):].decode() if len(rows) > q.page_size else None
        return {"account_id": q.account_id, "assets": assets, "next": nxt}

    def account_detail(self, q: GetAccountDetail) -> dict[str, Any]:
        self._require_scoped(q.account_id, "acc_detail")
        require_account(self.world, q.account_id, QueryError)
        prefix = keys.details_prefix(q.account_id)
        scan = prefix if q.writer is None else keys.detail(q.account_id, q.writer, "")
        start = None
        if q.first is not None:
            writer, _, key = q.first.partition("/")
            start = keys.detail(q.account_id, writer, key)
        details: dict[str, dict[str, str]] = {}
        shown, nxt = 0, None
        for k, v in self.chain.store.scan(scan, start=start):
            writer, _, key = k[len(prefix):].decode().partition("\x00")
            if q.key is not None and key != q.key:
                continue
            if shown == q.page_size:
                nxt = f"{writer}/{key}"
                break
            details.setdefault(writer, {})[key] = codec.decode_trusted(v)
            shown += 1
        return {"account_id": q.account_id, "details": details, "next": nxt}

    def signatories(self, q: GetSignatories) -> dict[str, Any]:
        self._require_scoped(q.account_id, "signatories")
        account = require_account(self.world, q.account_id, QueryError)
        return {"account_id": q.account_id, "keys": [k.hex() for k in account.signatories]}

    # ---- transactions ----

    def account_transactions(self, q: GetAccountTransactions) -> dict[str, Any]:
        self._require_scoped(q.account_id, "acc_txs")
        require_account(self.world, q.account_id, QueryError)
        prefix = keys.account_txs_prefix(q.account_id)
        sees = self._sees(*query_scopes("acc_txs"))
        return {"account_id": q.account_id, **self._tx_page(prefix, q.page_size, q.first, sees)}

    def account_asset_transactions(self, q: GetAccountAssetTransactions) -> dict[str, Any]:
        self._require_scoped(q.account_id, "acc_ast_txs")
        require_account(self.world, q.account_id, QueryError)
        prefix = keys.account_asset_txs_prefix(q.account_id, q.asset_id)
        sees = self._sees(*query_scopes("acc_ast_txs"))
        return {"account_id": q.account_id, "asset_id": q.asset_id,
                **self._tx_page(prefix, q.page_size, q.first, sees)}

    def transactions(self, q: GetTransactions) -> dict[str, Any]:
        may_all = self._has("can_get_all_txs")
        if not may_all and not self._has("can_get_my_txs"):
            raise QueryError(e.PERMISSION_DENIED, f"{self.creator} may not read transactions")
        # Iroha's scopes for this query are own (can_get_my_txs) and all; one's own covers the
        # transactions one created whole and the commands naming one's account in others'.
        sees = self._sees(None, None, "can_get_all_txs")
        out = []
        for h in q.tx_hashes:
            found = self.chain.transaction(bytes.fromhex(h))
            visible = found is not None and (
                sees(found[0].creator) or any(sees(a) for cmd in found[0].payload.commands
                                              for a in command_parties(cmd)))
            if found is None or not visible:  # the same answer: a hash tells nothing about existence
                raise QueryError(e.NO_SUCH_TRANSACTION, f"no transaction {h} visible to {self.creator}")
            out.append(self._tx_json(*found, sees))
        return {"transactions": out}

    def pending_transactions(self, q: GetPendingTransactions) -> dict[str, Any]:
        # The mempool drops a block's transactions on the event loop just after the commit publishes
        # the block; in between, a transaction would be listed here and be in the chain. Answer as of
        # the published state, like every other query: what it holds is not pending.
        waiting = self.pending(self.creator)
        in_chain = self.chain.known_among(tx.hash for tx in waiting)
        pending = [tx for tx in waiting if tx.hash not in in_chain]
        if q.first is not None:
            hashes = [tx.hash.hex() for tx in pending]
            pending = pending[hashes.index(q.first):] if q.first in hashes else []
        page = pending[: q.page_size]
        nxt = pending[q.page_size].hash.hex() if len(pending) > q.page_size else None
        return {"transactions": [tx.to_json() for tx in page], "next": nxt}

    def _tx_page(self, prefix: bytes, page_size: int, first: str | None, sees: Sees) -> dict[str, Any]:
        start = None
        if first is not None:
            status = self.chain.tx_status(bytes.fromhex(first))
            # A cursor outside this history answers like an unknown one: no existence oracle.
            start = None if status is None else prefix + keys.tx_position(status.height, status.index)
            if start is None or self.chain.store.get(start) is None:
                raise QueryError(e.NO_SUCH_TRANSACTION, f"cursor transaction {first} is not in this history")
        rows = list(self.chain.store.scan(prefix, start=start, reverse=True, limit=page_size + 1))
        # A history row's key ends with the transaction's position; its value is not read (empty since
        # 2026-11-27, the transaction's hash before).
        found = self.chain.transactions_at([keys.position_of(key) for key, _value in rows])
        txs = []
        for tx in found[:page_size]:
            status = self.chain.tx_status(tx.hash)
            assert status is not None, "a committed transaction has no index entry"
            txs.append(self._tx_json(tx, status, sees))
        nxt = found[page_size].hash.hex() if len(found) > page_size else None
        return {"transactions": txs, "next": nxt}

    # ---- assets, roles, blocks, peers ----

    def asset_info(self, q: GetAssetInfo) -> dict[str, Any]:
        self._require("can_read_assets")
        asset = require_asset(self.world, q.asset_id, QueryError)
        return {"asset": {"asset_id": q.asset_id, "domain_id": ids.asset_domain(q.asset_id),
                          "precision": asset.precision}}

    def roles(self, q: GetRoles) -> dict[str, Any]:
        self._require("can_get_roles")
        return {"roles": [k[len(keys.ROLE):].decode() for k, _v in self.chain.store.scan(keys.ROLE)]}

    def role_permissions(self, q: GetRolePermissions) -> dict[str, Any]:
        self._require("can_get_roles")
        role = require_role(self.world, q.role_name, QueryError)
        return {"role": q.role_name, "permissions": role.to_array()}

    def block(self, q: GetBlock) -> dict[str, Any]:
        self._require("can_get_blocks")
        block = self.chain.block(q.height)
        if block is None:
            raise QueryError(e.NO_SUCH_BLOCK, f"no block at height {q.height}")
        return {"block": block_json(block)}

    def peers(self, q: GetPeers) -> dict[str, Any]:
        self._require("can_get_peers")
        return {"peers": [
            {"public_key": p.public_key.hex(), "address": p.address, "name": p.name, "syncing": p.syncing}
            for _key, p in self.world.scan(keys.PEER) if isinstance(p, Peer)
        ]}


def _tx_json(tx: Transaction, status: TxStatusRecord) -> dict[str, Any]:
    return {**tx.to_json(), "height": status.height, "status": status.result.status,
            "error_code": status.result.error_code}


def block_json(block: Block) -> dict[str, Any]:
    h = block.header
    return {
        "height": h.height,
        "hash": block.hash.hex(),
        "prev_hash": h.prev_hash.hex(),
        "created_ms": h.created_ms,
        "proposer": h.proposer.hex(),
        "tx_root": h.tx_root.hex(),
        "state_root": h.state_root.hex(),
        "rejected": [x.hex() for x in h.rejected],
        "transactions": [tx.to_json() for tx in block.transactions],
    }
