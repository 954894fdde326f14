"""The asyncio adapter around the sans-IO consensus engine.

It feeds the engine received messages, fired timeouts and the answers to its questions, and carries
out its actions in order: persist the safety record (synced, in node.safety_store's files) before a
message leaves, broadcast to the validators, schedule timeouts on the event loop, build a block (the
proposer executes it and seals the state root in the header: execute-then-vote), validate a peer's
block by executing it, and commit a decided block with its certificate in one synced batch. Blocks decided elsewhere and
fetched by block sync enter through ``committed_by_sync``.

Own messages leave through ``send``, given by the composition root: the network's broadcast, or, with
``[testing] byzantine`` only, the faults seam's misbehaviour (``node.runtime.faults``: the honest
engine signed the message; what leaves is decided around it, and nothing it signs reaches the safety
record). The driver itself has no test-only branch.

All ledger work runs on the node's single worker thread, in event order, so the execution that
validated a block is the one committed (no second execution) and nothing races the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from consensus.actions import (
    Action,
    Broadcast,
    BuildValue,
    Commit,
    PersistSafety,
    ReportEvidence,
    ScheduleTimeout,
    ValidateValue,
)
from consensus.codec import CodecError
from consensus.crypto import KeyPair, hash_bytes
from consensus.engine import Engine, EngineLimits
from consensus.events import Event, MessageReceived, StartHeight, TimeoutFired, ValueBuilt, ValueValidated
from consensus.messages import SignedMessage, decode_message, encode_message
from consensus.safety import SafetyRecord
from consensus.timeouts import TimeoutConfig
from consensus.validators import ValidatorSet
from node.config import BlockConfig
from node.intake.mempool import Mempool
from node.ledger.blocks import Block, decode_block
from node.ledger.chain import BlockExecution, Ledger
from node.ledger.errors import InvalidBlock
from node.ledger.limits import MAX_PROPOSAL_BYTES
from node.ledger.peers import validator_set
from node.ledger.validation import TX_TIME_WINDOW
from node.metrics import NodeMetrics
from node.runtime.safety_store import SafetyFile, ValueStash
from storage import keys
from storage.db import LedgerStore

log = logging.getLogger("bakong.consensus")

# What peers can make the engine keep, per signer: a height not started yet may bring one maximal
# proposal and its votes; proposals at the current height, a few maximal ones before old ones go.
# Validated blocks (with their executions) kept per height for the commit.
MAX_CANDIDATES = 8
ENGINE_LIMITS = EngineLimits(max_buffered_bytes_per_signer=MAX_PROPOSAL_BYTES + 1024 * 1024,
                             max_proposal_bytes_per_signer=3 * MAX_PROPOSAL_BYTES)


def next_height(store: LedgerStore) -> tuple[int, ValidatorSet]:
    """The height to decide next and its validator set, both from one published snapshot.

    A block-sync commit runs on the worker thread while this runs on the event loop: reading the peer
    set from the live database and the head separately could pair a height with the wrong set (the
    batch is in LevelDB a moment before the head moves)."""
    published = store.published()
    return published.head.height + 1, validator_set(published)


class DriverHost(Protocol):
    """What the driver uses of the node: the chain, the pool it proposes from, its key and safety
    record, the one thread that writes the ledger, and where it reports."""

    @property
    def chain_id(self) -> str: ...
    @property
    def key(self) -> KeyPair: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def mempool(self) -> Mempool: ...
    @property
    def tx_arrived(self) -> asyncio.Event: ...
    @property
    def safety(self) -> SafetyFile: ...
    @property
    def safety_values(self) -> ValueStash: ...
    @property
    def worker(self) -> Executor: ...
    @property
    def metrics(self) -> NodeMetrics: ...
    def clock_ms(self) -> int: ...


Send = Callable[[SignedMessage, Engine], Awaitable[None] | None]
"""How an own message leaves: the network's broadcast (returns None) or the faults seam (a coroutine)."""

INBOX_BYTES_PER_PEER = 4 * MAX_PROPOSAL_BYTES
"""Consensus messages from one peer received but not yet handled by the engine, in wire bytes.

The engine's budgets per signer apply once it handles a message; until then it waits in the driver's
queue, and the engine waits on the ledger worker while a block is validated or committed (seconds for a
~16 MB block on a loaded host) while the network keeps reading. A validator streaming maximal proposals
would grow that queue by hundreds of MB a second. An honest peer has at most a few blocks in flight (its
fresh proposal and the re-gossiped ones that can still matter: ``Engine.regossip_messages``); past the
bound its messages are dropped unread (``bakong_consensus_inbox_dropped``) and re-gossip brings back what
still matters once the queue drains."""


@dataclass(frozen=True)
class _Inbound:
    """A peer's message in the queue, with what it holds of that peer's inbox budget."""

    peer: bytes
    size: int
    event: MessageReceived


class ConsensusDriver:
    def __init__(self, node: DriverHost, send: Send, on_commit: Callable[[Block, BlockExecution], None],
                 timeouts: TimeoutConfig, block: BlockConfig, may_sign: bool) -> None:
        """``may_sign``: this node is configured as a validator; it signs only while the committed state
        also names its key in the validator set."""
        self.node = node
        self.send = send
        self.block_config = block
        self.may_sign = may_sign
        self.on_commit = on_commit
        self.timeouts = timeouts
        self.events: asyncio.Queue[Event | _Inbound] = asyncio.Queue()
        self._inbox_bytes: dict[bytes, int] = {}  # peer -> bytes of its messages queued, not yet handled
        self.engine = self._new_engine(signing=False)
        self._candidates: dict[bytes, tuple[Block, BlockExecution]] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self._build_task: asyncio.Task[None] | None = None
        self.last_commit = asyncio.get_running_loop().time()
        self.evidence_count = sum(1 for _ in node.ledger.store.scan(keys.EVIDENCE))

    # ---- engine lifecycle ----

    def _load_safety(self) -> tuple[SafetyRecord | None, dict[bytes, bytes]]:
        """The stored record and the value bytes kept beside it (a version 1 record held them inside)."""
        raw = self.node.safety.load()
        if raw is None:
            return None, {}
        # Our own file (checksummed): a version 1 record could hold blocks far above the usual limit.
        record = SafetyRecord.decode(raw, max_bytes=len(raw))
        return record, {**SafetyRecord.v1_values(raw), **self.node.safety_values.load()}

    def _new_engine(self, signing: bool) -> Engine:
        if not signing:
            return Engine(self.node.chain_id, None, self.timeouts, limits=ENGINE_LIMITS)
        record, values = self._load_safety()
        return Engine(self.node.chain_id, self.node.key, self.timeouts, safety=record, limits=ENGINE_LIMITS,
                      values=values)

    def start_next_height(self) -> None:
        """Begin consensus on head + 1 with the validator set the committed state names."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._candidates.clear()
        height, validators = next_height(self.node.ledger.store)
        signing = self.may_sign and self.node.key.public_key in validators
        if signing != (self.engine.key is not None):
            log.info("this node %s the validator set", "joins" if signing else "is not in")
            self.engine = self._new_engine(signing)
        self.events.put_nowait(StartHeight(height, validators))

    def stop_signing(self) -> None:
        """Never sign again in this process (the signing guard saw this key sign elsewhere). The engine is
        replaced by a follower's at the next height start, which both commit paths run right after the
        commit fan-out that calls this (``_commit`` after ``on_commit``, block sync via
        ``committed_by_sync``), with no await in between: nothing is signed meanwhile."""
        self.may_sign = False

    @property
    def validators(self) -> ValidatorSet | None:
        return self.engine.validators

    @property
    def signing(self) -> bool:
        """This node votes at the current height (a validator in the committed set)."""
        return self.engine.key is not None

    @property
    def round(self) -> int:
        return self.engine.round

    # ---- inputs ----

    def message_from_peer(self, peer: bytes, data: bytes) -> None:
        queued = self._inbox_bytes.get(peer, 0)
        if queued + len(data) > INBOX_BYTES_PER_PEER:  # before decoding: a proposal's id hashes its block
            self.node.metrics.consensus_inbox_dropped.inc()
            return
        try:
            message = decode_message(data, MAX_PROPOSAL_BYTES)
        except CodecError:  # a peer's malformed bytes: counted, dropped (our own bugs still raise)
            self.node.metrics.p2p_bad_messages.inc()
            return
        self._inbox_bytes[peer] = queued + len(data)
        self.events.put_nowait(_Inbound(peer, len(data), MessageReceived(message)))

    def _handled(self, inbound: _Inbound) -> MessageReceived:
        """Give back the inbox budget a queued message held, as the engine takes it."""
        left = self._inbox_bytes[inbound.peer] - inbound.size
        if left:
            self._inbox_bytes[inbound.peer] = left
        else:
            del self._inbox_bytes[inbound.peer]  # a departed peer's entry does not outlive its messages
        return inbound.event

    def regossip(self, peers: Sequence[bytes | None]) -> dict[bytes | None, list[bytes]]:
        """Per peer, what to re-send it while stalled, supplying the gossip the paper assumes (what one
        correct node received, every correct node eventually receives): the engine's
        ``regossip_messages`` for that peer, each message encoded once however many peers get it. None
        stands for a peer that just (re)connected: it may have restarted and lost blocks it voted for, so
        nothing is held back from it."""
        encoded: dict[SignedMessage, bytes] = {}
        out: dict[bytes | None, list[bytes]] = {}
        for peer in peers:
            messages = self.engine.regossip_messages(peer)
            for message in messages:
                if message not in encoded:
                    encoded[message] = encode_message(message)
            out[peer] = [encoded[m] for m in messages]
        return out

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.start_next_height()
        while True:
            queued = await self.events.get()
            event = self._handled(queued) if isinstance(queued, _Inbound) else queued
            if isinstance(event, StartHeight) and event.height != self.node.ledger.head.height + 1:
                continue  # superseded by a later commit (block sync went ahead)
            for action in self.engine.handle(event, loop.time()):
                if isinstance(action, Broadcast):
                    try:
                        await self._carry_out(action)
                    except Exception:
                        log.exception("could not send %s", type(action.message).__name__)
                        self.node.metrics.consensus_send_failures.inc()
                    continue
                await self._carry_out(action)

    # ---- actions ----

    async def _carry_out(self, action: Action) -> None:
        node = self.node
        loop = asyncio.get_running_loop()
        if isinstance(action, PersistSafety):
            record = action.record.encode()

            def persist() -> None:
                node.safety_values.keep(action.values, action.record.value_ids())  # best effort, unsynced
                node.safety.store(record)  # synced: before the message it covers leaves

            await loop.run_in_executor(node.worker, persist)
        elif isinstance(action, Broadcast):
            sending = self.send(action.message, self.engine)
            if sending is not None:
                await sending
        elif isinstance(action, ScheduleTimeout):
            event = TimeoutFired(action.height, action.round, action.step)
            self._timers.append(loop.call_at(action.at, self.events.put_nowait, event))
        elif isinstance(action, BuildValue):
            if self._build_task is not None:
                self._build_task.cancel()
            self._build_task = asyncio.ensure_future(self._build(action))
        elif isinstance(action, ValidateValue):
            try:
                valid = await loop.run_in_executor(node.worker, self._validate, action.height, action.value)
            except Exception:
                log.exception("validating a proposed block at height %d failed", action.height)
                node.metrics.invalid_blocks.labels("validation_error").inc()
                valid = False
            self.events.put_nowait(ValueValidated(action.height, action.value_id, valid))
        elif isinstance(action, Commit):
            await self._commit(action)
        elif isinstance(action, ReportEvidence):
            await self._record_evidence(action)

    async def _build(self, action: BuildValue) -> None:
        """The proposer waits for transactions (or the heartbeat interval), then executes a block."""
        node = self.node
        cfg = self.block_config
        loop = asyncio.get_running_loop()
        deadline = self.last_commit + cfg.max_block_interval_ms / 1000
        while not len(node.mempool) and loop.time() < deadline:
            node.tx_arrived.clear()
            try:
                await asyncio.wait_for(node.tx_arrived.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
        if len(node.mempool) and len(node.mempool) < cfg.max_block_txs:
            await asyncio.sleep(cfg.batch_wait_ms / 1000)
        txs = node.mempool.peek(cfg.max_block_txs)

        def build() -> tuple[bytes, tuple[bytes, ...]]:
            block, execution = node.ledger.build_block(txs, node.clock_ms(), node.key.public_key)
            value = block.encode()
            self._remember(hash_bytes(value), block, execution)
            return value, execution.left_out

        if node.ledger.head.height + 1 != action.height:
            return
        value, left_out = await loop.run_in_executor(node.worker, build)
        if left_out:  # no longer signed enough as they stand (the state changed): they cannot go in a block
            node.mempool.remove(list(left_out))
        self.events.put_nowait(ValueBuilt(action.height, action.round, value))

    def _validate(self, height: int, value: bytes) -> bool:
        """Worker thread: decode and execute a proposed block; remember the execution for the commit."""
        node = self.node
        if node.ledger.head.height + 1 != height:
            return False
        value_id = hash_bytes(value)
        if value_id in self._candidates:
            return True
        try:
            block = decode_block(value, node.mempool.by_bytes)
            if block.header.created_ms > node.clock_ms() + TX_TIME_WINDOW.future_ms:
                raise InvalidBlock("block_from_future", "block time is too far ahead of our clock")
            execution = node.ledger.validate_block(block)
        except InvalidBlock as exc:
            log.warning("refusing proposed block at height %d: %s", height, exc)
            node.metrics.invalid_blocks.labels(exc.code).inc()
            return False
        self._remember(value_id, block, execution)
        return True

    def _remember(self, value_id: bytes, block: Block, execution: BlockExecution) -> None:
        """Keep a validated block's execution for its commit, at most MAX_CANDIDATES per height.

        A Byzantine proposer may propose several valid blocks in each of its rounds; each execution
        holds a decoded block and its write set. The oldest go first, never the engine's locked or
        valid value; a decided block that was forgotten is simply executed again at commit."""
        self._candidates[value_id] = (block, execution)
        if len(self._candidates) <= MAX_CANDIDATES:
            return
        keep = {self.engine.locked_value_id, self.engine.valid_value_id, value_id}
        for old in list(self._candidates):  # a snapshot: the event loop may clear the dict meanwhile
            if len(self._candidates) <= MAX_CANDIDATES:
                break
            if old not in keep:
                self._candidates.pop(old, None)

    async def _commit(self, action: Commit) -> None:
        node = self.node
        loop = asyncio.get_running_loop()
        if node.ledger.head.height >= action.height:
            return  # block sync committed it first
        if self._build_task is not None:
            self._build_task.cancel()
            self._build_task = None

        def commit() -> tuple[Block, BlockExecution] | None:
            if node.ledger.head.height >= action.height:
                return None  # block sync got there first, on this same thread
            found = self._candidates.get(action.certificate.value_id)
            if found is None:  # decided without our own validation (e.g. we were late): validate now
                block = decode_block(action.value, node.mempool.by_bytes)
                found = (block, node.ledger.validate_block(block))
            block, execution = found
            node.ledger.commit(block, execution, action.certificate.encode())
            return block, execution

        started = loop.time()
        done = await loop.run_in_executor(node.worker, commit)
        if done is None:
            return
        node.metrics.block_seconds.labels("consensus").observe(loop.time() - started)
        self.last_commit = loop.time()
        self.on_commit(*done)
        self.start_next_height()

    def committed_by_sync(self) -> None:
        """Block sync moved the head: leave the old height and start the next one."""
        self.last_commit = asyncio.get_running_loop().time()
        self.start_next_height()

    async def _record_evidence(self, action: ReportEvidence) -> None:
        ev = action.evidence
        log.warning("EVIDENCE: validator %s signed conflicting %s messages at height %d round %d",
                    ev.validator.hex()[:16], ev.kind.name.lower(), ev.height, ev.round)
        key = keys.evidence(ev.height, ev.round, int(ev.kind), ev.validator)
        await asyncio.get_running_loop().run_in_executor(self.node.worker, self.node.ledger.store.put_durable, key,
                                                         ev.encode())
        self.evidence_count += 1
        self.node.metrics.evidence.inc()

