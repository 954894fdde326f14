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

from consensus.codec import CodecError
from consensus.engine import Engine
from consensus.messages import SignedMessage
from consensus.timeouts import TimeoutConfig
from node.p2p.block_sync import BlockSync
from node.ledger.blocks import Block
from node.runtime.byzantine import Misbehaviour
from node.runtime.driver import ConsensusDriver
from node.p2p.gossip import TxGossiper
from node.ledger.chain import BlockExecution
from node.p2p.frames import DEFAULT_MAX_FRAME
from node.p2p.messages import (
    ConsensusWire,
    HeadAnnounce,
    SyncBlocks,
    SyncRequest,
    TxGossip,
    decode_peer_message,
    encode_peer_message,
)
from node.ledger.peers import Peer, peers_in_state
from node.p2p.transport import Transport

log = logging.getLogger("bakong.network")
MAX_FRAME = DEFAULT_MAX_FRAME  # node.limits: every block, proposal and sync answer fits
TICK_S = 1.0


class P2PNetwork:
    def __init__(self, node: "Node") -> None:  # type: ignore[name-defined]
        self.node = node
        self.peers: dict[bytes, Peer] = {}
        self.transport = Transport(node.chain_id, node.key, self.is_allowed, self.on_message, max_frame=MAX_FRAME,
                                   on_connect=self.on_connect, on_disconnect=self.on_disconnect)
        node.metrics.watch_transport(self.transport.counters)
        self.gossip = TxGossiper(node, self.send_to_validators)
        self.sync = BlockSync(node, self.transport.send, self.on_synced)
        self.driver: ConsensusDriver | None = None
        self.byzantine: Misbehaviour | None = None
        if node.config.testing.byzantine:
            log.warning("!!! BYZANTINE TEST MODE %r: this node deliberately misuses its key (conflicting, forged "
                        "and withheld consensus messages; never run this outside tests) !!!",
                        node.config.testing.byzantine)
            self.byzantine = Misbehaviour(node.config.testing.byzantine, node, self._byzantine_targets,
                                          self._byzantine_send)
        if node.config.role == "validator":
            c = node.config.consensus
            propose = c.propose_timeout_ms or node.config.block.max_block_interval_ms + 1000
            delta = c.timeout_delta_ms / 1000
            timeouts = TimeoutConfig(propose / 1000, delta, c.prevote_timeout_ms / 1000, delta,
                                     c.precommit_timeout_ms / 1000, delta)
            self.driver = ConsensusDriver(node, self.broadcast_consensus, self.on_committed, timeouts,
                                          send_conflicting=self.send_conflicting if self.byzantine else None)
        self._tasks: list[asyncio.Task[None]] = []

    # ---- peer set ----

    def is_allowed(self, public_key: bytes) -> bool:
        return public_key in self.peers

    @property
    def validator_keys(self) -> set[bytes]:
        return {k for k, p in self.peers.items() if not p.observer}

    def refresh_peers(self) -> None:
        """Follow the committed peer set: dial new validators, drop removed peers."""
        me = self.node.key.public_key
        current = {p.public_key: p for p in peers_in_state(self.node.store)}
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
        self.node.metrics.peers.set(len(self.transport.connected()))

    # ---- sending ----

    def send_to_validators(self, payload: bytes) -> None:
        for key in self.validator_keys & self.transport.connected():
            self.transport.send(key, payload)

    def broadcast_consensus(self, message: bytes) -> None:
        self.send_to_validators(encode_peer_message(ConsensusWire(message)))

    async def send_conflicting(self, message: SignedMessage, engine: Engine) -> None:
        """Byzantine test mode: our engine's own ``message`` goes out the way ``node.byzantine`` wants."""
        assert self.byzantine is not None
        await self.byzantine.broadcast(message, engine)

    def _byzantine_targets(self) -> list[bytes]:
        return sorted(self.validator_keys & self.transport.connected())

    def _byzantine_send(self, peer: bytes, message: bytes) -> None:
        self.transport.send(peer, encode_peer_message(ConsensusWire(message)))

    def announce_head(self, to: bytes | None = None) -> None:
        head = self.node.ledger.head
        height, block_hash = head.height, head.block_hash
        if self.byzantine is not None:  # test mode lying_head: a head far above the real one
            height, block_hash = self.byzantine.announced_head(height, block_hash)
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
            self.node.metrics.p2p_bad_messages.inc()
            return
        from_validator = peer in self.validator_keys
        if isinstance(msg, TxGossip):
            self.gossip.receive(msg)
        elif isinstance(msg, ConsensusWire):
            if self.driver is not None and from_validator:
                self.driver.message_from_peer(msg.message)
        elif isinstance(msg, HeadAnnounce):
            self.sync.on_head(peer, msg)
        elif isinstance(msg, SyncRequest):
            self.sync.on_request(peer, msg)
        elif isinstance(msg, SyncBlocks):
            self._spawn(self.sync.on_blocks(peer, msg))

    def on_connect(self, peer: bytes) -> None:
        self.node.metrics.peers.set(len(self.transport.connected()))
        self.announce_head(to=peer)
        if self.driver is not None and peer in self.validator_keys:
            for message in self.driver.own_messages():
                self.transport.send(peer, encode_peer_message(ConsensusWire(message)))

    def on_disconnect(self, peer: bytes) -> None:
        self.node.metrics.peers.set(len(self.transport.connected()))
        self.sync.peer_gone(peer)

    # ---- commits ----

    def on_committed(self, block: Block, execution: BlockExecution) -> None:
        self.node.after_commit(block, execution)
        self.announce_head()
        if execution.peers_touched:
            self.refresh_peers()

    def on_synced(self, block: Block, execution: BlockExecution) -> None:
        self.node.metrics.synced_blocks.inc()
        self.on_committed(block, execution)
        if self.driver is not None:
            self.driver.committed_by_sync()

    # ---- lifecycle ----

    def _spawn(self, coro: "asyncio.coroutines.Coroutine") -> None:  # type: ignore[name-defined]
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def start(self) -> None:
        cfg = self.node.config
        await self.transport.start(cfg.p2p_host, cfg.p2p_port)
        self.refresh_peers()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            if self.driver is not None:
                tasks.create_task(self.driver.run())
            tasks.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._tick_once()
            except Exception:
                log.exception("network tick failed")
                self.node.metrics.internal_errors.inc()

    def _tick_once(self) -> None:
        loop = asyncio.get_running_loop()
        self.announce_head()
        self.sync.maybe_request()
        if self.driver is None or self.driver.engine.key is None:
            # Only a node that never proposes re-sends stale transactions: a validator proposes what
            # its own pool holds when its turn comes, while its re-sends under a backlog (the
            # oldest, about to be committed) mostly arrived after the receiver had committed them
            # and were decoded for nothing.
            self.gossip.regossip_stale()
        if self.driver is not None and loop.time() - self.driver.last_commit > 2 * TICK_S:
            for message in self.driver.known_messages():
                self.broadcast_consensus(message)
        if self.driver is not None:
            self.node.metrics.round.set(self.driver.engine.round)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.transport.close()
