"""Iroha 1.6's queries answered from one published state of the ledger (docs/iroha.md, "Torii queries").

``IrohaAnswers(chain, creator).answer(payload)`` fills a ``QueryResponse`` for an authenticated query
payload (``node.api.torii.query_auth`` checked its signature, window, counter and signatory), or raises
``Refusal``: an ``ErrorResponse`` with Iroha's reason and code. Permissions are the ledger's own, which
follow Iroha's model (own account / own domain / all, ``node.ledger.permissions``); codes are those
Iroha's query executor answers with: 2 no permission, 3 invalid height, 4 bad pagination cursor or
hash, 5 no such account, 6 no such asset; a missing account, asset or role in the single-item queries
answers with Iroha's NO_ACCOUNT / NO_SIGNATORIES / NO_ACCOUNT_DETAIL / NO_ASSET / NO_ROLES, code 0.
Heights are Iroha's (genesis = 1); pagination cursors of transaction pages are ledger ids (an Iroha
transaction's id is its Iroha hash).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consensus import codec
from node.api.torii.iroha_render import (
    block_message,
    ledger_height,
    rendered_transaction,
    standard_key_text,
    transaction_message,
)
from node.ledger import ids
from node.ledger.answers import command_parties
from node.ledger.batches import batch_of, reduced_hash_of
from node.ledger.chain import PublishedChain
from node.ledger.errors import StatelessError
from node.ledger.iroha_proto import primitive_pb2, qry_responses_pb2, queries_pb2
from node.ledger.permissions import has_permission, query_scopes
from node.ledger.records import Peer, get_account, get_asset, get_role
from node.ledger.transactions import Transaction
from storage import keys

ErrorReason = qry_responses_pb2.ErrorResponse
NO_PERMISSION = 2
INVALID_HEIGHT = 3
BAD_CURSOR = 4
"""GetTransactions: a hash unknown or not visible; pages: a first hash / asset / record not there."""
NO_ACCOUNT_ID = 5
NO_ASSET_ID = 6
Position = tuple[int, int]
"""(height, index) of a committed transaction."""


@dataclass
class Refusal(Exception):
    """A query answered with an ``ErrorResponse``."""

    reason: ErrorReason.Reason.ValueType
    code: int
    message: str

    def response(self) -> qry_responses_pb2.QueryResponse:
        answer = qry_responses_pb2.QueryResponse()
        answer.error_response.reason = self.reason
        answer.error_response.error_code = self.code
        answer.error_response.message = self.message
        return answer


def stateless(message: str) -> Refusal:
    return Refusal(ErrorReason.STATELESS_INVALID, 0, message)


def stateful(code: int, message: str) -> Refusal:
    return Refusal(ErrorReason.STATEFUL_INVALID, code, message)


def _check(check: Callable[[str], str], value: str) -> str:
    """A field Iroha's stateless validator checks (account and asset ids)."""
    try:
        return check(value)
    except StatelessError as exc:
        raise stateless(exc.message) from None


def _page_size(page_size: int) -> int:
    if page_size <= 0:
        raise stateless("page_size must be a positive number")
    return page_size


def _ms(stamp: Any) -> int:
    return int(stamp.seconds) * 1000 + int(stamp.nanos) // 1_000_000


def _batches(txs: list[Transaction]) -> list[list[Transaction]]:
    """Waiting transactions grouped as Iroha pages them: the members of one batch together, in the
    batch's order, at the place of the first to arrive; every other transaction alone."""
    groups: list[list[Transaction]] = []
    by_batch: dict[tuple[bytes, ...], list[Transaction]] = {}
    for tx in txs:
        meta = batch_of(tx)
        if meta is None:
            groups.append([tx])
            continue
        group = by_batch.get(meta.reduced_hashes)
        if group is None:
            group = by_batch[meta.reduced_hashes] = []
            groups.append(group)
        group.append(tx)
    for members, group in by_batch.items():
        group.sort(key=lambda tx: members.index(reduced_hash_of(tx)))
    return groups


class IrohaAnswers:
    """The answers to one creator's queries, read from one published state of the chain."""

    def __init__(self, chain: PublishedChain, creator: str,
                 pending: Callable[[str], list[Transaction]] = lambda _creator: []) -> None:
        self.chain = chain
        self.world = chain.world
        self.creator = creator
        self.pending = pending
        """The transactions an account created that wait for signatures on this node, oldest first."""

    def answer(self, payload: queries_pb2.Query.Payload) -> qry_responses_pb2.QueryResponse:
        which = payload.WhichOneof("query")
        if which is None:
            raise stateless("the query payload names no query")
        answer: Callable[[Any], qry_responses_pb2.QueryResponse] = getattr(self, which)
        return answer(getattr(payload, which))

    # ---- permissions ----

    def _has(self, permission: str) -> bool:
        return has_permission(self.world, get_account(self.world, self.creator), permission)

    def _require(self, *permissions: str) -> None:
        if not any(self._has(p) for p in permissions):
            raise stateful(NO_PERMISSION, f"user must have at least one of the permissions: {', '.join(permissions)}")

    def _require_scoped(self, target: str, base: str) -> None:
        """Iroha's three scopes: the own account, the own domain, all."""
        my, domain, all_ = query_scopes(base)
        if self._has(all_):
            return
        if ids.account_domain(self.creator) == ids.account_domain(target) and self._has(domain):
            return
        if self.creator == target and self._has(my):
            return
        raise stateful(NO_PERMISSION, f"user must have at least one of the permissions: {my}, {domain}, {all_}")

    def _sees(self, base: str) -> Callable[[str], bool]:
        """Whose transactions the querier may see whole under ``base``'s scopes."""
        _my, domain, all_ = query_scopes(base)
        if self._has(all_) or self._has("can_get_all_txs"):
            return lambda _account: True
        if self._has(domain):
            own = ids.account_domain(self.creator)
            return lambda account: ids.account_domain(account) == own
        me = self.creator
        return lambda account: account == me

    # ---- accounts ----

    def get_account(self, q: queries_pb2.GetAccount) -> qry_responses_pb2.QueryResponse:
        account_id = _check(ids.check_account_id, q.account_id)
        self._require_scoped(account_id, "accounts")
        account = get_account(self.world, account_id)
        if account is None:
            raise Refusal(ErrorReason.NO_ACCOUNT, 0, f"could find account with such id: {account_id}")
        out = qry_responses_pb2.QueryResponse()
        r = out.account_response
        r.account.account_id = account_id
        r.account.domain_id = ids.account_domain(account_id)
        r.account.quorum = account.quorum
        r.account.json_data = json.dumps(self._details(account_id), separators=(",", ":"))
        r.account_roles.extend(account.roles)
        return out

    def _detail_rows(self, account_id: str) -> list[tuple[str, str, str]]:
        """(writer, key, value) of every detail of the account, in (writer, key) order."""
        prefix = keys.details_prefix(account_id)
        rows = []
        for k, v in self.chain.store.scan(prefix):
            writer, _, key = k[len(prefix):].decode().partition("\x00")
            rows.append((writer, key, codec.decode_trusted(v)))
        return rows

    def _details(self, account_id: str, rows: list[tuple[str, str, str]] | None = None) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for writer, key, value in self._detail_rows(account_id) if rows is None else rows:
            out.setdefault(writer, {})[key] = value
        return out

    def get_signatories(self, q: queries_pb2.GetSignatories) -> qry_responses_pb2.QueryResponse:
        account_id = _check(ids.check_account_id, q.account_id)
        self._require_scoped(account_id, "signatories")
        account = get_account(self.world, account_id)
        if account is None:
            raise Refusal(ErrorReason.NO_SIGNATORIES, 0, f"no signatories found in account with such id: {account_id}")
        out = qry_responses_pb2.QueryResponse()
        out.signatories_response.keys.extend(standard_key_text(k) for k in account.signatories)
        return out

    def get_account_assets(self, q: queries_pb2.GetAccountAssets) -> qry_responses_pb2.QueryResponse:
        account_id = _check(ids.check_account_id, q.account_id)
        paged = q.HasField("pagination_meta")
        page_size = _page_size(q.pagination_meta.page_size) if paged else None
        has_first = paged and q.pagination_meta.HasField("opt_first_asset_id")
        first = q.pagination_meta.first_asset_id if has_first else None
        self._require_scoped(account_id, "acc_ast")
        prefix = keys.balances_prefix(account_id)
        rows = [(k[len(prefix):].decode(), v) for k, v in self.chain.store.scan(prefix)]
        start = 0
        if first is not None:
            found = [i for i, (asset_id, _v) in enumerate(rows) if asset_id == first]
            if not found:
                raise stateful(BAD_CURSOR, f"no asset {first} in the balances of {account_id}")
            start = found[0]
        end = len(rows) if page_size is None else start + page_size
        out = qry_responses_pb2.QueryResponse()
        r = out.account_assets_response
        for asset_id, value in rows[start:end]:
            asset = get_asset(self.world, asset_id)
            balance = ids.format_amount(codec.decode_trusted(value), 0 if asset is None else asset.precision)
            r.account_assets.add(asset_id=asset_id, account_id=account_id, balance=balance)
        r.total_number = len(rows)
        if end < len(rows):
            r.next_asset_id = rows[end][0]
        return out

    def get_account_detail(self, q: queries_pb2.GetAccountDetail) -> qry_responses_pb2.QueryResponse:
        account_id = _check(ids.check_account_id, q.account_id) if q.HasField("opt_account_id") else self.creator
        writer = q.writer if q.HasField("opt_writer") else None
        key = q.key if q.HasField("opt_key") else None
        paged = q.HasField("pagination_meta")
        page_size = _page_size(q.pagination_meta.page_size) if paged else None
        self._require_scoped(account_id, "acc_detail")
        if get_account(self.world, account_id) is None:
            raise Refusal(ErrorReason.NO_ACCOUNT_DETAIL, 0, f"no details in account with such id: {account_id}")
        rows = [r for r in self._detail_rows(account_id)
                if (writer is None or r[0] == writer) and (key is None or r[1] == key)]
        start = 0
        if paged and q.pagination_meta.HasField("first_record_id"):
            # Iroha: the first record names what the query itself leaves open.
            first = q.pagination_meta.first_record_id
            at = (first.writer or writer or "", first.key or key or "")
            found = [i for i, r in enumerate(rows) if (r[0], r[1]) == at]
            if not found:
                raise stateful(BAD_CURSOR, f"no detail record {at[0]}/{at[1]} of {account_id}")
            start = found[0]
        end = len(rows) if page_size is None else start + page_size
        out = qry_responses_pb2.QueryResponse()
        r = out.account_detail_response
        r.detail = json.dumps(self._details(account_id, rows[start:end]), separators=(",", ":"))
        r.total_number = len(rows)
        if end < len(rows):
            r.next_record_id.writer, r.next_record_id.key = rows[end][0], rows[end][1]
        return out

    # ---- transactions ----

    def get_account_transactions(self, q: queries_pb2.GetAccountTransactions) -> qry_responses_pb2.QueryResponse:
        account_id = _check(ids.check_account_id, q.account_id)
        meta = q.pagination_meta
        page_size = _page_size(meta.page_size)
        self._require_scoped(account_id, "acc_txs")
        # "Account transactions" in Iroha are the ones the account created; our history of an account
        # also holds transfers others sent it, so the creator filter is applied here.
        history = self._history(keys.account_txs_prefix(account_id), meta, lambda tx: tx.creator == account_id)
        def missing() -> Refusal | None:
            if get_account(self.world, account_id) is None:
                return stateful(NO_ACCOUNT_ID, f"no account with such id found: {account_id}")
            return None

        return self._page(history, meta, page_size, transaction_message, missing)

    def get_account_asset_transactions(
        self, q: queries_pb2.GetAccountAssetTransactions
    ) -> qry_responses_pb2.QueryResponse:
        account_id = _check(ids.check_account_id, q.account_id)
        asset_id = _check(ids.check_asset_id, q.asset_id)
        meta = q.pagination_meta
        page_size = _page_size(meta.page_size)
        self._require_scoped(account_id, "acc_ast_txs")
        sees = self._sees("acc_ast_txs")

        def shown(tx: Transaction) -> Any:
            # Privacy as the native API has it (docs/ledger.md): a transaction another account created
            # is shown whole only if the querier may see that creator's transactions, else only the
            # commands naming an account in the querier's scope (a rendering, without signatures).
            if sees(tx.creator):
                return transaction_message(tx)
            visible = [cmd for cmd in tx.payload.commands if any(sees(a) for a in command_parties(cmd))]
            return rendered_transaction(tx, visible)

        def missing() -> Refusal | None:
            if get_account(self.world, account_id) is None:
                return stateful(NO_ACCOUNT_ID, f"no account with such id found: {account_id}")
            if get_asset(self.world, asset_id) is None:
                return stateful(NO_ASSET_ID, f"no asset with such id found: {asset_id}")
            return None

        history = self._history(keys.account_asset_txs_prefix(account_id, asset_id), meta, None)
        return self._page(history, meta, page_size, shown, missing)

    def _history(self, prefix: bytes, meta: queries_pb2.TxPaginationMeta,
                 keep: Callable[[Transaction], bool] | None) -> tuple[list[Position], dict[Position, Transaction]]:
        """The positions of the history rows under ``prefix`` that ``keep`` keeps within the meta's height
        and time ranges, in Iroha's order (the client's ordering, then position ascending, which Iroha
        appends), and the transactions it had to read to know that. Only a creator filter, a time range
        or an ordering by created time needs the transactions; otherwise a page reads its own alone."""
        first_h = ledger_height(meta.first_tx_height) if meta.HasField("opt_first_tx_height") else None
        last_h = ledger_height(meta.last_tx_height) if meta.HasField("opt_last_tx_height") else None
        positions = [keys.position_of(k) for k, _v in self.chain.store.scan(prefix)]
        positions = [p for p in positions
                     if (first_h is None or p[0] >= first_h) and (last_h is None or p[0] <= last_h)]
        first_t = _ms(meta.first_tx_time) if meta.HasField("opt_first_tx_time") else None
        last_t = _ms(meta.last_tx_time) if meta.HasField("opt_last_tx_time") else None
        # A field named twice, or position after the client's own position entry, cannot change the
        # order (the first occurrence decides every tie the later one could), so no de-duplication.
        order = [(entry.field, entry.direction) for entry in meta.ordering.sequence]
        order.append((queries_pb2.kPosition, queries_pb2.kAscending))
        known: dict[Position, Transaction] = {}
        needs_txs = keep is not None or first_t is not None or last_t is not None or any(
            field == queries_pb2.kCreatedTime for field, _d in order)
        if needs_txs:
            for p, tx in zip(positions, self.chain.transactions_at(positions), strict=True):
                if (keep is None or keep(tx)) and (first_t is None or tx.payload.created_ms >= first_t) \
                        and (last_t is None or tx.payload.created_ms <= last_t):
                    known[p] = tx
            positions = [p for p in positions if p in known]

        def sort_key(position: Position) -> tuple[int, ...]:
            height, index = position
            out: list[int] = []
            for field, direction in order:
                sign = -1 if direction == queries_pb2.kDescending else 1
                out.extend([sign * known[position].payload.created_ms] if field == queries_pb2.kCreatedTime
                           else [sign * height, sign * index])
            return (*out, index)

        positions.sort(key=sort_key)
        return positions, known

    def _page(self, history: tuple[list[Position], dict[Position, Transaction]],
              meta: queries_pb2.TxPaginationMeta, page_size: int, shown: Callable[[Transaction], Any],
              missing: Callable[[], Refusal | None]) -> qry_responses_pb2.QueryResponse:
        rows, known = history
        start = 0
        if meta.HasField("opt_first_tx_hash"):
            try:
                status = self.chain.tx_status(bytes.fromhex(meta.first_tx_hash))
            except ValueError:
                status = None
            at = {p: i for i, p in enumerate(rows)}.get((status.height, status.index)) if status else None
            if at is None:
                raise stateful(BAD_CURSOR, f"invalid pagination hash: {meta.first_tx_hash}")
            start = at
        elif not rows:
            refusal = missing()  # Iroha looks for a reason only when the history is empty
            if refusal is not None:
                raise refusal
        window = rows[start:start + page_size + 1]
        unread = [p for p in window if p not in known]
        known.update(zip(unread, self.chain.transactions_at(unread), strict=True))
        out = qry_responses_pb2.QueryResponse()
        r = out.transactions_page_response
        r.transactions.extend(shown(known[p]) for p in window[:page_size])
        r.all_transactions_size = len(rows)
        if len(window) > page_size:
            r.next_tx_hash = known[window[page_size]].hash.hex()
        return out

    def get_transactions(self, q: queries_pb2.GetTransactions) -> qry_responses_pb2.QueryResponse:
        hashes = []
        for text in q.tx_hashes:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise stateless(f"bad transaction hash {text!r}: 64 hex digits expected")
            hashes.append(raw)
        if not hashes:
            raise stateless("tx_hashes is empty")
        self._require("can_get_my_txs", "can_get_all_txs")
        everyone = self._has("can_get_all_txs")
        out = qry_responses_pb2.QueryResponse()
        for raw in hashes:
            found = self.chain.transaction(raw)
            # As Iroha: the whole transaction, to a querier who may read all, or to its creator.
            if found is None or not (everyone or found[0].creator == self.creator):
                raise stateful(BAD_CURSOR, "At least one of the supplied hashes is incorrect")
            out.transactions_response.transactions.append(transaction_message(found[0]))
        return out

    def get_pending_transactions(self, q: queries_pb2.GetPendingTransactions) -> qry_responses_pb2.QueryResponse:
        """What the querier's account created that waits for signatures, with the whole batches it has a
        member in (Iroha lists a pending batch to each of its creators), oldest first, whole batches only
        on a page."""
        waiting = self.pending(self.creator)
        in_chain = self.chain.known_among(tx.hash for tx in waiting)  # answered as of the published state
        waiting = [tx for tx in waiting if tx.hash not in in_chain]
        out = qry_responses_pb2.QueryResponse()
        if not q.HasField("pagination_meta"):  # Iroha's deprecated form answers a plain list
            out.transactions_response.transactions.extend(transaction_message(tx) for tx in waiting)
            return out
        meta = q.pagination_meta
        page_size = _page_size(meta.page_size)
        first_t = _ms(meta.first_tx_time) if meta.HasField("opt_first_tx_time") else None
        last_t = _ms(meta.last_tx_time) if meta.HasField("opt_last_tx_time") else None
        waiting = [tx for tx in waiting if (first_t is None or tx.payload.created_ms >= first_t)
                   and (last_t is None or tx.payload.created_ms <= last_t)]
        groups = _batches(waiting)
        start = 0
        if meta.HasField("opt_first_tx_hash"):
            found = [i for i, group in enumerate(groups) if group[0].hash.hex() == meta.first_tx_hash.lower()]
            if not found:
                raise stateful(BAD_CURSOR, "The batch with specified first transaction hash not found, the hash: "
                               + meta.first_tx_hash)
            start = found[0]
        r = out.pending_transactions_page_response
        r.all_transactions_size = len(waiting)
        taken = 0
        for group in groups[start:]:
            if taken + len(group) > page_size:  # a batch is never split over two pages
                r.next_batch_info.first_tx_hash = group[0].hash.hex()
                r.next_batch_info.batch_size = len(group)
                break
            r.transactions.extend(transaction_message(tx) for tx in group)
            taken += len(group)
        return out

    # ---- assets, roles, blocks, peers ----

    def get_asset_info(self, q: queries_pb2.GetAssetInfo) -> qry_responses_pb2.QueryResponse:
        asset_id = _check(ids.check_asset_id, q.asset_id)
        self._require("can_read_assets")
        asset = get_asset(self.world, asset_id)
        if asset is None:
            raise Refusal(ErrorReason.NO_ASSET, 0, f"no asset with such name: {asset_id}")
        out = qry_responses_pb2.QueryResponse()
        out.asset_response.asset.asset_id = asset_id
        out.asset_response.asset.domain_id = ids.asset_domain(asset_id)
        out.asset_response.asset.precision = asset.precision
        return out

    def get_roles(self, q: queries_pb2.GetRoles) -> qry_responses_pb2.QueryResponse:
        self._require("can_get_roles")
        out = qry_responses_pb2.QueryResponse()
        out.roles_response.roles.extend(k[len(keys.ROLE):].decode() for k, _v in self.chain.store.scan(keys.ROLE))
        return out

    def get_role_permissions(self, q: queries_pb2.GetRolePermissions) -> qry_responses_pb2.QueryResponse:
        self._require("can_get_roles")
        role = get_role(self.world, q.role_id)
        if role is None:
            raise Refusal(ErrorReason.NO_ROLES, 0, f"no role with such name: {q.role_id}")
        values = primitive_pb2.RolePermission.DESCRIPTOR.values_by_name
        out = qry_responses_pb2.QueryResponse()
        out.role_permissions_response.permissions.extend(
            primitive_pb2.RolePermission.ValueType(values[name].number)
            for name in sorted(role.permissions) if name in values)  # ours-only ones have no number
        return out

    def get_block(self, q: queries_pb2.GetBlock) -> qry_responses_pb2.QueryResponse:
        if q.height <= 0:
            raise stateless("Height should be > 0 (the genesis block is 1)")
        self._require("can_get_blocks")
        height = ledger_height(q.height)
        block = self.chain.block(height) if height <= self.chain.head.height else None
        if block is None:
            raise stateful(INVALID_HEIGHT, f"requested height ({q.height}) is greater than the ledger's one "
                           f"({self.chain.head.height + 1})")
        out = qry_responses_pb2.QueryResponse()
        out.block_response.block.CopyFrom(block_message(block, self.chain.certificate(height)))
        return out

    def get_peers(self, q: queries_pb2.GetPeers) -> qry_responses_pb2.QueryResponse:
        self._require("can_get_peers")
        out = qry_responses_pb2.QueryResponse()
        for _key, peer in self.world.scan(keys.PEER):
            if isinstance(peer, Peer):
                out.peers_response.peers.add(address=peer.address, peer_key=standard_key_text(peer.public_key),
                                             syncing_peer=peer.syncing)
        return out

    def get_engine_receipts(self, q: queries_pb2.GetEngineReceipts) -> qry_responses_pb2.QueryResponse:
        raise Refusal(ErrorReason.NOT_SUPPORTED, 0,
                      "GetEngineReceipts is not supported: this ledger runs no EVM (CallEngine is refused)")
