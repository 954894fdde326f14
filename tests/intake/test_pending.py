"""Pending multi-signature transactions (issue 18, point 2) through the real admission pipeline: a
transaction signed by fewer of its creator's signatories than the quorum waits (MST_PENDING) instead of
being refused, later copies' signatures are merged, at quorum it goes to the mempool
(ENOUGH_SIGNATURES_COLLECTED) and commits; it survives a restart, expires, and nobody but a signatory
can open or feed one. Real LevelDB in a temp dir; two admissions on two stores play two nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.intake.admission import Admission, Source, Verdict
from node.intake.mempool import Mempool
from node.intake.pending import PendingPool, restore_pending
from node.ledger import commands as c
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from tests.ledger_world import CHAIN, KHR, Chain, key

ALICE, BOB = key("alice@aclb"), key("bob@aclb")  # bob's key becomes alice's second signatory
STRANGER = KeyPair.from_seed(b"\x07" * 32)


class Node:
    """One node's intake over its own ledger (the same chain as the others)."""

    def __init__(self, path: Path, **limits: int) -> None:
        self.chain = Chain(path)
        # alice@aclb: two signatories, quorum 2 (a joint account: two officers must sign).
        self.chain.run(self.chain.tx("alice@aclb", c.AddSignatory("alice@aclb", BOB.public_key),
                                     c.SetAccountQuorum("alice@aclb", 2)))
        self.mempool = Mempool(1000, 10_000_000)
        self.pending = PendingPool(self.chain.ledger.store, **{"max_txs": 1000, "max_bytes": 10_000_000,
                                                              "max_per_account": 100, **limits})
        self.admission = Admission(self.chain.ledger, self.mempool, CHAIN, pending=self.pending)

    def admit(self, tx: Transaction) -> Verdict:
        [outcome] = self.admission.admit([tx.encode()], self.chain.now, Source.CLIENT)
        return outcome.verdict

    def close(self) -> None:
        self.chain.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path / "a")
    yield n
    n.close()


def payment(node: Node, amount: str = "10.00", created: int | None = None) -> TxPayload:
    node.chain.now += 1
    return TxPayload(CHAIN, "alice@aclb", node.chain.now if created is None else created, 1,
                     (c.TransferAsset("alice@aclb", "carol@abaa", KHR, "joint", amount),))


def test_one_signature_of_two_waits_and_the_second_commits_it(node: Node) -> None:
    payload = payment(node)
    first, second = build_transaction(payload, ALICE), build_transaction(payload, BOB)
    assert node.admit(first) is Verdict.PENDING
    assert first.hash in node.pending and first.hash not in node.mempool
    assert node.admit(first) is Verdict.PENDING  # a resend changes nothing
    assert node.admit(second) is Verdict.COLLECTED
    queued = node.mempool.get(first.hash)
    assert queued is not None and {k for k, _s in queued.signatures} == {ALICE.public_key, BOB.public_key}
    assert first.hash not in node.pending and node.pending.stored_rows() == []
    [result] = node.chain.run(queued)
    assert result.status == TxStatus.COMMITTED
    assert node.chain.balance("carol@abaa") == 1000


def test_the_transactions_own_quorum_also_holds_it(node: Node) -> None:
    node.chain.now += 1
    payload = TxPayload(CHAIN, "bob@aclb", node.chain.now, 2, (c.SetAccountDetail("bob@aclb", "k", "v"),))
    assert node.admit(build_transaction(payload, BOB)) is Verdict.PENDING  # bob's quorum is 1, the tx says 2


def test_a_stranger_can_neither_open_nor_feed_a_pending_transaction(node: Node) -> None:
    payload = payment(node)
    assert node.admit(build_transaction(payload, STRANGER)) is Verdict.INVALID  # not a signatory
    assert len(node.pending) == 0
    assert node.admit(build_transaction(payload, ALICE)) is Verdict.PENDING
    assert node.admit(build_transaction(payload, STRANGER)) is Verdict.INVALID
    forged = Transaction(payload, payload.encode(), ((BOB.public_key, bytes(64)),),
                         build_transaction(payload).hash)
    assert node.admit(forged) is Verdict.INVALID  # bob's key, a bad signature: refused, nothing merged
    waiting = node.pending.get(forged.hash)
    assert waiting is not None and [k for k, _s in waiting.signatures] == [ALICE.public_key]
    unsigned = Transaction(payload, payload.encode(), (), forged.hash)
    assert node.admit(unsigned) is Verdict.INVALID  # no signature at all opens nothing


def test_pending_transactions_survive_a_restart(tmp_path: Path) -> None:
    first = Node(tmp_path / "a")
    payload = payment(first)
    assert first.admit(build_transaction(payload, ALICE)) is Verdict.PENDING
    store = first.chain.ledger.store
    # The same store reopened by a fresh intake (what a restarted node builds):
    again = Admission(first.chain.ledger, Mempool(1000, 10_000_000), CHAIN,
                      pending=PendingPool(store, max_txs=1000, max_bytes=10_000_000, max_per_account=100))
    assert restore_pending(again, first.chain.now) == 1
    [outcome] = again.admit([build_transaction(payload, BOB).encode()], first.chain.now, Source.CLIENT)
    assert outcome.verdict is Verdict.COLLECTED
    first.close()


def test_copies_meet_on_another_node_through_gossip(tmp_path: Path) -> None:
    a, b = Node(tmp_path / "a"), Node(tmp_path / "b")
    try:
        payload = payment(a)
        b.chain.now = a.chain.now
        one, two = build_transaction(payload, ALICE), build_transaction(payload, BOB)
        assert a.admit(one) is Verdict.PENDING
        [gossiped] = b.admission.admit([one.encode()], b.chain.now, Source.PEER)  # a gossips what it admits
        assert gossiped.verdict is Verdict.PENDING
        a.close()  # the node that got the first signature is gone
        assert b.admit(two) is Verdict.COLLECTED  # the second signature, sent to b, completes it
        assert b.mempool.get(one.hash) is not None
    finally:
        b.close()


def test_a_pending_transaction_expires(node: Node) -> None:
    node.pending.expiry_ms = 60_000
    payload = payment(node)
    assert node.admit(build_transaction(payload, ALICE)) is Verdict.PENDING
    assert node.pending.expire(payload.created_ms + 59_999) == []
    [gone] = node.pending.expire(payload.created_ms + 60_000)
    assert gone.hash == build_transaction(payload).hash
    assert len(node.pending) == 0 and node.pending.stored_rows() == []


def test_pending_memory_is_bounded_per_account_and_in_all(tmp_path: Path) -> None:
    node = Node(tmp_path / "a", max_per_account=2, max_txs=3)
    try:
        verdicts = [node.admit(build_transaction(payment(node), ALICE)) for _ in range(3)]
        assert verdicts == [Verdict.PENDING, Verdict.PENDING, Verdict.ACCOUNT_LIMIT]
        node.chain.now += 1
        [outcome] = node.admission.admit([build_transaction(payment(node), ALICE).encode()], node.chain.now,
                                         Source.CLIENT)
        assert (outcome.verdict, outcome.error_code) == (Verdict.ACCOUNT_LIMIT, "pending_account_limit")
    finally:
        node.close()


def test_without_a_pending_pool_a_short_transaction_is_refused(node: Node) -> None:
    plain = Admission(node.chain.ledger, Mempool(1000, 10_000_000), CHAIN)
    [outcome] = plain.admit([build_transaction(payment(node), ALICE).encode()], node.chain.now, Source.CLIENT)
    assert (outcome.verdict, outcome.error_code) == (Verdict.INVALID, "quorum_not_met")
