"""One node's place in the network: transport, transaction gossip, consensus and block sync.

Who talks to whom follows the peer set in the committed state (AddPeer / RemovePeer): only keys in
it may connect; validators dial every other validator (a full mesh) and observers dial the
validators, who accept them. Consensus messages go to validators only. After every commit a node
announces its head to everyone it is connected to, and once a second it repeats that (so laggards
notice and sync) and, if no block was committed lately, re-sends every message it knows of the current
height (the gossip the paper assumes: a message lost to a dropped connection, or seen by only some
nodes, cannot stall the round).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from typing import Any, Protocol

from consensus.codec import CodecError
from consensus.crypto import KeyPair
from node.intake.admission import Admission
from node.intake.mempool import Mempool
from node.ledger.blocks import Block
from node.ledger.chain import BlockExecution, Ledger
from node.ledger.peers import Peer, peers_in_state
from node.metrics import NodeMetrics
from node.p2p.block_sync import BlockSync
from node.p2p.frames import DEFAULT_MAX_FRAME
from node.p2p.gossip import TxGossiper
from node.p2p.messages import (
    ConsensusWire,
    HeadAnnounce,
    SyncBlocks,
    SyncRequest,
    TxGossip,
    decode_peer_message,
    encode_peer_message,
)
from node.p2p.transport import Transport

log = logging.getLogger("bakong.network")
MAX_FRAME = DEFAULT_MAX_FRAME  # node.ledger.limits: every block, proposal and sync answer fits
TICK_S = 1.0


class NetworkHost(Protocol):
    """What the network uses of the node: who it is, the chain it serves, the pool gossip feeds, the
    ledger thread block sync applies on, and where it reports."""

    @property
    def chain_id(self) -> str: ...
    @property
    def key(self) -> KeyPair: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def mempool(self) -> Mempool: ...
    @property
    def admission(self) -> Admission: ...
    @property
    def worker(self) -> Executor: ...
    @property
    def metrics(self) -> NodeMetrics: ...
    @property
    def tx_arrived(self) -> asyncio.Event: ...
    def clock_ms(self) -> int: ...


class ConsensusPeer(Protocol):
    """What the network needs of a consensus participant (``node.runtime.driver.ConsensusDriver``)."""

    @property
    def signing(self) -> bool: ...
    @property
    def round(self) -> int: ...
    @property
    def last_commit(self) -> float: ...
    def message_from_peer(self, peer: bytes, data: bytes) -> None: ...
    def regossip(self, peers: Sequence[bytes | None]) -> dict[bytes | None, list[bytes]]: ...


Committed = Callable[[Block, BlockExecution, bool], None]
"""The composition root's commit fan-out: (block, execution, came by block sync)."""


class P2PNetwork:
    """``on_committed`` is told of blocks block sync applied; ``consensus`` (set by the composition root on
    a validator) receives validators' consensus messages; ``head_to_announce`` lets the faults seam lie
    about the head (tests only)."""

    def __init__(self, host: NetworkHost, listen: tuple[str, int], on_committed: Committed,
                 pending_regossip_s: float = 30.0) -> None:
        self.host = host
        self.pending_regossip_s = pending_regossip_s  # [mempool] pending_regossip_seconds
        self.listen = listen
        self.on_committed = on_committed
        self.metrics = host.metrics
        self.peers: dict[bytes, Peer] = {}
        self.transport = Transport(host.chain_id, host.key, self.is_allowed, self.on_message, max_frame=MAX_FRAME,
                                   on_connect=self.on_connect, on_disconnect=self.on_disconnect)
        host.metrics.watch_transport(self.transport.counters)
        self.gossip = TxGossiper(host.mempool, self.send_to_validators, host.admission, host.clock_ms,
                                 on_admitted=host.tx_arrived.set, on_dropped=host.metrics.gossip_dropped.inc,
                                 send_to_peers=self.send_to_peers)
        self.sync = BlockSync(host, self.transport.send, self._synced)
        self.consensus: ConsensusPeer | None = None
        self.head_to_announce: Callable[[int, bytes], tuple[int, bytes]] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ---- peer set ----

    def is_allowed(self, public_key: bytes) -> bool:
        return public_key in self.peers

    @property
    def validator_keys(self) -> set[bytes]:
        return {k for k, p in self.peers.items() if not p.observer}

    def refresh_peers(self) -> None:
        """Follow the committed peer set: dial new validators, drop removed peers."""
        me = self.host.key.public_key
        current = {p.public_key: p for p in peers_in_state(self.host.ledger.store)}
        for key in set(self.peers) - set(current):
            self.transport.remove_peer(key)
        for key, peer in current.items():
            if key == me or peer.observer:
                continue
            old = self.peers.get(key)
            if old is None or old.address != peer.address or old.observer:
                host, port = peer.host_port
                self.transport.add_peer(key, host, port)
        self.peers = current
        self.metrics.peers.set(len(self.transport.connected()))

    # ---- sending ----

    def send_to_validators(self, payload: bytes) -> None:
        for key in self.validator_keys & self.transport.connected():
            self.transport.send(key, payload)

    def send_to_peers(self, payload: bytes) -> None:
        """Every connected peer, observers too (pending multisig copies: a co-signer's bank may run one)."""
        for key in self.transport.connected():
            self.transport.send(key, payload)

    def broadcast_consensus(self, message: bytes) -> None:
        self.send_to_validators(encode_peer_message(ConsensusWire(message)))

    def send_to_validator(self, peer: bytes, message: bytes) -> None:
        """One consensus message to one validator (the faults seam's misbehaviour picks whom)."""
        self.transport.send(peer, encode_peer_message(ConsensusWire(message)))

    def connected_validators(self) -> list[bytes]:
        return sorted(self.validator_keys & self.transport.connected())

    def announce_head(self, to: bytes | None = None) -> None:
        head = self.host.ledger.head
        height, block_hash = head.height, head.block_hash
        if self.head_to_announce is not None:  # the faults seam (lying_head): a head far above the real one
            height, block_hash = self.head_to_announce(height, block_hash)
        payload = encode_peer_message(HeadAnnounce(height, block_hash))
        if to is None:
            self.transport.broadcast(payload)
        else:
            self.transport.send(to, payload)

    # ---- receiving ----

    def on_message(self, peer: bytes, payload: bytes) -> None:
        try:
            msg = decode_peer_message(payload, MAX_FRAME)
        except CodecError as exc:
            log.info("dropping a malformed message from %s: %s", peer.hex()[:12], exc)
            self.metrics.p2p_bad_messages.inc()
            return
        from_validator = peer in self.validator_keys
        if isinstance(msg, TxGossip):
            self.gossip.receive(msg)
        elif isinstance(msg, ConsensusWire):
            if self.consensus is not None and from_validator:
                self.consensus.message_from_peer(peer, msg.message)
        elif isinstance(msg, HeadAnnounce):
            self.sync.on_head(peer, msg)
        elif isinstance(msg, SyncRequest):
            self.sync.on_request(peer, msg)
        elif isinstance(msg, SyncBlocks):
            self._spawn(self.sync.on_blocks(peer, msg))

    def on_connect(self, peer: bytes) -> None:
        self.metrics.peers.set(len(self.transport.connected()))
        self.announce_head(to=peer)
        if self.consensus is not None and peer in self.validator_keys:
            # What it may have missed or, restarted, lost: the current height's votes and the blocks
            # that can still matter, none held back (None: it may have lost what it voted for).
            for message in self.consensus.regossip([None])[None]:
                self.transport.send(peer, encode_peer_message(ConsensusWire(message)))

    def on_disconnect(self, peer: bytes) -> None:
        self.metrics.peers.set(len(self.transport.connected()))
        self.sync.peer_gone(peer)

    # ---- commits ----

    def block_committed(self, peers_touched: bool) -> None:
        """The composition root's fan-out, after any commit: tell peers, follow a changed peer set."""
        self.announce_head()
        if peers_touched:
            self.refresh_peers()

    def _synced(self, block: Block, execution: BlockExecution) -> None:
        self.metrics.synced_blocks.inc()
        self.on_committed(block, execution, True)

    # ---- lifecycle ----

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def start(self) -> None:
        await self.transport.start(*self.listen)
        self.refresh_peers()

    async def run(self) -> None:
        """Once a second until cancelled: head announcements, sync requests, re-gossip (``_tick_once``)."""
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._tick_once()
            except Exception:
                log.exception("network tick failed")
                self.metrics.internal_errors.inc()

    def _tick_once(self) -> None:
        loop = asyncio.get_running_loop()
        self.announce_head()
        self.sync.maybe_request()
        consensus = self.consensus
        if consensus is None or not consensus.signing:
            # Only a node that never proposes re-sends stale transactions: a validator proposes what
            # its own pool holds when its turn comes, while its re-sends under a backlog (the
            # oldest, about to be committed) mostly arrived after the receiver had committed them
            # and were decoded for nothing.
            self.gossip.regossip_stale()
        # Every node: a pending copy reaches a validator that missed it when it first flew. Validators
        # send theirs to every peer, so an observer (a bank's node, where its co-signers look with
        # GetPendingTransactions) has them too; an observer sends its own to the validators only.
        signing = consensus is not None and consensus.signing
        self.gossip.regossip_pending(every_s=self.pending_regossip_s, to_all=signing)
        if consensus is not None:
            if loop.time() - consensus.last_commit > 2 * TICK_S:
                # Stalled: each validator gets what it may still need (the engine's regossip_messages:
                # every vote, only the blocks that can still matter and that it has not voted for).
                for peer, messages in consensus.regossip(self.connected_validators()).items():
                    assert peer is not None
                    for message in messages:
                        self.transport.send(peer, encode_peer_message(ConsensusWire(message)))
            self.metrics.round.set(consensus.round)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.transport.close()
