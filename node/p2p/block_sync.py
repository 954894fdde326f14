"""Block sync: a node that is behind fetches committed blocks with their certificates and applies them.

Triggered by a peer's HeadAnnounce (sent after every commit and periodically) showing a higher head.
Each block is accepted only if its commit certificate verifies against the validator set our own
state names for that height and certifies exactly these block bytes; it is then validated by
executing it (state root and rejected set must match its header) and committed in one batch, like a
block this node decided itself. Observers follow the chain this way; a restarted or partitioned
validator catches up this way before it votes again.

Peer policy. Any connected peer, an observer included, may announce any height, so an announced
height only makes a peer a candidate; it never decides whom we ask. Among the candidates (ahead of
us, not benched) we ask the one that answered usefully lately, then the one with the fewest failures,
then the one asked longest ago (so equals take turns). One request is in flight at a time. A request
that times out (or whose peer leaves), or an answer that moves us nowhere (empty, blocks we did not ask
for, a gap, blocks out
of order) is a failure: the peer is benched for 5 s, doubling per consecutive failure up to 5 min, and
the next candidate is asked at the next tick. A block whose certificate or execution fails (which no
honest peer can send) bans its sender for BAN_S. A useful answer clears the failures. Answers are
accepted only from the peer asked, once; requests we answer are bounded in bytes per peer and second.
Records exist only for connected peers (the transport admits only the peer set), plus the penalties
still running of peers that disconnected, so a liar cannot reconnect its way out of a ban.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from consensus.certificate import CommitCertificate, InvalidCertificate
from consensus.codec import CodecError
from consensus.crypto import hash_bytes
from node.ledger.blocks import Block, decode_block
from node.ledger.chain import BlockExecution, Ledger
from node.ledger.errors import InvalidBlock
from node.ledger.limits import MAX_SYNC_RESPONSE_BYTES
from node.ledger.peers import validator_set
from node.ledger.transactions import Transaction
from node.metrics import NodeMetrics
from node.p2p.messages import HeadAnnounce, SyncBlocks, SyncRequest, encode_peer_message

log = logging.getLogger("bakong.sync")
BATCH = 32
MAX_RESPONSE_BYTES = MAX_SYNC_RESPONSE_BYTES  # node.ledger.limits: one answer always fits a frame
REQUEST_TIMEOUT_S = 5.0
BENCH_INITIAL_S = 5.0
BENCH_MAX_S = 300.0
BAN_S = 1800.0
RECENT_S = 60.0
"""A peer that answered usefully within this long is preferred to one that did not."""
# Serving: an honest peer asks again only after applying our last answer (8 MB of transfers take it
# ~0.3 s), so it stays well under this; a request over budget is dropped and times out at the asker.
SERVE_BYTES_PER_S = 64 * 1024 * 1024
SERVE_BURST_BYTES = 4 * MAX_RESPONSE_BYTES
SERVE_MIN_COST = 64 * 1024
"""What answering one request costs at least (LevelDB reads), so a flood of tiny requests is bounded too."""

# Refusals an honest but confused peer could not cause either, yet that prove nothing about a
# certificate or an execution: the answer is useless, the peer is benched (not banned).
_ORDER_CODES = frozenset({"sync_gap"})


@dataclass
class SyncPeer:
    """What block sync knows of one peer."""

    connected: bool = True
    """False once it disconnected: kept only while a penalty runs."""
    height: int = -1
    """Its last announced head (a claim, not a fact)."""
    last_useful: float = -math.inf
    """When an answer of it last moved our head."""
    last_asked: float = -math.inf
    failures: int = 0
    """Consecutive failures (timeouts, useless or refused answers); a useful answer clears them."""
    benched_until: float = -math.inf
    """Not asked before this time."""
    serve_budget: float = SERVE_BURST_BYTES
    """Bytes of blocks we may still send it (a token bucket refilled at SERVE_BYTES_PER_S)."""
    serve_checked: float = -math.inf


@dataclass
class _Request:
    peer: bytes
    from_height: int
    sent_at: float
    answered: bool = False


class SyncHost(Protocol):
    """What block sync uses of the node: the chain it extends (and the pool whose decoded transactions
    spare it decoding a block's), the one thread that may write the ledger, and where it reports."""

    @property
    def chain_id(self) -> str: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def mempool(self) -> KnownTransactions: ...
    @property
    def worker(self) -> Executor: ...
    @property
    def metrics(self) -> NodeMetrics: ...


class KnownTransactions(Protocol):
    def by_bytes(self, raw: bytes) -> Transaction | None: ...


class BlockSync:
    def __init__(self, node: SyncHost, send: Callable[[bytes, bytes], bool],
                 on_applied: Callable[[Block, BlockExecution], None],
                 clock: Callable[[], float] | None = None) -> None:
        self.node = node
        self.send = send
        self.on_applied = on_applied
        self.clock = clock if clock is not None else time.monotonic
        self.peers: dict[bytes, SyncPeer] = {}
        self._in_flight: _Request | None = None
        self._own_failure_at: float | None = None
        self._applying = asyncio.Lock()

    @property
    def best_known_height(self) -> int:
        """The highest head a peer in good standing claims (a claim: liars can inflate it)."""
        now = self.clock()
        heights = (p.height for p in self.peers.values() if p.connected and p.benched_until <= now)
        return max(0, max(heights, default=0))  # a peer that never announced claims nothing (-1)

    # ---- peers ----

    def on_head(self, peer: bytes, msg: HeadAnnounce) -> None:
        record = self._record(peer)
        record.height = msg.height
        self.maybe_request()

    def peer_gone(self, peer: bytes) -> None:
        request = self._in_flight
        if request is not None and request.peer == peer and not request.answered:
            # Leaving instead of answering counts as a timeout, so that reconnecting at once and
            # announcing again does not earn a fresh, unpenalized turn.
            self._in_flight = None
            self._penalize(peer, "gone")
        now = self.clock()
        record = self.peers.get(peer)
        if record is not None:
            record.connected = False
            record.height = -1
        for key in [k for k, p in self.peers.items() if not p.connected and p.benched_until <= now]:
            del self.peers[key]

    def _record(self, peer: bytes) -> SyncPeer:
        record = self.peers.get(peer)
        if record is None:
            record = self.peers[peer] = SyncPeer()
        record.connected = True
        return record

    def _penalize(self, peer: bytes, reason: str) -> None:
        """Count a failure of ``peer``: bench it (exponential, capped), or ban it for an invalid block."""
        now = self.clock()
        record = self.peers.get(peer)
        if record is None:  # it disconnected while we applied its answer: the penalty still holds
            record = self.peers[peer] = SyncPeer(connected=False)
        record.failures += 1
        if reason == "invalid":
            pause = BAN_S
        else:
            pause = min(BENCH_INITIAL_S * 2 ** min(record.failures - 1, 16), BENCH_MAX_S)
        record.benched_until = max(record.benched_until, now + pause)
        self.node.metrics.sync_peer_penalties.labels(reason).inc()
        log.info("sync peer %s %s: %d failure(s), not asked for %.0f s", peer.hex()[:12],
                 "banned (invalid block)" if reason == "invalid" else reason, record.failures, pause)

    def _useful(self, peer: bytes) -> None:
        record = self.peers.get(peer)
        if record is not None:
            record.failures = 0
            record.last_useful = self.clock()
            record.benched_until = -math.inf

    # ---- asking ----

    def maybe_request(self) -> None:
        if self._applying.locked():
            # Blocks are being applied: the head is about to move, and asking now would fetch the same
            # blocks again from another peer (an observer used to receive each block about 3 times).
            return
        now = self.clock()
        if self._own_failure_at is not None:
            if now - self._own_failure_at < REQUEST_TIMEOUT_S:
                return  # our own apply failed: retry later, not in a tight loop
            self._own_failure_at = None
        request = self._in_flight
        if request is not None:
            if now - request.sent_at < REQUEST_TIMEOUT_S:
                return
            self._in_flight = None
            self._penalize(request.peer, "timeout")
        head = self.node.ledger.head.height
        candidates = [(key, p) for key, p in self.peers.items()
                      if p.connected and p.height > head and p.benched_until <= now]
        candidates.sort(key=lambda kp: (now - kp[1].last_useful > RECENT_S, kp[1].failures, kp[1].last_asked,
                                        -kp[1].height, kp[0]))
        payload = encode_peer_message(SyncRequest(head + 1, BATCH))
        for key, record in candidates:
            if self.send(key, payload):
                record.last_asked = now
                self._in_flight = _Request(key, head + 1, now)
                return

    # ---- answering ----

    def on_request(self, peer: bytes, msg: SyncRequest) -> None:
        ledger = self.node.ledger
        record = self._record(peer)
        now = self.clock()
        record.serve_budget = min(SERVE_BURST_BYTES,
                                  record.serve_budget + (now - record.serve_checked) * SERVE_BYTES_PER_S)
        record.serve_checked = now
        if record.serve_budget <= 0:
            self.node.metrics.sync_dropped.labels("over_serve_budget").inc()
            return
        blocks: list[tuple[bytes, bytes]] = []
        size = 0
        for height in range(msg.from_height, min(msg.from_height + msg.max_blocks, ledger.head.height + 1)):
            block, cert = ledger.block_bytes(height), ledger.certificate(height)
            if block is None or cert is None:
                break
            size += len(block) + len(cert)
            if blocks and size > MAX_RESPONSE_BYTES:
                size -= len(block) + len(cert)
                break
            blocks.append((block, cert))
        record.serve_budget -= max(size, SERVE_MIN_COST)
        if blocks:
            self.send(peer, encode_peer_message(SyncBlocks(tuple(blocks))))

    # ---- receiving ----

    async def on_blocks(self, peer: bytes, msg: SyncBlocks) -> None:
        request = self._in_flight
        if request is None or request.peer != peer or request.answered:
            # Not asked (or answered already): a late answer after a timeout, or a peer pushing blocks
            # to make us decode and verify them. Dropped before any work.
            self.node.metrics.sync_dropped.labels("unsolicited").inc()
            return
        request.answered = True
        applied = 0
        refused: str | None = None
        failed = False
        async with self._applying:
            loop = asyncio.get_running_loop()
            for block_bytes, cert_bytes in msg.blocks:
                started = loop.time()
                try:
                    result = await loop.run_in_executor(self.node.worker, self._apply, block_bytes,
                                                        cert_bytes)
                except (InvalidBlock, InvalidCertificate, CodecError) as exc:
                    refused = getattr(exc, "code", "bad_block")
                    log.warning("block from peer %s refused: %s", peer.hex()[:12], exc)
                    self.node.metrics.invalid_blocks.labels(refused).inc()
                    break
                except Exception:  # our fault, not the peer's (e.g. the disk): say so, then back off
                    log.exception("applying a synced block from peer %s failed", peer.hex()[:12])
                    self.node.metrics.sync_apply_failures.inc()
                    failed = True
                    break
                if result is not None:
                    applied += 1
                    self.node.metrics.block_seconds.labels("sync").observe(loop.time() - started)
                    self.on_applied(*result)
            if self._in_flight is request:
                self._in_flight = None
            if failed:
                # After a failure of our own no request goes out for REQUEST_TIMEOUT_S, so a persistent
                # fault retries every few seconds instead of fetching the same blocks in a tight loop.
                self._own_failure_at = self.clock()
            elif refused is not None:
                self._penalize(peer, "refused" if refused in _ORDER_CODES else "invalid")
            elif applied:
                self._useful(peer)
            elif not msg.blocks or self.node.ledger.head.height < request.from_height:
                # Nothing we asked for. (Blocks we already hold because consensus committed them
                # meanwhile are not the peer's fault.)
                self._penalize(peer, "useless")
        self.maybe_request()

    def _apply(self, block_bytes: bytes, cert_bytes: bytes) -> tuple[Block, BlockExecution] | None:
        """Worker thread: verify the certificate, then validate, execute and commit the block."""
        ledger = self.node.ledger
        block = decode_block(block_bytes, self.node.mempool.by_bytes)
        if block.height <= ledger.head.height:
            return None  # already have it (consensus committed it meanwhile)
        if block.height != ledger.head.height + 1:
            raise InvalidBlock("sync_gap", f"got block {block.height} while at {ledger.head.height}")
        if not cert_bytes:
            raise InvalidBlock("missing_certificate", f"block {block.height} came without its certificate")
        try:
            certificate = CommitCertificate.decode(cert_bytes)
        except CodecError as exc:
            raise InvalidBlock(f"bad_certificate_{exc.code}", exc.message) from exc
        if certificate.height != block.height or certificate.value_id != hash_bytes(block_bytes):
            raise InvalidBlock("certificate_mismatch", "the certificate is for another block")
        certificate.verify(self.node.chain_id, validator_set(self.node.ledger.store))
        # The certificate shows 2f+1 validators (so at least f+1 honest ones) checked every signature.
        execution = ledger.validate_block(block, verify_signatures=False)
        ledger.commit(block, execution, cert_bytes)
        return block, execution
