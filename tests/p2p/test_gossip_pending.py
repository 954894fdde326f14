"""Re-sending pending multisig copies (issue 18, point 2: pending state shared between nodes): each copy
goes to the validators again once per interval and at once when it gains signatures, is forgotten once it
leaves the pending pool, and a node that missed the first gossip (down, cut off) gets it from the re-send;
a repeat costs the receiver no store write. Real admission over real LevelDB; the "network" is a list."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consensus.crypto import KeyPair
from node.intake.admission import Admission, Source, Verdict
from node.intake.mempool import Mempool
from node.intake.pending import PendingPool
from node.ledger import commands as c
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.p2p.gossip import TxGossiper
from node.p2p.messages import TxGossip, decode_peer_message
from tests.ledger_world import CHAIN, KHR, Chain, key

ALICE, BOB, CAROL = key("alice@aclb"), key("bob@aclb"), KeyPair.from_seed(b"\x09" * 32)


class Node:
    """One node's intake; alice@aclb has three signatories and quorum 3."""

    def __init__(self, path: Path) -> None:
        self.chain = Chain(path)
        self.chain.run(self.chain.tx("alice@aclb", c.AddSignatory("alice@aclb", BOB.public_key),
                                     c.AddSignatory("alice@aclb", CAROL.public_key),
                                     c.SetAccountQuorum("alice@aclb", 3)))
        self.pending = PendingPool(self.chain.ledger.store, max_txs=100, max_bytes=1 << 20, max_per_account=10)
        self.admission = Admission(self.chain.ledger, Mempool(100, 1 << 20), CHAIN, pending=self.pending)
        self.sent: list[list[bytes]] = []
        self.gossiper = TxGossiper(self.admission.mempool, self._send, self.admission)

    def _send(self, payload: bytes) -> None:
        msg = decode_peer_message(payload, 1 << 20)
        assert isinstance(msg, TxGossip)
        self.sent.append(list(msg.txs))

    def admit(self, *txs: Transaction, source: Source = Source.CLIENT) -> list[Verdict]:
        return [o.verdict for o in self.admission.admit([t.encode() for t in txs], self.chain.now, source)]


def payment(node: Node, n: int) -> TxPayload:
    return TxPayload(CHAIN, "alice@aclb", node.chain.now + n, 1,
                     (c.TransferAsset("alice@aclb", "carol@abaa", KHR, "joint", "1.00"),))


def test_pending_copies_are_sent_again_once_per_interval_and_when_they_gain_signatures(tmp_path: Path) -> None:
    node = Node(tmp_path / "a")
    first, other = payment(node, 1), payment(node, 2)

    async def run() -> None:
        assert node.gossiper.regossip_pending(every_s=60) == 0  # nothing pending
        assert node.admit(build_transaction(first, ALICE), build_transaction(other, ALICE)) == [Verdict.PENDING] * 2
        assert node.gossiper.regossip_pending(every_s=60, limit=1) == 1  # bounded per call
        assert node.gossiper.regossip_pending(every_s=60) == 1  # the one not sent yet
        assert node.gossiper.regossip_pending(every_s=60) == 0  # both sent within the interval
        assert node.admit(build_transaction(first, BOB)) == [Verdict.PENDING]  # 2 of 3: merged, still waiting
        assert node.gossiper.regossip_pending(every_s=60) == 1  # it gained a signature: sent at once
        [merged] = node.sent[-1]
        assert merged == node.pending.get(build_transaction(first, ALICE).hash).encode()
        await asyncio.sleep(0.03)
        assert node.gossiper.regossip_pending(every_s=0.02) == 2  # the interval is over for both
        assert len(node.sent[-1]) == 2  # in one message
        assert node.admit(build_transaction(first, CAROL)) == [Verdict.COLLECTED]  # complete: leaves the pool
        await asyncio.sleep(0.03)
        assert node.gossiper.regossip_pending(every_s=0.02) == 1  # only the one still pending
        assert set(node.gossiper._pending_sent) == {build_transaction(other, ALICE).hash}  # the other forgotten

    try:
        asyncio.run(run())
    finally:
        node.chain.close()


def test_a_node_that_missed_the_first_gossip_gets_the_copy_and_completes_it(tmp_path: Path) -> None:
    a, b = Node(tmp_path / "a"), Node(tmp_path / "b")
    try:
        b.chain.now = a.chain.now
        payload = payment(a, 1)
        one, two, three = (build_transaction(payload, k) for k in (ALICE, BOB, CAROL))
        assert a.admit(one, two) == [Verdict.PENDING, Verdict.PENDING]  # b was down: it heard nothing
        assert a.gossiper.regossip_pending(every_s=60) == 1
        [[copy]] = a.sent
        assert b.admission.admit([copy], b.chain.now, Source.PEER)[0].verdict is Verdict.PENDING
        assert b.admit(three) == [Verdict.COLLECTED]  # the last signature, sent to b, completes it there
        queued = b.admission.mempool.get(one.hash)
        assert queued is not None and len(queued.signatures) == 3
    finally:
        a.chain.close()
        b.chain.close()


def test_a_repeated_copy_writes_nothing(tmp_path: Path) -> None:
    node = Node(tmp_path / "a")
    try:
        tx = build_transaction(payment(node, 1), ALICE)
        assert node.admit(tx) == [Verdict.PENDING]
        writes: list[object] = []
        store = node.pending.store
        assert store is not None
        original = store.put_rows_durable
        store.put_rows_durable = lambda rows: (writes.append(rows), original(rows))[1]  # type: ignore[method-assign]
        assert node.admit(tx, source=Source.PEER) == [Verdict.PENDING]
        assert writes == []  # the same signatures: nothing changed, no durable write
        assert node.admit(build_transaction(tx.payload, BOB), source=Source.PEER) == [Verdict.PENDING]
        assert len(writes) == 1  # a new signature is written
    finally:
        node.chain.close()


def test_messages_hold_at_most_max_batch_copies_and_a_node_without_a_pool_sends_none(tmp_path: Path) -> None:
    node = Node(tmp_path / "a")
    try:
        assert node.admit(*(build_transaction(payment(node, n), ALICE) for n in range(3))) == [Verdict.PENDING] * 3
        gossiper = TxGossiper(node.admission.mempool, node._send, node.admission, max_batch=2)
        assert gossiper.regossip_pending(every_s=60) == 3
        assert [len(m) for m in node.sent] == [2, 1]
        assert TxGossiper(node.admission.mempool, node._send).regossip_pending() == 0  # no admission
        without_pool = Admission(node.chain.ledger, Mempool(10, 1 << 20), CHAIN)
        assert TxGossiper(without_pool.mempool, node._send, without_pool).regossip_pending() == 0
        assert [len(m) for m in node.sent] == [2, 1]
    finally:
        node.chain.close()


def test_to_all_sends_to_every_peer_and_otherwise_to_the_validators(tmp_path: Path) -> None:
    node = Node(tmp_path / "a")
    try:
        assert node.admit(build_transaction(payment(node, 1), ALICE)) == [Verdict.PENDING]
        to_peers: list[bytes] = []
        gossiper = TxGossiper(node.admission.mempool, node._send, node.admission, send_to_peers=to_peers.append)
        assert gossiper.regossip_pending(every_s=60, to_all=True) == 1
        assert (len(to_peers), len(node.sent)) == (1, 0)  # a validator's re-send: observers too
        gossiper = TxGossiper(node.admission.mempool, node._send, node.admission, send_to_peers=to_peers.append)
        assert gossiper.regossip_pending(every_s=60) == 1
        assert (len(to_peers), len(node.sent)) == (1, 1)  # an observer's: the validators only
    finally:
        node.chain.close()
