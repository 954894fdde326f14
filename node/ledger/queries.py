"""Signed queries (Iroha 1's 13), their permission checks and answers.

A query is ``[QUERY_TAG, 1, payload_bytes, public_key, signature]`` with payload
``[QUERY_PAYLOAD_TAG, 1, chain_id, creator, created_ms, counter, [query_tag, field, ...]]``, signed
under the QUERY domain so a query signature can never pass for a transaction's. The signer must be a
signatory of the creator; the creator's permissions decide what it may read, in Iroha's three scopes
(own account / own domain / all). Lists that grow (assets, transactions, details, pending) are paged:
``page_size`` items from the cursor ``first`` on, and the answer names the ``next`` cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consensus import codec
from consensus.crypto import Domain, KeyPair, hash_bytes, signing_digest, verify
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger import ids
from node.ledger.blocks import Block
from node.ledger.commands import CheckedRecord, record_from_array, record_from_json
from node.ledger.errors import QueryError, StatelessError
from node.ledger.chain import Ledger, PublishedChain, TxStatusRecord
from node.ledger.permissions import ROOT, query_scopes
from node.ledger.transactions import Transaction
from node.ledger.validation import check_time_window
from storage import keys

QUERY_TAG = 3
QUERY_PAYLOAD_TAG = 6
VERSION = 1
MAX_QUERY_BYTES = 16 * 1024
MAX_PAGE = 1000
# Queries are read-only, so a narrow window (+-5 min) is enough to stop an old one being replayed later.
QUERY_MAX_AGE_MS = 5 * 60 * 1000


def _page_size(v: Any) -> int:
    if type(v) is not int or not 1 <= v <= MAX_PAGE:
        raise StatelessError("bad_page_size", f"page_size must be 1..{MAX_PAGE}")
    return v


def _optional_str(v: Any) -> str | None:
    return None if v is None else c._str(v, 256)


def _optional_hash(v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is not str or len(v) != 64:
        raise StatelessError("bad_hash", "a transaction hash is 64 hex characters")
    try:
        bytes.fromhex(v)
    except ValueError:
        raise StatelessError("bad_hash", "a transaction hash is 64 hex characters") from None
    return v


def _hashes(v: Any) -> tuple[str, ...]:
    if type(v) not in (list, tuple) or not 1 <= len(v) <= MAX_PAGE:
        raise StatelessError("bad_hash", f"tx_hashes must be a list of 1..{MAX_PAGE} hashes")
    return tuple(_optional_hash(h) or "" for h in v)


def _height(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise StatelessError("bad_height", "height must be a non-negative integer")
    return v


@dataclass(frozen=True)
class Query(CheckedRecord):
    """Base of all queries."""


@dataclass(frozen=True)
class GetAccount(Query):
    TAG = 1
    account_id: str
    CHECKS = (c._account,)


@dataclass(frozen=True)
class GetAccountAssets(Query):
    TAG = 2
    account_id: str
    page_size: int
    first: str | None
    """Asset id to start from."""
    CHECKS = (c._account, _page_size, _optional_str)


@dataclass(frozen=True)
class GetAccountDetail(Query):
    TAG = 3
    account_id: str
    writer: str | None
    key: str | None
    CHECKS = (c._account, _optional_str, _optional_str)


@dataclass(frozen=True)
class GetAccountTransactions(Query):
    TAG = 4
    account_id: str
    page_size: int
    first: str | None
    """Hash of the transaction to start from (newest first)."""
    CHECKS = (c._account, _page_size, _optional_hash)


@dataclass(frozen=True)
class GetAccountAssetTransactions(Query):
    TAG = 5
    account_id: str
    asset_id: str
    page_size: int
    first: str | None
    CHECKS = (c._account, c._asset, _page_size, _optional_hash)


@dataclass(frozen=True)
class GetTransactions(Query):
    TAG = 6
    tx_hashes: tuple[str, ...]
    CHECKS = (_hashes,)


@dataclass(frozen=True)
class GetAssetInfo(Query):
    TAG = 7
    asset_id: str
    CHECKS = (c._asset,)


@dataclass(frozen=True)
class GetRoles(Query):
    TAG = 8
    CHECKS = ()


@dataclass(frozen=True)
class GetRolePermissions(Query):
    TAG = 9
    role_name: str
    CHECKS = (c._role,)


@dataclass(frozen=True)
class GetSignatories(Query):
    TAG = 10
    account_id: str
    CHECKS = (c._account,)


@dataclass(frozen=True)
class GetBlock(Query):
    TAG = 11
    height: int
    CHECKS = (_height,)


@dataclass(frozen=True)
class GetPeers(Query):
    TAG = 12
    CHECKS = ()


@dataclass(frozen=True)
class GetPendingTransactions(Query):
    TAG = 13
    page_size: int
    first: str | None
    CHECKS = (_page_size, _optional_hash)


QUERY_TYPES: dict[int, type[Query]] = {
    cls.TAG: cls
    for cls in (GetAccount, GetAccountAssets, GetAccountDetail, GetAccountTransactions, GetAccountAssetTransactions,
                GetTransactions, GetAssetInfo, GetRoles, GetRolePermissions, GetSignatories, GetBlock, GetPeers,
                GetPendingTransactions)
}
QUERIES_BY_NAME: dict[str, type[Query]] = {cls.__name__: cls for cls in QUERY_TYPES.values()}


def query_from_json(obj: Any) -> Query:
    return record_from_json(obj, QUERIES_BY_NAME, "query")


@dataclass(frozen=True)
class SignedQuery:
    chain_id: str
    creator: str
    created_ms: int
    counter: int
    query: Query
    payload_bytes: bytes
    public_key: bytes
    signature: bytes

    def encode(self) -> bytes:
        return codec.encode([QUERY_TAG, VERSION, self.payload_bytes, self.public_key, self.signature])


def sign_query(chain_id: str, creator: str, created_ms: int, counter: int, query: Query, key: KeyPair) -> SignedQuery:
    payload = codec.encode([QUERY_PAYLOAD_TAG, VERSION, chain_id, creator, created_ms, counter,
                            [list(x) if isinstance(x, tuple) else x for x in query.to_array()]])
    sig = key.sign(signing_digest(Domain.QUERY, chain_id, payload))
    return SignedQuery(chain_id, creator, created_ms, counter, query, payload, key.public_key, sig)


def decode_query(data: bytes) -> SignedQuery:
    try:
        f = codec.expect_record(codec.decode(data, MAX_QUERY_BYTES), QUERY_TAG, VERSION, 3, "query")
        payload_bytes = codec.expect_bytes(f[0], "payload", max_length=MAX_QUERY_BYTES)
        public_key = codec.expect_bytes(f[1], "public_key", 32)
        signature = codec.expect_bytes(f[2], "signature", 64)
        p = codec.expect_record(codec.decode(payload_bytes, MAX_QUERY_BYTES), QUERY_PAYLOAD_TAG, VERSION, 5, "payload")
        chain_id = codec.expect_str(p[0], "chain_id", 64)
        if not chain_id.isascii():
            raise codec.UnexpectedShape("chain_id: must be ASCII")
        creator = ids.check_account_id(codec.expect_str(p[1], "creator", 300))
        created_ms = codec.expect_int(p[2], "created_ms", 0, 2**63 - 1)
        counter = codec.expect_int(p[3], "counter", 0, 2**63 - 1)
    except codec.CodecError as exc:
        raise StatelessError(f"bad_encoding_{exc.code}", exc.message) from exc
    query = record_from_array(p[4], QUERY_TYPES, "query")
    return SignedQuery(chain_id, creator, created_ms, counter, query, payload_bytes, public_key, signature)


PendingSource = Callable[[str], list[Transaction]]


class QueryService:
    """Answers signed queries from the committed state of one ledger."""

    def __init__(self, ledger: Ledger, pending: PendingSource | None = None) -> None:
        self.ledger = ledger
        self.pending = pending or (lambda _creator: [])

    def answer(self, q: SignedQuery, now_ms: int) -> dict[str, Any]:
        # Every read of one query goes to one published state: a page never mixes two blocks, and no
        # answer shows a transaction in a block the node's head does not name yet.
        return _QueryRun(self.ledger.published(), self.ledger.chain_id, self.pending).answer(q, now_ms)


class _QueryRun:
    """One query answered against one published state of the chain."""

    def __init__(self, chain: PublishedChain, chain_id: str, pending: PendingSource) -> None:
        self.chain = chain
        self.chain_id = chain_id
        self.pending = pending

    # ---- checks ----

    def authenticate(self, q: SignedQuery, now_ms: int) -> None:
        if q.chain_id != self.chain_id:
            raise StatelessError("wrong_chain", f"query is for chain {q.chain_id!r}")
        if abs(q.created_ms - now_ms) > QUERY_MAX_AGE_MS:
            raise StatelessError("stale_query", "query created_ms is more than 5 minutes from now")
        check_time_window(q.created_ms, now_ms)
        if not verify(q.public_key, signing_digest(Domain.QUERY, q.chain_id, q.payload_bytes), q.signature):
            raise StatelessError("bad_signature", "query signature does not verify")
        account = self.chain.state(keys.account(q.creator))
        if account is None or q.public_key not in account[2]:
            raise QueryError(e.NOT_A_SIGNATORY, "the signing key is not a signatory of the query's creator")

    def _has(self, account_id: str, permission: str) -> bool:
        account = self.chain.state(keys.account(account_id))
        if account is None:
            return False
        for role in account[1]:
            perms = self.chain.state(keys.role(role)) or []
            if permission in perms or ROOT in perms:
                return True
        return False

    def _require(self, creator: str, permission: str) -> None:
        if not self._has(creator, permission):
            raise QueryError(e.PERMISSION_DENIED, f"{permission} needed")

    def _require_scoped(self, creator: str, target: str, base: str) -> None:
        my, domain, all_ = query_scopes(base)
        if self._has(creator, all_):
            return
        same_domain = ids.account_domain(creator) == ids.account_domain(target)
        if same_domain and self._has(creator, domain):
            return
        if creator == target and self._has(creator, my):
            return
        raise QueryError(e.PERMISSION_DENIED, f"{creator} may not read {base} of {target}")

    def _account(self, account_id: str) -> list[Any]:
        account = self.chain.state(keys.account(account_id))
        if account is None:
            raise QueryError(e.NO_SUCH_ACCOUNT, f"account {account_id} does not exist")
        return account  # type: ignore[no-any-return]

    # ---- answering ----

    def answer(self, q: SignedQuery, now_ms: int) -> dict[str, Any]:
        self.authenticate(q, now_ms)
        handler = getattr(self, "_" + type(q.query).__name__)
        result: dict[str, Any] = handler(q.creator, q.query)
        return {"type": type(q.query).__name__, **result}

    def _GetAccount(self, creator: str, q: GetAccount) -> dict[str, Any]:
        self._require_scoped(creator, q.account_id, "accounts")
        quorum, roles, _sigs = self._account(q.account_id)
        return {"account": {"account_id": q.account_id, "domain_id": ids.account_domain(q.account_id),
                            "quorum": quorum, "roles": roles}}

    def _GetAccountAssets(self, creator: str, q: GetAccountAssets) -> dict[str, Any]:
        self._require_scoped(creator, q.account_id, "acc_ast")
        self._account(q.account_id)
        prefix = keys.balances_prefix(q.account_id)
        start = prefix + q.first.encode() if q.first else None
        rows = list(self.chain.store.scan(prefix, start=start, limit=q.page_size + 1))
        assets = []
        for k, v in rows[: q.page_size]:
            asset_id = k[len(prefix):].decode()
            precision = (self.chain.state(keys.asset(asset_id)) or [0])[0]
            assets.append({"asset_id": asset_id, "balance": ids.format_amount(codec.decode_trusted(v), precision)})
        nxt = rows[q.page_size][0][len(prefix):].decode() if len(rows) > q.page_size else None
        return {"account_id": q.account_id, "assets": assets, "next": nxt}

    def _GetAccountDetail(self, creator: str, q: GetAccountDetail) -> dict[str, Any]:
        self._require_scoped(creator, q.account_id, "acc_detail")
        self._account(q.account_id)
        prefix = keys.details_prefix(q.account_id)
        details: dict[str, dict[str, str]] = {}
        for k, v in self.chain.store.scan(prefix):
            writer, _, key = k[len(prefix):].decode().partition("\x00")
            if (q.writer is None or writer == q.writer) and (q.key is None or key == q.key):
                details.setdefault(writer, {})[key] = codec.decode_trusted(v)
        return {"account_id": q.account_id, "details": details}

    def _tx_page(self, prefix: bytes, page_size: int, first: str | None) -> dict[str, Any]:
        start = None
        if first is not None:
            status = self.chain.tx_status(bytes.fromhex(first))
            if status is None:
                raise QueryError("no_such_transaction", f"cursor transaction {first} is unknown")
            start = prefix + keys.tx_position(status.height, status.index)
        rows = list(self.chain.store.scan(prefix, start=start, reverse=True, limit=page_size + 1))
        # A history row's key ends with the transaction's position; its value is not read (empty since
        # 2026-11-27, the transaction's hash before).
        found = self.chain.transactions_at([keys.position_of(key) for key, _value in rows])
        txs = []
        for tx in found[:page_size]:
            status = self.chain.tx_status(tx.hash)
            assert status is not None, "a committed transaction has no index entry"
            txs.append(self._tx_json(tx, status))
        nxt = found[page_size].hash.hex() if len(found) > page_size else None
        return {"transactions": txs, "next": nxt}

    @staticmethod
    def _tx_json(tx: Transaction, status: TxStatusRecord) -> dict[str, Any]:
        return {**tx.to_json(), "height": status.height, "status": status.result.status,
                "error_code": status.result.error_code}

    def _GetAccountTransactions(self, creator: str, q: GetAccountTransactions) -> dict[str, Any]:
        self._require_scoped(creator, q.account_id, "acc_txs")
        self._account(q.account_id)
        return {"account_id": q.account_id, **self._tx_page(keys.account_txs_prefix(q.account_id), q.page_size, q.first)}

    def _GetAccountAssetTransactions(self, creator: str, q: GetAccountAssetTransactions) -> dict[str, Any]:
        self._require_scoped(creator, q.account_id, "acc_ast_txs")
        self._account(q.account_id)
        prefix = keys.account_asset_txs_prefix(q.account_id, q.asset_id)
        return {"account_id": q.account_id, "asset_id": q.asset_id, **self._tx_page(prefix, q.page_size, q.first)}

    def _GetTransactions(self, creator: str, q: GetTransactions) -> dict[str, Any]:
        may_all = self._has(creator, "can_get_all_txs")
        may_mine = self._has(creator, "can_get_my_txs")
        out = []
        for h in q.tx_hashes:
            found = self.chain.transaction(bytes.fromhex(h))
            if found is None:
                raise QueryError("no_such_transaction", f"transaction {h} is not in the chain")
            tx, status = found
            if not (may_all or (may_mine and tx.creator == creator)):
                raise QueryError(e.PERMISSION_DENIED, f"{creator} may not read transaction {h}")
            out.append(self._tx_json(tx, status))
        return {"transactions": out}

    def _GetAssetInfo(self, creator: str, q: GetAssetInfo) -> dict[str, Any]:
        self._require(creator, "can_read_assets")
        asset = self.chain.state(keys.asset(q.asset_id))
        if asset is None:
            raise QueryError(e.NO_SUCH_ASSET, f"asset {q.asset_id} does not exist")
        return {"asset": {"asset_id": q.asset_id, "domain_id": ids.asset_domain(q.asset_id), "precision": asset[0]}}

    def _GetRoles(self, creator: str, q: GetRoles) -> dict[str, Any]:
        self._require(creator, "can_get_roles")
        return {"roles": [k[1:].decode() for k, _v in self.chain.store.scan(keys.ROLE)]}

    def _GetRolePermissions(self, creator: str, q: GetRolePermissions) -> dict[str, Any]:
        self._require(creator, "can_get_roles")
        perms = self.chain.state(keys.role(q.role_name))
        if perms is None:
            raise QueryError(e.NO_SUCH_ROLE, f"role {q.role_name} does not exist")
        return {"role": q.role_name, "permissions": perms}

    def _GetSignatories(self, creator: str, q: GetSignatories) -> dict[str, Any]:
        self._require_scoped(creator, q.account_id, "signatories")
        return {"account_id": q.account_id, "keys": [k.hex() for k in self._account(q.account_id)[2]]}

    def _GetBlock(self, creator: str, q: GetBlock) -> dict[str, Any]:
        self._require(creator, "can_get_blocks")
        block = self.chain.block(q.height)
        if block is None:
            raise QueryError(e.NO_SUCH_BLOCK, f"no block at height {q.height}")
        return {"block": block_json(block)}

    def _GetPeers(self, creator: str, q: GetPeers) -> dict[str, Any]:
        self._require(creator, "can_get_peers")
        peers = [
            {"public_key": k[1:].hex(), "address": p[0], "name": p[1], "syncing": p[2]}
            for k, p in ((k, codec.decode_trusted(v)) for k, v in self.chain.store.scan(keys.PEER))
        ]
        return {"peers": peers}

    def _GetPendingTransactions(self, creator: str, q: GetPendingTransactions) -> dict[str, Any]:
        # The mempool drops a block's transactions on the event loop just after the commit publishes
        # the block; in between, a transaction would be listed here and be in the chain. Answer as of
        # the published state, like every other query: what it holds is not pending.
        waiting = self.pending(creator)
        in_chain = self.chain.known_among(tx.hash for tx in waiting)
        pending = [tx for tx in waiting if tx.hash not in in_chain]
        if q.first is not None:
            hashes = [tx.hash.hex() for tx in pending]
            pending = pending[hashes.index(q.first):] if q.first in hashes else []
        page = pending[: q.page_size]
        nxt = pending[q.page_size].hash.hex() if len(pending) > q.page_size else None
        return {"transactions": [tx.to_json() for tx in page], "next": nxt}


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


__all__ = ["QueryService", "SignedQuery", "sign_query", "decode_query", "query_from_json", "hash_bytes"]
