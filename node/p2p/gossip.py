"""Transaction gossip: what one node accepts reaches every validator's mempool, in batches.

Outbound: accepted transactions are buffered and flushed every ``flush_ms`` (or at ``max_batch``) as
one TxGossip frame, so a burst of submissions costs a few frames, not one per transaction.
Validators form a full mesh and an observer dials every validator, so whoever accepted a transaction
sends it to every validator itself and nobody passes gossip on (each validator used to forward an
observer's transactions to the other three: every one of them arrived four times). A transaction
that still misses a validator (no connection at the time) is sent again by ``regossip_stale``.
Inbound: batches wait in a bounded intake queue and go through the node's one admission pipeline
(``node.intake.admission``) a slice at a time, yielding to the event loop in between, so a flood of
gossip cannot starve consensus (the verified-signature cache means a transaction is verified once per
node however it arrives).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from node.intake.admission import SLICE, Admission, Source, Verdict
from node.intake.mempool import Mempool
from node.p2p.messages import MAX_GOSSIP_TXS, TxGossip, encode_peer_message

log = logging.getLogger("bakong.gossip")


class TxGossiper:
    """``admission`` admits what peers send (None: this node only sends, as in tests of re-gossip);
    ``on_admitted`` wakes the block producer; ``on_dropped`` counts what a full intake queue lost."""

    def __init__(self, mempool: Mempool, send_to_validators: Callable[[bytes], None],
                 admission: Admission | None = None, clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 on_admitted: Callable[[], None] = lambda: None, on_dropped: Callable[[int], None] = lambda n: None,
                 flush_ms: int = 10, max_batch: int = 1000, max_intake: int = 50_000,
                 send_to_peers: Callable[[bytes], None] | None = None) -> None:
        self.mempool = mempool
        self.send_to_peers = send_to_peers or send_to_validators  # every peer, observers too
        self.admission = admission
        self.clock_ms = clock_ms
        self.on_admitted = on_admitted
        self.on_dropped = on_dropped
        self.send_to_validators = send_to_validators
        self.flush_s = flush_ms / 1000
        self.max_batch = min(max_batch, MAX_GOSSIP_TXS)
        self._pending: list[bytes] = []
        self._flusher: asyncio.TimerHandle | None = None
        self._intake: deque[TxGossip] = deque()
        self._intake_txs = 0
        self.max_intake = max_intake
        self._drainer: asyncio.Future[None] | None = None
        self._resent: dict[bytes, float] = {}  # tx hash -> when regossip_stale last sent it
        self._pending_sent: dict[bytes, tuple[float, int]] = {}  # tx hash -> (when, signatures) last sent

    def enqueue(self, tx_bytes: bytes) -> None:
        """A transaction this node accepted from a client (or an observer): tell the validators."""
        self._pending.append(tx_bytes)
        if len(self._pending) >= self.max_batch:
            self.flush()
        elif self._flusher is None:
            self._flusher = asyncio.get_running_loop().call_later(self.flush_s, self.flush)

    def flush(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._pending:
            batch, self._pending = self._pending, []
            self.send_to_validators(encode_peer_message(TxGossip(tuple(batch))))

    def regossip_stale(self, older_than_s: float = 3.0, every_s: float = 15.0, limit: int = 1000) -> int:
        """Send again what has waited too long: a transaction accepted while no validator was connected,
        or lost with a dropped connection, still reaches the validators. Bounded per call, and each
        transaction at most once per ``every_s``: under a backlog most of the pool is "stale" only
        because blocks are full, and re-sending the same oldest thousand every tick cost each validator
        about 600 KB/s of loopback traffic for nothing."""
        now = time.monotonic()
        resent = self._resent
        for tx_hash in [h for h, at in resent.items() if now - at >= every_s or h not in self.mempool]:
            del resent[tx_hash]
        stale = []
        for tx in self.mempool.waiting_longer_than(older_than_s):
            if tx.hash in resent:
                continue
            stale.append(tx)
            resent[tx.hash] = now
            if len(stale) >= limit:
                break
        if stale:
            self.send_to_validators(encode_peer_message(TxGossip(tuple(tx.encode() for tx in stale))))
        return len(stale)

    def regossip_pending(self, every_s: float = 30.0, limit: int = 1000, to_all: bool = False) -> int:
        """Send the pending multisig copies (``node.intake.pending``) to the validators (``to_all``: to
        every peer) again: each when it was never sent from here, gained signatures since, or ``every_s``
        has passed. A copy is gossiped once when a client sends it; a validator that was down or cut off
        then would never hear of it, and pending sets would differ between nodes (Iroha 1's MST
        propagation lost signatures that way). Receivers merge a repeat for the price of a lookup (its
        signatures are remembered as verified)."""
        pool = self.admission.pending if self.admission is not None else None
        if pool is None:
            return 0
        now = time.monotonic()
        sent = self._pending_sent
        due = []
        for tx in pool.waiting():
            last = sent.get(tx.hash)
            if last is not None and now - last[0] < every_s and last[1] == len(tx.signatures):
                continue
            due.append(tx)
            if len(due) >= limit:
                break
        for tx_hash in [h for h in sent if h not in pool]:
            del sent[tx_hash]
        for start in range(0, len(due), self.max_batch):
            chunk = due[start:start + self.max_batch]
            send = self.send_to_peers if to_all else self.send_to_validators
            send(encode_peer_message(TxGossip(tuple(tx.encode() for tx in chunk))))
        for tx in due:
            sent[tx.hash] = (now, len(tx.signatures))
        return len(due)

    def receive(self, msg: TxGossip) -> None:
        """Queue a peer's transactions for intake; checked in slices so consensus messages interleave."""
        if self.admission is None:
            return
        if self._intake_txs + len(msg.txs) > self.max_intake:
            self.on_dropped(len(msg.txs))  # the proposer still has them
            return
        self._intake.append(msg)
        self._intake_txs += len(msg.txs)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._intake:
            msg = self._intake.popleft()
            self._intake_txs -= len(msg.txs)
            for start in range(0, len(msg.txs), SLICE):
                self._admit(msg.txs[start:start + SLICE])
                await asyncio.sleep(0)  # let consensus and the API run between slices

    def _admit(self, txs: tuple[bytes, ...]) -> int:
        assert self.admission is not None
        outcomes = self.admission.admit(txs, self.clock_ms(), Source.PEER)
        added = sum(1 for o in outcomes if o.verdict is Verdict.QUEUED or o.verdict is Verdict.COLLECTED)
        if added:
            self.on_admitted()
        return added
