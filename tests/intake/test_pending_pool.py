"""The pending pool's own rules (node/intake/pending.py), on a real LevelDB in a temp dir: its bounds in
count, bytes and per creator (and that what leaves frees its share), replacement by a copy with more
signatures, what survives in the store and what is forgotten, and what waits for whose signature."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.intake.admission import Admission, Source, Verdict
from node.intake.mempool import Mempool
from node.intake.pending import (
    DEFAULT_EXPIRY_MS,
    PendingAccountLimit,
    PendingFull,
    PendingPool,
    restore_pending,
)
from node.ledger import commands as c
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from storage import keys
from storage.db import LedgerStore
from tests.ledger_world import CHAIN, KHR, Chain, key

ALICE, BOB = key("alice@aclb"), key("bob@aclb")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    s = LedgerStore(tmp_path / "db")
    yield s
    s.close()


def tx(n: int, creator: str = "alice@aclb", signer: str = "alice@aclb", memo: str = "") -> Transaction:
    payload = TxPayload(CHAIN, creator, 1_764_000_000_000 + n, 2,
                        (c.TransferAsset(creator, "carol@abaa", KHR, memo, "1.00"),))
    return build_transaction(payload, key(signer))


def pool(store: LedgerStore | None, **limits: int) -> PendingPool:
    return PendingPool(store, **{"max_txs": 10, "max_bytes": 100_000, "max_per_account": 10, **limits})


def test_irohas_expiry_and_the_refusals_http_statuses() -> None:
    assert DEFAULT_EXPIRY_MS == 1_440 * 60 * 1000  # Iroha's default MST expiry, 1,440 minutes
    assert (PendingFull.code, PendingFull.http_status) == ("pending_full", 503)
    assert (PendingAccountLimit.code, PendingAccountLimit.http_status) == ("pending_account_limit", 429)
    assert pool(None).expiry_ms == DEFAULT_EXPIRY_MS


def test_the_count_bound_and_what_leaving_frees(store: LedgerStore) -> None:
    p = pool(store, max_txs=2)
    a, b, third = tx(1), tx(2), tx(3)
    p.put(a, 100)
    p.put(b, 100)
    with pytest.raises(PendingFull):
        p.put(third, 100)  # exactly at the bound: refused
    assert p.take(a.hash) == a and p.take(a.hash) is None
    p.put(third, 100)  # a place freed
    assert len(p) == 2 and third.hash in p


def test_the_byte_bound_counts_replacements_and_frees_on_take(store: LedgerStore) -> None:
    p = pool(store, max_bytes=1_000)
    a, b = tx(1), tx(2)
    p.put(a, 600)
    with pytest.raises(PendingFull):
        p.put(b, 401)  # 1,001 > 1,000
    p.put(b, 400)  # exactly 1,000 fits
    p.put(a, 600)  # an identical copy of what waits (a re-gossiped repeat) changes nothing
    grown = a.merged_with(build_transaction(a.payload, BOB))  # a copy with a second signature
    with pytest.raises(PendingFull):
        p.put(grown, 601)  # a's copy grows by 1 byte: 1,001
    p.put(grown, 600)  # the same size: still 1,000
    p.take(b.hash)
    p.put(tx(3), 400)  # b's 400 bytes were freed
    with pytest.raises(PendingFull):
        p.put(tx(4), 1)


def test_the_per_creator_bound_and_what_leaving_frees(store: LedgerStore) -> None:
    p = pool(store, max_per_account=2)
    first, second = tx(1), tx(2)
    p.put(first, 10)
    p.put(second, 10)
    with pytest.raises(PendingAccountLimit):
        p.put(tx(3), 10)
    p.put(tx(4, creator="bob@aclb", signer="bob@aclb"), 10)  # another creator has its own share
    p.put(first, 10)  # a replacement takes no new place
    p.take(first.hash)
    p.put(tx(5), 10)  # alice's freed place
    p.take(second.hash)
    p.take(tx(5).hash)
    p.put(tx(6), 10)
    p.put(tx(7), 10)  # both places back once every entry of hers left
    with pytest.raises(PendingAccountLimit):
        p.put(tx(8), 10)


def test_the_store_keeps_what_waits_and_forgets_what_left(store: LedgerStore) -> None:
    p = pool(store)
    a, b, gone = tx(1), tx(2), tx(3)
    for t in (a, b, gone):
        p.put(t, 10)
    p.take(gone.hash)
    assert sorted(p.stored_rows()) == sorted([a.encode(), b.encode()])
    p.settled([a.hash, tx(9).hash])  # a reached a block through another node; tx 9 was never here
    assert p.stored_rows() == [b.encode()] and len(p) == 1
    p.forget_stored([b.hash])
    assert list(store.scan(keys.PENDING)) == []
    assert pool(None).stored_rows() == []


def test_what_waits_for_whose_signature(store: LedgerStore) -> None:
    p = pool(store)
    by_alice, by_bob = tx(1), tx(2, creator="bob@aclb", signer="bob@aclb")
    p.put(by_alice, 10)
    p.put(by_bob, 10)
    assert p.for_signatory(BOB.public_key) == [by_alice]  # bob has not signed alice's yet
    assert p.for_signatory(ALICE.public_key) == [by_bob]
    assert p.for_signatory(BOB.public_key, "alice@aclb") == [by_alice]
    assert p.for_signatory(BOB.public_key, "bob@aclb") == []  # his own already carries his signature
    assert p.for_signatory(key("carol@abaa").public_key, "bob@aclb") == [by_bob]


def test_a_restart_forgets_stored_copies_that_are_settled(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    try:
        chain.run(chain.tx("alice@aclb", c.AddSignatory("alice@aclb", BOB.public_key),
                           c.SetAccountQuorum("alice@aclb", 2)))
        store = chain.ledger.store
        waiting, done = tx(1), tx(2)
        first = pool(store)
        admission = Admission(chain.ledger, Mempool(100, 1_000_000), CHAIN, pending=first)
        chain.now = 1_764_000_000_000
        for t in (waiting, done):
            [outcome] = admission.admit([t.encode()], chain.now, Source.CLIENT)
            assert outcome.verdict is Verdict.PENDING
        # done gets its second signature elsewhere and commits while this node is down
        chain.run(done.merged_with(tx(2, signer="bob@aclb")))
        again = pool(store)
        assert restore_pending(Admission(chain.ledger, Mempool(100, 1_000_000), CHAIN, pending=again),
                               chain.now) == 1
        assert waiting.hash in again and done.hash not in again
        assert again.stored_rows() == [waiting.encode()]  # the settled copy's row is gone
        assert restore_pending(Admission(chain.ledger, Mempool(100, 1_000_000), CHAIN), chain.now) == 0
    finally:
        chain.close()


def test_a_pool_without_a_store_keeps_its_entries_in_memory_alone() -> None:
    p = pool(None, max_per_account=1)
    a = tx(1)
    p.put(a, 10)
    with pytest.raises(PendingAccountLimit):
        p.put(tx(2), 10)
    p.settled([a.hash])
    p.put(tx(2), 10)  # settling freed alice's one place
    assert p.take(tx(2).hash) == tx(2) and len(p) == 0
    p.forget_stored([a.hash])  # nothing stored: nothing to do
    assert p.stored_rows() == []
