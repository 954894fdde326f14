"""Reading a block's payment rows in one ascending pass (``CommittedCache.prefetch``) changes no outcome.

Execution fetches the accounts and balances of a block's transfers through one LevelDB iterator when
the previous block read many keys from the store. A wrong or stale value there would change results
and state roots, so a ledger that prefetches and one that never does must agree block by block, over
transfers that commit, overdraw, name missing accounts and land on balances that do not exist yet.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from node.ledger import chain as ledger_module
from node.ledger import commands as c
from node.ledger.chain import Ledger
from node.ledger.genesis import parse_genesis
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from storage import keys
from storage.db import LedgerStore
from tests.ledger_world import CHAIN, GENESIS_MS, KHR, USD, genesis_document, key

BULK = 20_000  # so most rows a block reads are not cached yet, as with a million accounts
BULK_KEY = key("bulk")
PROPOSER = key("peer:nbc").public_key


def bulk_account(i: int) -> str:
    return f"c{i}@{'aclb' if i % 2 == 0 else 'abaa'}"


def open_ledger(path: Path) -> Ledger:
    spec = {"count": BULK, "name_prefix": "c", "domains": ["aclb", "abaa"], "public_key": BULK_KEY.public_key.hex(),
            "role": "customer", "balances": {KHR: "40.00"}}  # no USD rows: USD credits create them
    ledger = Ledger(LedgerStore(path), CHAIN)
    ledger.ensure_genesis(parse_genesis(genesis_document(bulk_accounts=spec)))
    return ledger


def payments(rng: random.Random, count: int, created_ms: int, population: int = BULK) -> list[Transaction]:
    """``count`` transfers among the first ``population`` bulk accounts (plus a few special cases)."""
    txs = []
    for n in range(count):
        src, dest = bulk_account(rng.randrange(population)), bulk_account(rng.randrange(population))
        kind = n % 10
        if kind == 0:
            dest = f"nobody{n}@aclb"                      # no such account: rejected
        amount = "55.00" if kind == 1 else f"{rng.randint(1, 900) / 100:.2f}"  # kind 1 overdraws 40.00 KHR
        asset = KHR
        if kind == 2:
            src, dest, asset = "alice@aclb", bulk_account(rng.randrange(population)), USD  # creates dest's USD row
        payload = TxPayload(CHAIN, src, created_ms + n, 1, (c.TransferAsset(src, dest, asset, "p", amount),))
        txs.append(build_transaction(payload, key("alice@aclb") if src == "alice@aclb" else BULK_KEY))
    return txs


def counting_state_reads(store: LedgerStore) -> list[int]:
    """Count point reads of account and balance rows (instrumentation; the store stays real)."""
    seen = [0]
    plain_get = store.get

    def get(row_key: bytes) -> bytes | None:
        if row_key[:1] in (keys.ACCOUNT, keys.BALANCE):
            seen[0] += 1
        return plain_get(row_key)

    store.get = get  # type: ignore[method-assign]
    return seen


def test_a_prefetching_ledger_and_a_plain_one_agree_on_every_block(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    prefetching, plain = open_ledger(tmp_path / "a"), open_ledger(tmp_path / "b")
    try:
        never = 10**12
        gets_a, gets_b = counting_state_reads(prefetching.store), counting_state_reads(plain.store)
        rng = random.Random(5)
        for height in range(1, 5):
            created = GENESIS_MS + height * 10_000
            txs = payments(rng, 400, created)
            before_a, before_b = gets_a[0], gets_b[0]
            block, built = prefetching.build_block(txs, created + 5_000, PROPOSER)
            monkeypatch.setattr(ledger_module, "PREFETCH_MIN_READS", never)
            checked = plain.validate_block(block)  # raises on any different result or state root
            monkeypatch.undo()
            assert [r.to_array() for r in checked.results] == [r.to_array() for r in built.results]
            statuses = {r.status for r in built.results}
            assert TxStatus.COMMITTED in statuses and len(statuses) > 1  # some commit, some are rejected
            prefetching.commit(block, built, b"")
            plain.commit(block, checked, b"")
            # The plain ledger read every uncached row with its own get; the prefetching one fetched them
            # through its iterator, so its gets stayed few.
            assert gets_b[0] - before_b > 1_000
            assert gets_a[0] - before_a < 50
        assert prefetching.head == plain.head
        for i in range(0, BULK, 97):
            assert prefetching.balances(bulk_account(i)) == plain.balances(bulk_account(i))
    finally:
        prefetching.store.close()
        plain.store.close()


def test_a_state_that_fits_the_cache_is_soon_read_from_memory_only(tmp_path: Path) -> None:
    # Payments among 2,000 accounts touch ~6,000 rows, well inside the ledger's 50,000-entry decoded
    # cache: once the first blocks have read them, later blocks must find them in memory and stop
    # reading ahead. (A version that kept prefetched rows out of the cache re-read ~4,000 rows from
    # LevelDB on every block, for good.)
    ledger = open_ledger(tmp_path / "db")
    try:
        rng = random.Random(11)
        reads = []
        for height in range(1, 9):
            created = GENESIS_MS + height * 10_000
            before = ledger.committed.reads
            txs = payments(rng, 2_000, created, population=2_000)
            block, execution = ledger.build_block(txs, created + 5_000, PROPOSER)
            ledger.commit(block, execution, b"")
            reads.append(ledger.committed.reads - before)
        assert reads[0] > 2_000, reads  # the first block reads its rows from LevelDB
        # The last blocks hardly do: only rows no block had touched yet (missing accounts, new USD rows).
        assert max(reads[-3:]) < 300, reads
    finally:
        ledger.store.close()


def test_get_sorted_answers_like_get_for_present_and_absent_keys(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path / "db")
    store = ledger.store
    try:
        rows: dict[bytes, bytes] = {b"Aa": b"1", b"Aa\x00x": b"2", b"Ab": b"3", b"Mz": b"4"}
        store.put_rows(rows)
        asked = sorted([b"A", b"Aa", b"Aa\x00", b"Aa\x00x", b"Ab", b"Aba", b"M", b"Mz", b"Mzz", b"\xff\xff"])
        assert store.get_sorted(asked) == [store.get(k) for k in asked]
        assert store.get_sorted([]) == []
        published = store.published()  # taken at genesis, before the rows above
        assert published.get_sorted(asked) == [published.get(k) for k in asked]
        assert published.get_sorted([b"Aa", b"Mz"]) == [None, None]
    finally:
        store.close()


def test_known_among_names_exactly_the_transactions_in_the_chain(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path / "db")
    try:
        created = GENESIS_MS + 10_000
        txs = payments(random.Random(9), 30, created)
        block, execution = ledger.build_block(txs[:20], created + 5_000, PROPOSER)
        ledger.commit(block, execution, b"")
        in_block = {tx.hash for tx in txs[:20]}  # committed and rejected ones alike
        asked = [tx.hash for tx in txs] + [tx.hash for tx in txs[:3]]  # repeats are fine
        assert ledger.known_among(asked) == in_block
        assert ledger.published().known_among(asked) == in_block
        assert ledger.known_among([]) == set()
        # A proposer leaves out what the chain already holds.
        again, _ = ledger.build_block(txs[18:25], created + 6_000, PROPOSER)
        assert [tx.hash for tx in again.transactions] == [tx.hash for tx in txs[20:25]]
    finally:
        ledger.store.close()
