"""The one admission pipeline (node/intake/admission.py) on a real LevelDB ledger: one outcome per item,
in order, and one policy for a full pool whoever brings the transactions (client, peer, journal)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.intake.admission import Admission, IntakeCounters, Source, Verdict
from node.intake.mempool import Mempool
from node.ledger import commands as c
from node.ledger.transactions import Transaction
from tests.ledger_world import KHR, Chain, key

ALICE, BOB = "alice@aclb", "bob@aclb"


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    world = Chain(tmp_path / "db")
    yield world
    world.close()


def payments(chain: Chain, n: int, creator: str = ALICE, note: str = "p") -> list[Transaction]:
    return [chain.tx(creator, c.TransferAsset(creator, BOB, KHR, f"{note}{i}", "1.00")) for i in range(n)]


class Recorded:
    def __init__(self) -> None:
        self.received = 0
        self.refused: list[str] = []
        self.bad_from_peer = 0
        self.pool_full = 0
        self.failures: list[bytes] = []

    def counters(self) -> IntakeCounters:
        def received(n: int) -> None:
            self.received += n

        def bad() -> None:
            self.bad_from_peer += 1

        def full() -> None:
            self.pool_full += 1

        return IntakeCounters(received, self.refused.append, bad, full)

    def remember(self, tx_hash: bytes, status: dict[str, object]) -> None:
        self.failures.append(tx_hash)


def test_each_item_gets_its_outcome_in_order(chain: Chain) -> None:
    committed, fresh = payments(chain, 2)
    chain.run(committed)
    expired = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "old", "1.00"), created_ms=0)
    pool = Mempool(100, 1 << 20)
    seen = Recorded()
    admission = Admission(chain.ledger, pool, chain.chain_id, seen.counters(), seen.remember)
    items = [fresh.encode(), b"\x93not a tx", committed.encode(), fresh.encode(), expired.encode()]
    outcomes = admission.admit(items, chain.now, Source.CLIENT)
    assert [o.verdict for o in outcomes] == [Verdict.QUEUED, Verdict.INVALID, Verdict.REPLAY,
                                             Verdict.ALREADY_QUEUED, Verdict.INVALID]
    assert [o.status for o in outcomes] == ["STATELESS_VALIDATION_SUCCESS", "STATELESS_VALIDATION_FAILED",
                                            "COMMITTED", "STATELESS_VALIDATION_SUCCESS", "STATELESS_VALIDATION_FAILED"]
    recorded = chain.ledger.tx_status(committed.hash)
    assert recorded is not None and outcomes[2].error_code is None
    assert outcomes[2].as_json()["height"] == recorded.height
    assert outcomes[4].error_code == "expired"
    assert list(pool.peek(10)) == [fresh]
    # a client's refusals are counted by code and remembered by hash (a client polling learns why)
    assert seen.received == 5 and sorted(seen.refused) == sorted([outcomes[1].error_code, "expired"])
    assert seen.failures == [expired.hash] and seen.bad_from_peer == 0


def test_a_peer_sending_junk_is_counted_as_a_bad_peer_not_as_a_client_refusal(chain: Chain) -> None:
    (fresh,) = payments(chain, 1)
    seen = Recorded()
    admission = Admission(chain.ledger, Mempool(100, 1 << 20), chain.chain_id, seen.counters(), seen.remember)
    outcomes = admission.admit([b"junk", fresh.encode()], chain.now, Source.PEER)
    assert [o.verdict for o in outcomes] == [Verdict.INVALID, Verdict.QUEUED]
    assert seen.bad_from_peer == 1 and seen.refused == [] and seen.failures == [] and seen.received == 0
    # the same bytes again from a peer are skipped without decoding (already queued)
    again = admission.admit([fresh.encode()], chain.now, Source.PEER)
    assert again[0].verdict is Verdict.ALREADY_QUEUED
    # a decodable but invalid transaction from a peer is not remembered for clients' status polling
    expired = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "old", "1.00"), created_ms=0)
    assert admission.admit([expired.encode()], chain.now, Source.PEER)[0].verdict is Verdict.INVALID
    assert seen.failures == [] and seen.bad_from_peer == 2


def test_a_committed_transaction_resent_by_a_peer_is_skipped_but_a_client_is_told_its_recorded_status(chain: Chain) -> None:
    (tx,) = payments(chain, 1)
    pool = Mempool(100, 1 << 20)
    seen = Recorded()
    admission = Admission(chain.ledger, pool, chain.chain_id, seen.counters(), seen.remember)
    assert admission.admit([tx.encode()], chain.now, Source.CLIENT)[0].verdict is Verdict.QUEUED
    chain.run(tx)
    pool.committed([tx])
    # gossip lagging behind a block is routine: nothing to report, nothing to count against the peer
    from_peer = admission.admit([tx.encode()], chain.now, Source.PEER)[0]
    assert from_peer.verdict is Verdict.ALREADY_QUEUED and seen.bad_from_peer == 0
    # a client resending it learns how it ended, as GET /v1/transactions/{hash} says (issue 16: idempotent
    # submission; it used to answer REJECTED/replay for a paid payment)
    from_client = admission.admit([tx.encode()], chain.now, Source.CLIENT)[0]
    assert from_client.verdict is Verdict.REPLAY and from_client.status == "COMMITTED"
    record = chain.ledger.tx_status(tx.hash)
    assert record is not None
    assert from_client.as_json() == {"hash": tx.hash.hex(), "status": "COMMITTED", "height": record.height,
                                     "index": record.index}


def test_an_accepted_outcome_shows_its_hash_and_no_error_fields(chain: Chain) -> None:
    (tx,) = payments(chain, 1)
    admission = Admission(chain.ledger, Mempool(100, 1 << 20), chain.chain_id)
    (queued,) = admission.admit([tx.encode()], chain.now, Source.CLIENT)
    assert queued.as_json() == {"hash": tx.hash.hex(), "status": "STATELESS_VALIDATION_SUCCESS"}
    (junk,) = admission.admit([b"junk"], chain.now, Source.CLIENT)
    shown = junk.as_json()
    assert shown["hash"] is None and shown["status"] == "STATELESS_VALIDATION_FAILED"
    assert shown["error_code"] == junk.error_code and shown["message"] == junk.message and junk.message


@pytest.mark.parametrize("source", list(Source))
def test_a_creator_over_its_share_loses_only_its_own_transactions(chain: Chain, source: Source) -> None:
    alice = payments(chain, 3, ALICE)
    bob = payments(chain, 2, BOB, note="b")
    pool = Mempool(max_txs=100, max_bytes=1 << 20, max_per_account=2)
    seen = Recorded()
    admission = Admission(chain.ledger, pool, chain.chain_id, seen.counters())
    items = [alice[0].encode(), alice[1].encode(), alice[2].encode(), bob[0].encode(), bob[1].encode()]
    verdicts = [o.verdict for o in admission.admit(items, chain.now, source)]
    assert verdicts == [Verdict.QUEUED, Verdict.QUEUED, Verdict.ACCOUNT_LIMIT, Verdict.QUEUED, Verdict.QUEUED]
    assert len(pool) == 4 and seen.pool_full == 1  # counted as a refusal for room


@pytest.mark.parametrize("source", list(Source))
def test_a_full_pool_refuses_the_rest_of_the_slice_and_keeps_what_it_has(chain: Chain, source: Source) -> None:
    txs = payments(chain, 5)
    pool = Mempool(max_txs=2, max_bytes=1 << 20)
    seen = Recorded()
    admission = Admission(chain.ledger, pool, chain.chain_id, seen.counters())
    outcomes = admission.admit([tx.encode() for tx in txs], chain.now, source)
    assert [o.verdict for o in outcomes] == [Verdict.QUEUED] * 2 + [Verdict.POOL_FULL] * 3
    assert all(o.status == "NOT_RECEIVED" and o.error_code == "mempool_full" for o in outcomes[2:])
    assert [o.tx_hash for o in outcomes] == [tx.hash for tx in txs]  # the client learns which ones to resend
    assert seen.pool_full == 1  # one attempt that met the full pool; the rest were not tried
    assert list(pool.peek(10)) == txs[:2]


def test_a_journaled_transaction_that_expired_while_the_node_was_down_is_dropped_quietly(chain: Chain) -> None:
    expired = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "old", "1.00"), created_ms=0)
    seen = Recorded()
    admission = Admission(chain.ledger, Mempool(100, 1 << 20), chain.chain_id, seen.counters(), seen.remember)
    assert admission.admit([expired.encode()], chain.now, Source.JOURNAL)[0].verdict is Verdict.INVALID
    # not a client's refusal (no counter moves), not a peer's fault, nothing to remember for polling
    assert seen.refused == [] and seen.bad_from_peer == 0 and seen.failures == [] and seen.received == 0


def test_the_creators_account_is_read_again_once_a_block_changes_it(chain: Chain) -> None:
    """Admission caches creators' accounts per published head: a signatory added by a block counts
    from that block on (and one removed stops counting)."""
    admission = Admission(chain.ledger, Mempool(100, 1 << 20), chain.chain_id)
    phone = key("alice-phone")
    early = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "early", "1.00"), signers=(phone,))
    assert admission.admit([early.encode()], chain.now, Source.CLIENT)[0].error_code == "not_a_signatory"
    [added] = chain.run(chain.tx(ALICE, c.AddSignatory(ALICE, phone.public_key)))
    assert added.status == "COMMITTED"
    later = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "later", "1.00"), signers=(phone,))
    assert admission.admit([later.encode()], chain.now, Source.CLIENT)[0].verdict is Verdict.QUEUED
    [removed] = chain.run(chain.tx(ALICE, c.RemoveSignatory(ALICE, phone.public_key)))
    assert removed.status == "COMMITTED"
    last = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "last", "1.00"), signers=(phone,))
    assert admission.admit([last.encode()], chain.now, Source.CLIENT)[0].error_code == "not_a_signatory"


def test_a_resent_transaction_rejected_in_a_block_answers_rejected_with_its_code_whatever_its_signatures(
        chain: Chain) -> None:
    # Resending is read-only: another signature set over the same payload (a stranger's, a forged one)
    # answers the recorded status and changes nothing (issue 14 finding 7's rule stays whole).
    overdraft = chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "too much", "99999999999.00"))
    [result] = chain.run(overdraft)
    assert result.status == "REJECTED"
    paid = payments(chain, 1, note="paid")[0]
    chain.run(paid)
    admission = Admission(chain.ledger, Mempool(100, 1 << 20), chain.chain_id)
    stranger = Transaction(paid.payload, paid.payload_bytes, ((key("mallory").public_key, bytes(64)),), paid.hash)
    outcomes = admission.admit([overdraft.encode(), stranger.encode()], chain.now, Source.CLIENT)
    assert [o.verdict for o in outcomes] == [Verdict.REPLAY, Verdict.REPLAY]
    rejected, committed = (o.as_json() for o in outcomes)
    assert (rejected["status"], rejected["error_code"]) == ("REJECTED", result.error_code)
    assert rejected["command_index"] == 0
    assert committed["status"] == "COMMITTED"
    record = chain.ledger.tx_status(paid.hash)
    assert record is not None and record.result.status == "COMMITTED"
