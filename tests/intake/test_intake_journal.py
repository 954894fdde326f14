"""The intake journal on a real LevelDB: what the API accepted comes back into the mempool after a
restart, unless it is already in the chain or no longer valid, and rows go once a block holds them."""

from __future__ import annotations

from pathlib import Path

from node.intake.admission import Admission
from node.intake.journal import IntakeJournal
from node.intake.mempool import Mempool
from node.ledger import commands as c
from node.ledger.validation import MAX_AGE_MS
from storage import keys
from tests.ledger_world import KHR, Chain

ALICE, BOB = "alice@aclb", "bob@aclb"


def journaled_rows(chain: Chain) -> int:
    return sum(1 for _ in chain.ledger.store.scan(keys.ACCEPTED))


def test_a_restart_puts_journaled_transactions_back_and_drops_settled_and_expired_ones(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    waiting = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "waits", "1.00"))
    committed = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "made it", "2.00"))
    expired = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "too old", "3.00"), created_ms=chain.now - MAX_AGE_MS - 1)
    journal = IntakeJournal(chain.ledger.store)
    journal.record([(tx.hash, tx.encode()) for tx in (waiting, committed, expired)])
    chain.run(committed)  # in the chain now, but this journal never saw the block (a crash in between)
    chain.reopen()

    mempool = Mempool(100, 1 << 20)
    restored = IntakeJournal(chain.ledger.store).restore(Admission(chain.ledger, mempool, chain.chain_id), chain.now)
    assert restored == 1
    assert waiting.hash in mempool and committed.hash not in mempool and expired.hash not in mempool
    assert journaled_rows(chain) == 1


def test_rows_leave_the_journal_when_a_block_holds_their_transactions(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    txs = [chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, f"p{i}", "1.00")) for i in range(3)]
    journal = IntakeJournal(chain.ledger.store)
    journal.record([(tx.hash, tx.encode()) for tx in txs])
    assert journaled_rows(chain) == 3
    journal.settled([txs[0].hash, txs[2].hash, b"\x00" * 32])  # an unknown hash is ignored
    assert journaled_rows(chain) == 1 and len(journal) == 1
