"""The ledger: build, validate, execute and commit blocks on top of the LevelDB store.

A block from elsewhere goes through ``validate_block``, a pipeline as in the Ethereum execution specs'
``state_transition``: check the header against the chain, execute the transactions through an
overlay, compare the rejected set and the state root. Consensus votes between that and ``commit``,
which writes everything in one synced batch once the block is decided (block sync, holding the
certificate already, calls the two back to back). Execution never writes the database; only
``commit`` does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from consensus import codec
from consensus.crypto import hash_bytes
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger.batches import apply_units, batch_of, split_block, units_of, whole_batches
from node.ledger.blocks import (
    ZERO_HASH,
    Block,
    BlockHeader,
    decode_stored_block,
    make_block,
    stored_transaction_bytes,
    tx_root,
)
from node.ledger.errors import InvalidBlock
from node.ledger.execution import Executor, TxResult, payment_keys
from node.ledger.genesis import (
    BulkAccounts,
    Genesis,
    GenesisError,
    bulk_account_chunks,
    bulk_accounts,
    genesis_transactions,
)
from node.ledger.limits import MAX_BLOCK_BYTES
from node.ledger.payments import index_payments
from node.ledger.records import Asset
from node.ledger.state import CommittedCache, KeyValueReader, StateView, StoredWorld, next_state_root
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, decode_transaction
from node.ledger.validation import VerifiedSignatures
from storage import keys
from storage.db import ChainMismatch, Head, LedgerStore, PublishedState

META_CHAIN_ID = keys.META_CHAIN_ID
META_GENESIS = keys.META_GENESIS
# Written (synced) before a bulk-account import starts: a restart that finds it but no head knows the
# rows already in the database came from this genesis file, not from another one.
META_GENESIS_IMPORT = keys.META_GENESIS_IMPORT

# A block whose execution read at least this many keys from LevelDB (not from the decoded cache) makes
# the next block list its payment rows and fetch them in one ascending pass first. With a state that
# fits the cache (1,000 accounts) the listing would be pure cost; with a million it saves ~9 us per
# transfer (docs/benchmarks.md).
PREFETCH_MIN_READS = 256

log = logging.getLogger("bakong.ledger")
# Block bytes besides the transactions: the outer record, and a header whose hashes, keys, height and
# time take < 300 bytes. Per transaction: its bin header (5) and, if rejected, its hash in the header (34).
BLOCK_FIXED_BYTES = 1024
TX_OVERHEAD_BYTES = 5 + 34


def genesis_fingerprint(genesis: Genesis) -> bytes:
    """Identifies the genesis document regardless of JSON formatting."""
    return hash_bytes(json.dumps(genesis.document, sort_keys=True, separators=(",", ":")).encode())


@dataclass(frozen=True)
class TxStatusRecord:
    """Where a transaction landed and how it ended."""

    height: int
    index: int
    result: TxResult


@dataclass
class BlockExecution:
    """What executing a block produced; enough to commit it without executing again."""

    height: int
    results: list[TxResult]
    world_writes: dict[bytes, bytes | None]
    decoded_writes: dict[bytes, Any]
    state_root: bytes
    peers_touched: bool = False
    """A peer command applied in this block: the node must re-read its peer set."""
    left_out: tuple[bytes, ...] = ()
    """Candidates the proposer left out because their creator's signatories do not sign them (enough):
    they could never be in a valid block as they stand (``UNSIGNED_CODES``); the mempool may drop them."""


UNSIGNED_CODES = frozenset({e.NOT_A_SIGNATORY, e.QUORUM_NOT_MET})
"""A transaction rejected for one of these is not authorised by its creator's signatories as the block
holds it. Such a block is invalid rather than the transaction REJECTED: the hash covers the payload, not
the signatures, and a REJECTED hash is final, so a proposer that stripped or replaced signatures could
otherwise void a payment its creator did sign (issue 14, finding 7; docs/ledger.md, "Signatures")."""


def unsigned(result: TxResult) -> bool:
    """Rejected by the transaction-level signature check (not by one of its commands)."""
    return result.command_index is None and result.error_code in UNSIGNED_CODES


class ChainReader:
    """Reads of the committed chain over one key-value source: the live store or a published snapshot."""

    def __init__(self, store: KeyValueReader) -> None:
        self.store = store
        self.world = StoredWorld(store)
        """The committed world state as typed records, read from the database: safe from any thread
        (the decoded cache belongs to the thread that executes blocks)."""

    def block(self, height: int) -> Block | None:
        raw = self.store.get(keys.block(height))
        return None if raw is None else decode_stored_block(raw)

    def block_bytes(self, height: int) -> bytes | None:
        return self.store.get(keys.block(height))

    def certificate(self, height: int) -> bytes | None:
        return self.store.get(keys.certificate(height))

    def known_among(self, tx_hashes: Iterable[bytes]) -> set[bytes]:
        """Which of ``tx_hashes`` are in the chain, looked up in one ascending pass (``get_sorted``).

        Most hashes a node checks are new, i.e. absent from the tx index; LevelDB charges each such
        ``get`` to a table file and compacts files that collect enough charges (docs/benchmarks.md,
        "seek compaction"), which made a growing database ever dearer to write."""
        index_keys = sorted({keys.tx_index(h) for h in tx_hashes})
        found = self.store.get_sorted(index_keys)
        skip = len(keys.TX_INDEX)
        return {key[skip:] for key, value in zip(index_keys, found, strict=True) if value is not None}

    def tx_status(self, tx_hash: bytes) -> TxStatusRecord | None:
        raw = self.store.get(keys.tx_index(tx_hash))
        if raw is None:
            return None
        height, index, *result = codec.decode_trusted(raw)
        return TxStatusRecord(height, index, TxResult.from_array(result))

    def transaction(self, tx_hash: bytes) -> tuple[Transaction, TxStatusRecord] | None:
        status = self.tx_status(tx_hash)
        if status is None:
            return None
        return self.transaction_at(status.height, status.index), status

    def transaction_at(self, height: int, index: int) -> Transaction:
        """The transaction at a committed position, decoding only it (not its whole block)."""
        return self.transactions_at([(height, index)])[0]

    def transactions_at(self, positions: list[tuple[int, int]]) -> list[Transaction]:
        """The transactions at committed positions, in order. Each block is read and unpacked once: a
        history page's rows mostly share a few blocks of up to 5,000 transactions."""
        blocks: dict[int, list[bytes]] = {}
        found = []
        for height, index in positions:
            txs = blocks.get(height)
            if txs is None:
                raw = self.block_bytes(height)
                assert raw is not None, f"no stored block at committed height {height}"
                txs = blocks[height] = stored_transaction_bytes(raw)
            found.append(decode_transaction(txs[index]))
        return found

    def state(self, key: bytes) -> Any:
        """A committed world-state value as a typed record (``self.world``'s), or None."""
        return self.world.get(key)

    def balances(self, account_id: str) -> dict[str, int]:
        prefix = keys.balances_prefix(account_id)
        return {k[len(prefix):].decode(): codec.decode_trusted(v) for k, v in self.store.scan(prefix)}


class PublishedChain(ChainReader):
    """The chain as one finished commit left it: its head, and rows that agree with that head."""

    def __init__(self, state: PublishedState) -> None:
        super().__init__(state)
        self.head = state.head


class Ledger(ChainReader):
    """One node's copy of the chain and world state."""

    store: LedgerStore  # the live database (a ChainReader may read a snapshot instead)

    # 50,000 decoded entries (~300 B each): every hot record of a 1,000-account network fits; with a
    # million accounts random transfers rarely hit it anyway, and 200,000 cost ~40 MB more RSS per node.
    def __init__(self, store: LedgerStore, chain_id: str, *, cache_capacity: int = 50_000) -> None:
        super().__init__(store)
        self.chain_id = chain_id
        self.committed = CommittedCache(store, cache_capacity)
        self._store_reads_last_block = PREFETCH_MIN_READS  # unknown yet: start by prefetching
        self.verified = VerifiedSignatures()
        self._head_time_ms: int | None = None
        stored_chain = store.get(META_CHAIN_ID)
        if stored_chain is not None and stored_chain.decode() != chain_id:
            raise ChainMismatch(f"database belongs to chain {stored_chain.decode()!r}, config says {chain_id!r}")

    # ---- chain position ----

    @property
    def head(self) -> Head:
        head = self.store.head
        if head is None:
            raise RuntimeError("the ledger has no genesis block yet")
        return head

    def ensure_genesis(self, genesis: Genesis) -> None:
        """Commit block 0 on an empty database, or check the database was made from this genesis.

        Block 0 holds the ordinary genesis transactions. A ``bulk_accounts`` section is then imported by
        writing its rows directly, chunk by chunk (one unsynced WriteBatch per chunk, nothing kept in the
        decoded cache), and the state root is chained over the chunks in order:
        ``root = next_state_root(root, chunk)``, starting from the root of the genesis transactions. The
        genesis block's header carries the final root, so the block hash covers every bulk account.

        Crash safety: the head record is written only by the final commit of block 0 (synced; a synced
        LevelDB write makes every earlier write durable too). A crash during the import leaves rows but no
        head and no genesis record, so the next start redoes the whole import; the rows are a pure function
        of the genesis file, so rewriting them is idempotent. ``META_GENESIS_IMPORT`` refuses to resume
        over rows of a different genesis file."""
        fingerprint = genesis_fingerprint(genesis)
        stored = self.store.get(META_GENESIS)
        if stored is not None:
            if stored != fingerprint:
                raise ChainMismatch("the database was created from a different genesis file")
            return
        if self.store.head is not None:
            raise ChainMismatch("the database has blocks but no genesis record")
        marker = self.store.get(META_GENESIS_IMPORT)
        if marker is not None and marker != fingerprint:  # checked even when this genesis has no bulk section
            raise ChainMismatch("the data directory holds an unfinished import of a different genesis file; "
                                "remove it and start again")
        started = time.monotonic()
        txs = tuple(genesis_transactions(genesis))
        execution = self.execute(0, genesis.created_ms, txs, genesis=True, prev_root=ZERO_HASH)
        failed = [(i, r) for i, r in enumerate(execution.results) if r.status != TxStatus.COMMITTED]
        if failed:
            index, result = failed[0]
            raise GenesisError("bad_genesis",
                               f"genesis transaction {index} fails: {result.error_code} {result.message}")
        bulk = bulk_accounts(genesis)
        if bulk is not None and bulk.count:
            execution.state_root = self._import_bulk_accounts(bulk, execution.state_root, fingerprint)
        header = BlockHeader(0, ZERO_HASH, genesis.created_ms, b"", tx_root(txs), execution.state_root, ())
        extra = {META_CHAIN_ID: self.chain_id.encode(), META_GENESIS: fingerprint}
        self.commit(make_block(header, txs), execution, b"", extra=extra)
        log.info("genesis committed: %d transactions, %d bulk accounts, in %.1f s", len(txs),
                 bulk.count if bulk else 0, time.monotonic() - started)

    def _import_bulk_accounts(self, bulk: BulkAccounts, root: bytes, fingerprint: bytes) -> bytes:
        """Write the bulk accounts' rows (without a head) and return the state root chained over them."""
        self.store.put_durable(META_GENESIS_IMPORT, fingerprint)
        # LedgerStore.commit always moves the head, which must wait for the end of the import: write the
        # chunks as head-less, unsynced batches (the final commit's sync covers them).
        started = time.monotonic()
        done = 0
        for writes in bulk_account_chunks(bulk):
            root = next_state_root(root, writes)
            self.store.put_rows(writes)
            done += len(writes)
        # Compact once now: the import leaves millions of rows spread over overlapping level-0 files, and
        # random reads of them cost 10-14 us each; compacted, 4.5 us (1,000,000 accounts: 0.75 s).
        self.store.compact()
        # The genesis execution may have cached "absent" for keys the import just wrote: forget it all
        # (commit() then caches the ordinary genesis writes; bulk rows are read from LevelDB on demand).
        self.committed.clear()
        log.info("genesis bulk import: %d accounts (%d rows) in %.1f s", bulk.count, done,
                 time.monotonic() - started)
        return root

    # ---- execution ----

    def execute(self, height: int, created_ms: int, txs: tuple[Transaction, ...] | list[Transaction], *,
                genesis: bool = False, prev_root: bytes | None = None,
                replays_checked: bool = False) -> BlockExecution:
        """Run ``txs`` against the committed state; raises InvalidBlock on a replayed transaction.

        ``replays_checked``: the caller (``build_block``) has just filtered out known and repeated
        hashes on this thread, so the per-transaction index look-up need not run twice."""
        if not replays_checked:
            seen: set[bytes] = set()
            known = self.known_among(tx.hash for tx in txs)
            for tx in txs:
                if tx.hash in seen or tx.hash in known:
                    raise InvalidBlock("replayed_transaction", f"transaction {tx.hash.hex()} is already in the chain")
                seen.add(tx.hash)
        reads_before = self.committed.reads
        if not genesis and self._store_reads_last_block >= PREFETCH_MIN_READS:
            self.committed.prefetch(payment_keys(txs))
        units = split_block(txs)  # InvalidBlock unless every batch is whole and in order
        view = StateView(self.committed)
        executor = Executor(view, created_ms, genesis=genesis, height=height)
        if len(units) == len(txs):  # no batch of two or more: the common case, straight through
            results = [executor.apply(tx) for tx in txs]
        else:
            results = apply_units(units, executor.apply, view.begin_batch, view.end_batch)
        if not genesis:
            self._store_reads_last_block = self.committed.reads - reads_before
        world_writes = view.write_set()
        root = next_state_root(self.head.state_root if prev_root is None else prev_root, world_writes)
        return BlockExecution(height, results, world_writes, view.decoded_writes(), root, executor.peers_touched)

    def build_block(self, txs: list[Transaction], created_ms: int, proposer: bytes,
                    max_bytes: int = MAX_BLOCK_BYTES) -> tuple[Block, BlockExecution]:
        """The proposer's side of execute-then-vote: run the candidates and seal the outcome in a header.

        The block is bounded in bytes as well as in count: candidates are taken in order while the
        block, counted as if every one of them were rejected (a 34-byte hash each in the header), stays
        within ``max_bytes``; the first that does not fit ends the block and waits in the mempool."""
        head = self.head
        created_ms = max(created_ms, self._head_time())
        # A candidate list may repeat a transaction (e.g. resubmitted with other signatures): keep the first.
        unique: dict[bytes, Transaction] = {}
        known = self.known_among(tx.hash for tx in txs)
        for tx in txs:
            if tx.hash not in unique and tx.hash not in known:
                unique[tx.hash] = tx
        # A batch goes in whole or waits (node.ledger.batches), so the byte budget counts units.
        budget = max_bytes - BLOCK_FIXED_BYTES
        fresh: list[Transaction] = []
        candidates = list(unique.values())
        units = units_of(whole_batches(candidates)) if any(map(batch_of, candidates)) else [[tx] for tx in candidates]
        for unit in units:
            budget -= sum(len(tx.encode()) + TX_OVERHEAD_BYTES for tx in unit)
            if budget < 0:
                break
            fresh += unit
        execution = self.execute(head.height + 1, created_ms, fresh, replays_checked=True)
        left_out = {tx.hash for tx, r in zip(fresh, execution.results, strict=True) if unsigned(r)}
        if left_out:  # rare: intake checks signers; the state changed since (e.g. a signatory removed)
            # A transaction refused by the signature check applied nothing, so leaving it out changes no
            # other outcome: one more execution without them gives the block's results. A batch with
            # such a member is left out whole (the others' results would differ without it).
            left_out = {tx.hash for unit in units_of(fresh) if any(t.hash in left_out for t in unit) for tx in unit}
            fresh = [tx for tx in fresh if tx.hash not in left_out]
            execution = self.execute(head.height + 1, created_ms, fresh, replays_checked=True)
            execution.left_out = tuple(tx.hash for tx in unique.values() if tx.hash in left_out)
        rejected = tuple(tx.hash for tx, r in zip(fresh, execution.results, strict=True)
                         if r.status != TxStatus.COMMITTED)
        header = BlockHeader(head.height + 1, head.block_hash, created_ms, proposer, tx_root(fresh),
                             execution.state_root, rejected)
        block = make_block(header, tuple(fresh))
        if len(block.encode()) > max_bytes:  # the accounting above is wrong: our bug, never the peer's
            raise AssertionError(f"built a block of {len(block.encode())} bytes over the limit {max_bytes}")
        return block, execution

    def validate_block(self, block: Block, *, verify_signatures: bool = True) -> BlockExecution:
        """A validator's (or syncing node's) side: recompute and compare, raising InvalidBlock on any difference."""
        head = self.head
        h = block.header
        if h.height != head.height + 1:
            raise InvalidBlock("wrong_height", f"block height {h.height}, expected {head.height + 1}")
        if h.prev_hash != head.block_hash:
            raise InvalidBlock("wrong_parent", "block does not extend the current head")
        if tx_root(block.transactions) != h.tx_root:
            raise InvalidBlock("bad_tx_root", "the transactions do not match the header's tx_root")
        if h.created_ms < self._head_time():
            raise InvalidBlock("time_went_back", "block time is before its parent's")
        for tx in block.transactions:
            if tx.binds_chain and tx.payload.chain_id != self.chain_id:
                raise InvalidBlock("wrong_chain", "block holds a transaction for another chain")
            if not verify_signatures:
                continue
            try:
                self.verified.check(tx)
            except Exception as exc:  # a StatelessError: the proposer included a badly signed tx
                raise InvalidBlock("bad_transaction_signature", str(exc)) from exc
        execution = self.execute(h.height, h.created_ms, block.transactions)
        for tx, r in zip(block.transactions, execution.results, strict=True):
            if unsigned(r):
                raise InvalidBlock("unsigned_transaction", f"transaction {tx.hash.hex()[:16]}... is not signed by "
                                   f"its creator's signatories ({r.error_code}); an honest proposer leaves it out")
        rejected = tuple(tx.hash for tx, r in zip(block.transactions, execution.results, strict=True)
                         if r.status != TxStatus.COMMITTED)
        if rejected != h.rejected:
            raise InvalidBlock("rejected_mismatch", "our execution rejects a different set of transactions")
        if execution.state_root != h.state_root:
            raise InvalidBlock("state_root_mismatch", "our execution gives a different state root")
        return execution

    # ---- commit ----

    def commit(self, block: Block, execution: BlockExecution, certificate: bytes,
               extra: dict[bytes, bytes] | None = None) -> None:
        """Everything of the block in one synced batch: block, certificate, indexes, world state, head.

        The payment look-ups (``node.ledger.payments``) are indexes like the others: in this batch, so they
        exist exactly when the block does, whichever path (consensus or block sync) commits it."""
        height = block.height
        writes: dict[bytes, bytes | None] = dict(execution.world_writes)
        writes[keys.block(height)] = block.encode()
        writes[keys.block_hash(block.hash)] = keys.height_bytes(height)
        if certificate:
            writes[keys.certificate(height)] = certificate

        def precision_of(asset_id: str) -> int:
            # An asset's precision never changes; one created by this very block is in its writes.
            key = keys.asset(asset_id)
            asset = execution.decoded_writes.get(key) or self.committed.get(key)
            assert isinstance(asset, Asset), f"committed transfer of unknown asset {asset_id}"
            return asset.precision

        committed: list[tuple[int, Transaction]] = []
        for index, (tx, result) in enumerate(zip(block.transactions, execution.results, strict=True)):
            writes[keys.tx_index(tx.hash)] = codec.encode_trusted([height, index, *result.to_array()])
            if result.status == TxStatus.COMMITTED:
                self._index_history(writes, tx, height, index)
                committed.append((index, tx))
        index_payments(writes, committed, height, block.header.created_ms, precision_of)
        if extra:
            writes.update(extra)
        self.store.commit(writes, Head(height, block.hash, execution.state_root))
        self.committed.apply(execution.decoded_writes)
        self.verified.forget(block.transactions)
        self._head_time_ms = block.header.created_ms

    @staticmethod
    def _index_history(writes: dict[bytes, bytes | None], tx: Transaction, height: int, index: int) -> None:
        creator = tx.payload.creator
        accounts = {creator}
        pairs: set[tuple[str, str]] = set()
        for cmd in tx.payload.commands:
            if isinstance(cmd, c.TransferAsset):
                accounts.add(cmd.src_account_id)
                accounts.add(cmd.dest_account_id)
                pairs.add((cmd.src_account_id, cmd.asset_id))
                pairs.add((cmd.dest_account_id, cmd.asset_id))
            elif isinstance(cmd, (c.AddAssetQuantity, c.SubtractAssetQuantity)):
                pairs.add((creator, cmd.asset_id))
            elif isinstance(cmd, (c.FreezeAccount, c.UnfreezeAccount)):
                accounts.add(cmd.account_id)  # the account's history is its freeze audit trail
        # The key says it all (account, [asset,] position): an empty value saves the 4 x 32 bytes of hashes
        # a transfer used to store, 437 -> 306 table bytes per transfer (queries read the block instead).
        position = keys.tx_position(height, index)
        for account in accounts:
            writes[keys.account_tx_at(account, position)] = b""
        for account, asset in pairs:
            writes[keys.account_asset_tx_at(account, asset, position)] = b""

    # ---- reads ----

    def _head_time(self) -> int:
        """The head block's timestamp: block times never go backwards."""
        if self._head_time_ms is None:
            head = self.store.head
            block = None if head is None else self.block(head.height)
            self._head_time_ms = 0 if block is None else block.header.created_ms
        return self._head_time_ms

    def published(self) -> PublishedChain:
        """The chain as of the last finished commit, frozen: what the API and queries answer from."""
        return PublishedChain(self.store.published())
