"""Transaction gossip: what one node accepts reaches every validator's mempool, in batches.

Outbound: accepted transactions are buffered and flushed every ``flush_ms`` (or at ``max_batch``) as
one TxGossip frame, so a burst of submissions costs a few frames, not one per transaction.
Validators form a full mesh and an observer dials every validator, so whoever accepted a transaction
sends it to every validator itself and nobody passes gossip on (each validator used to forward an
observer's transactions to the other three: every one of them arrived four times). A transaction
that still misses a validator (no connection at the time) is sent again by ``regossip_stale``.
Inbound: batches wait in a bounded intake queue and are admitted 64 transactions at a time, yielding
to the event loop in between, so a flood of gossip cannot starve consensus. Each transaction is
decoded, skipped if already known, and checked statelessly once (the verified-signature cache means
a transaction is verified once per node however it arrives).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

from node.ledger.errors import StatelessError
from node.intake.mempool import AccountLimit, MempoolFull
from node.p2p.messages import MAX_GOSSIP_TXS, TxGossip, encode_peer_message
from node.ledger.transactions import Transaction, decode_transaction
from node.ledger.validation import validate_stateless

log = logging.getLogger("bakong.gossip")
SLICE = 64


class TxGossiper:
    def __init__(self, node: Any, send_to_validators: Callable[[bytes], None],
                 flush_ms: int = 10, max_batch: int = 1000, max_intake: int = 50_000) -> None:
        self.node = node
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
        for tx_hash in [h for h, at in resent.items() if now - at >= every_s or h not in self.node.mempool]:
            del resent[tx_hash]
        stale = []
        for tx in self.node.mempool.waiting_longer_than(older_than_s):
            if tx.hash in resent:
                continue
            stale.append(tx)
            resent[tx.hash] = now
            if len(stale) >= limit:
                break
        if stale:
            self.send_to_validators(encode_peer_message(TxGossip(tuple(tx.encode() for tx in stale))))
        return len(stale)

    def receive(self, msg: TxGossip) -> None:
        """Queue a peer's transactions for intake; checked in slices so consensus messages interleave."""
        if self._intake_txs + len(msg.txs) > self.max_intake:
            self.node.metrics.gossip_dropped.inc(len(msg.txs))  # the proposer still has them
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
        node = self.node
        now = node.clock_ms()
        added = 0
        fresh: list[tuple[Transaction, int]] = []
        for data in txs:
            if node.mempool.known_bytes(data):
                continue
            try:
                tx = decode_transaction(data)
            except StatelessError:
                node.metrics.p2p_bad_messages.inc()
                continue
            if tx.hash not in node.mempool:
                fresh.append((tx, len(data)))
        # One ascending pass over the tx index for the whole slice, not a get per hash (see known_among).
        in_chain = node.ledger.known_among(tx.hash for tx, _size in fresh)
        for tx, size in fresh:
            if tx.hash in in_chain or tx.hash in node.mempool:  # a slice may repeat a transaction
                continue
            try:
                validate_stateless(tx, node.chain_id, now, node.ledger.verified)
                node.mempool.add(tx, size)
            except StatelessError:
                node.metrics.p2p_bad_messages.inc()
                continue
            except AccountLimit:
                node.metrics.mempool_full.inc()
                continue  # this creator's share is used up; others' transactions in the batch still fit
            except MempoolFull:
                node.metrics.mempool_full.inc()
                break
            added += 1
        if added:
            node.tx_arrived.set()
        return added
