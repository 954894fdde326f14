"""Transaction gossip's two queues (node/p2p/gossip.py): outbound batching and the bounded inbound intake.

Outbound, a burst of accepted transactions must cost a few frames: flushed every ``flush_ms`` or at
``max_batch``, never more than a frame may carry. Inbound, a peer (hostile or just busy) cannot make this
node hold more than ``max_intake`` transactions waiting for admission, nor hold the event loop while
they are checked: batches go through admission a slice at a time. Real admission over real LevelDB; the
"network" is a list.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from node.intake.admission import SLICE, Admission
from node.intake.mempool import Mempool
from node.ledger import commands as c
from node.ledger.transactions import Transaction
from node.p2p.gossip import TxGossiper
from node.p2p.messages import TxGossip, decode_peer_message
from tests.ledger_world import CHAIN, KHR, Chain


class Intake:
    """A node's mempool and admission, and a gossiper that records what it sends and reports."""

    def __init__(self, path: Path, max_intake: int = 50_000, clock_offset_ms: int = 0, **options: int) -> None:
        self.chain = Chain(path)
        self.admission = Admission(self.chain.ledger, Mempool(100_000, 1 << 30), CHAIN)
        self.sent: list[list[bytes]] = []
        self.admitted_calls = 0
        self.dropped: list[int] = []
        self.gossiper = TxGossiper(self.admission.mempool, self._send, self.admission,
                                   clock_ms=lambda: self.chain.now + clock_offset_ms,
                                   on_admitted=self._admitted, on_dropped=self.dropped.append,
                                   max_intake=max_intake, **options)

    def _send(self, payload: bytes) -> None:
        msg = decode_peer_message(payload, 1 << 30)
        assert isinstance(msg, TxGossip)
        self.sent.append(list(msg.txs))

    def _admitted(self) -> None:
        self.admitted_calls += 1

    def payments(self, n: int) -> list[Transaction]:
        return [self.chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00"))
                for i in range(n)]

    @property
    def waiting(self) -> int:
        return len(self.admission.mempool)


def run(intake: Intake, scenario: object) -> None:
    try:
        asyncio.run(scenario)  # type: ignore[arg-type]
    finally:
        intake.chain.close()


async def drained(intake: Intake) -> None:
    while intake.gossiper._intake or (intake.gossiper._drainer is not None and not intake.gossiper._drainer.done()):
        await asyncio.sleep(0)


# ---- outbound ----

def test_a_burst_leaves_as_one_frame_after_the_flush_interval(tmp_path: Path) -> None:
    node = Intake(tmp_path / "db", flush_ms=20)
    txs = [t.encode() for t in node.payments(5)]

    async def scenario() -> None:
        for tx in txs:
            node.gossiper.enqueue(tx)
        assert node.sent == []  # waiting for the interval, one timer for the whole burst
        await asyncio.sleep(0.05)
        assert node.sent == [txs]
        node.gossiper.flush()
        assert node.sent == [txs]  # nothing pending: no empty frame

    run(node, scenario())


def test_a_full_batch_leaves_at_once_and_a_batch_never_exceeds_what_a_frame_may_carry(tmp_path: Path) -> None:
    node = Intake(tmp_path / "db", flush_ms=10_000, max_batch=10_000)
    txs = [t.encode() for t in node.payments(5001)]

    async def scenario() -> None:
        for tx in txs:
            node.gossiper.enqueue(tx)
        assert [len(batch) for batch in node.sent] == [5000]  # MAX_GOSSIP_TXS, not the 10,000 asked for
        node.gossiper.flush()
        assert [len(batch) for batch in node.sent] == [5000, 1]
        assert [tx for batch in node.sent for tx in batch] == txs

    run(node, scenario())


def test_a_small_max_batch_flushes_each_time_it_fills(tmp_path: Path) -> None:
    node = Intake(tmp_path / "db", flush_ms=10_000, max_batch=2)
    txs = [t.encode() for t in node.payments(5)]

    async def scenario() -> None:
        for tx in txs:
            node.gossiper.enqueue(tx)
        assert node.sent == [txs[0:2], txs[2:4]]
        node.gossiper.flush()
        assert node.sent[-1] == txs[4:]

    run(node, scenario())


def test_a_batch_sent_because_it_filled_takes_its_timer_along(tmp_path: Path) -> None:
    node = Intake(tmp_path / "db", flush_ms=1000, max_batch=3)
    txs = [t.encode() for t in node.payments(4)]

    async def scenario() -> None:
        node.gossiper.enqueue(txs[0])  # starts the 1 s interval
        await asyncio.sleep(0.5)
        node.gossiper.enqueue(txs[1])
        node.gossiper.enqueue(txs[2])  # full: sent now, and the interval is over
        node.gossiper.enqueue(txs[3])  # starts a new one, ending at ~1.5 s
        await asyncio.sleep(0.7)  # past the first interval's end (1.0 s), 300 ms inside the second's
        assert node.sent == [txs[0:3]]
        await asyncio.sleep(0.6)
        assert node.sent == [txs[0:3], txs[3:]]

    run(node, scenario())


# ---- inbound ----

def test_a_peer_batch_is_admitted_a_slice_at_a_time_with_the_loop_free_in_between(tmp_path: Path) -> None:
    node = Intake(tmp_path / "db")
    txs = node.payments(3 * SLICE)
    seen: list[int] = []

    async def watch() -> None:
        while node.waiting < len(txs):
            seen.append(node.waiting)
            await asyncio.sleep(0)

    async def scenario() -> None:
        watcher = asyncio.create_task(watch())
        node.gossiper.receive(TxGossip(tuple(t.encode() for t in txs)))
        await drained(node)
        await watcher
        assert node.waiting == len(txs)
        assert {SLICE, 2 * SLICE} <= set(seen)  # others ran between the slices
        assert node.admitted_calls == 3  # the block producer is woken per slice that added something
        node.gossiper.receive(TxGossip(tuple(t.encode() for t in txs)))  # the same again: nothing new
        await drained(node)
        assert node.admitted_calls == 3 and node.waiting == len(txs)

    run(node, scenario())


def test_intake_past_its_bound_is_dropped_whole_and_counted_until_the_queue_drains(tmp_path: Path) -> None:
    node = Intake(tmp_path / "db", max_intake=100)
    first, second, third = (tuple(t.encode() for t in node.payments(n)) for n in (60, 40, 1))

    async def scenario() -> None:
        node.gossiper.receive(TxGossip(first))
        node.gossiper.receive(TxGossip(second))  # 60 + 40: exactly the bound, still taken
        node.gossiper.receive(TxGossip(third))  # one more waiting than the bound: dropped
        assert node.dropped == [1]
        await drained(node)
        assert node.waiting == 100
        node.gossiper.receive(TxGossip(third))  # drained: room again
        await drained(node)
        assert node.waiting == 101 and node.dropped == [1]

    run(node, scenario())


def test_peer_transactions_are_judged_by_this_nodes_clock(tmp_path: Path) -> None:
    node = Intake(tmp_path / "db", clock_offset_ms=-3_600_000)  # this node's clock an hour behind theirs

    async def scenario() -> None:
        node.gossiper.receive(TxGossip(tuple(t.encode() for t in node.payments(3))))
        await drained(node)
        assert node.waiting == 0 and node.admitted_calls == 0  # from the future, as this node sees it

    run(node, scenario())


def test_a_node_without_admission_ignores_peer_batches(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    pool = Mempool(100, 1 << 20)
    gossiper = TxGossiper(pool, lambda payload: None)

    async def scenario() -> None:
        gossiper.receive(TxGossip(tuple(t.encode() for t in [chain.tx("alice@aclb")])))
        await asyncio.sleep(0.01)
        assert len(pool) == 0 and gossiper._drainer is None

    try:
        asyncio.run(scenario())
    finally:
        chain.close()
