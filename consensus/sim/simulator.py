"""Runs n engines over the virtual network and clock of a ``Scenario``; the same scenario, the same run.

Each simulated node plays the node process's part around its engine: it carries out the actions
(keeps the last ``PersistSafety`` record as its "disk", delivers broadcasts through the network,
fires timeouts on the virtual clock, builds and validates values after a small delay, stores commits
and starts the next height). Two things stand in for node features the engine leaves outside:

- re-gossip: a node that made no progress during ``gossip_interval`` re-sends to each peer what the
  engine's ``regossip_messages`` selects for it, as a node's network does (every vote of the height, and
  the proposals that can still matter to that peer: the paper's gossip assumption, lazily, so a healthy
  run pays nothing for it, and without re-sending blocks nobody needs);
- block sync: a node that receives a message for a height it has committed answers the sender with
  the value and its certificate (``DecisionReceived``).

Like a node, it drops proposals larger than the wire limit (``byzantine.MAX_WIRE_VALUE_BYTES``) before
they reach an engine, and gives each engine a future-height budget per signer of one maximal proposal
plus votes. A faulty validator's ``byzantine.Adversary`` rewrites its broadcasts, adds its own messages
and answers block sync with lies. For the bounded-memory property the simulator samples every honest
engine's ``memory_by_signer`` at each gossip tick and just before each new height (when the buffer of
future-height messages is fullest) and keeps each signer's peak.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

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
from consensus.certificate import CommitCertificate
from consensus.crypto import KeyPair, verify
from consensus.engine import Engine, EngineLimits
from consensus.events import (
    DecisionReceived,
    Event,
    MessageReceived,
    StartHeight,
    TimeoutFired,
    ValueBuilt,
    ValueValidated,
)
from consensus.evidence import Evidence
from consensus.messages import Proposal, SignedMessage
from consensus.safety import SafetyRecord
from consensus.sim.byzantine import MAX_WIRE_VALUE_BYTES, Adversary, is_valid_value
from consensus.sim.memory import memory_by_signer
from consensus.sim.network import Network
from consensus.sim.scenario import Fault, Scenario
from consensus.validators import ValidatorSet

MAX_EVENTS = 2_000_000


class CachedVerifier:
    """Signature checks memoised across all simulated nodes: a pure function, so sharing is sound."""

    def __init__(self) -> None:
        self._cache: dict[tuple[bytes, bytes, bytes], bool] = {}

    def __call__(self, public_key: bytes, digest: bytes, signature: bytes) -> bool:
        key = (public_key, digest, signature)
        result = self._cache.get(key)
        if result is None:
            result = self._cache[key] = verify(public_key, digest, signature)
        return result


@dataclass(frozen=True)
class CommitRecord:
    """One height as a node committed it."""

    value: bytes
    """The decided value."""
    round: int
    """Round of the decision."""
    certificate: CommitCertificate
    """Its certificate."""
    time: float
    """Virtual time of the commit."""


@dataclass
class SimNode:
    """One engine with what its node process would keep on disk."""

    node_id: int
    """Unique per engine (a twin has its own id, above n - 1)."""
    validator: int
    """Index of the validator key it uses."""
    key: KeyPair
    """The validator's key (shared by twins)."""
    fault: Fault | None
    """None for an honest node."""
    engine: Engine | None = None
    """Absent while crashed, and always for a silent validator."""
    incarnation: int = 0
    """Bumped by a crash so timers of the previous life never fire."""
    persisted: SafetyRecord | None = None
    """The last PersistSafety record: survives crashes."""
    persisted_values: dict[bytes, bytes] = field(default_factory=dict)
    """Value bytes kept beside the record (PersistSafety.values): survive crashes."""
    chain: dict[int, CommitRecord] = field(default_factory=dict)
    """Committed heights: survive crashes."""
    last_progress: tuple[Any, ...] = ()
    """Engine position at the previous gossip tick."""
    synced: dict[tuple[int, int], float] = field(default_factory=dict)
    """(peer, height) -> when a decision was last sent to it, to rate-limit block sync."""
    unpersisted_broadcasts: int = 0
    """Signed messages an honest engine sent that its persisted record did not cover (must stay 0)."""
    relayed: set[SignedMessage] = field(default_factory=set)
    """Messages already forwarded (only with ``Scenario.relay``)."""
    sent: list[tuple[int, SignedMessage]] = field(default_factory=list)
    """(peer, message) of every broadcast a faulty node's adversary rewrote (floods and lies aside)."""
    memory_peak: dict[bytes, int] = field(default_factory=dict)
    """Per signer, the most bytes its engine was seen keeping (sampled; see module docstring)."""

    @property
    def honest(self) -> bool:
        return self.fault is None


@dataclass
class SimResult:
    """Everything the property checks look at."""

    scenario: Scenario
    """The scenario that ran."""
    validators: ValidatorSet
    """The (fixed) validator set."""
    nodes: list[SimNode]
    """All simulated nodes, honest and faulty."""
    proposed: set[bytes]
    """Every value that appeared in any proposal sent."""
    evidence: list[tuple[int, Evidence]]
    """(reporting node id, evidence) from every node."""
    stable_round: int
    """Highest round of an honest node when the network became stable."""
    end_time: float
    """Virtual time when the run stopped."""
    events: int
    """Events processed."""
    finished: bool
    """Every honest node committed ``scenario.heights`` heights."""
    limits: EngineLimits
    """The limits every engine ran with."""
    adversaries: dict[int, Adversary]
    """Faulty nodes' adversaries by node id."""
    max_round: int
    """Highest round any engine reached, at any height."""
    max_value_bytes: int
    """Largest value of any proposal sent."""
    regossiped: Counter[tuple[int, int]] = field(default_factory=Counter)
    """Messages re-gossiped by (sender, receiver) node id: none in a run that never stalls."""

    @property
    def honest_nodes(self) -> list[SimNode]:
        return [node for node in self.nodes if node.honest]


class Simulation:
    """Build with a scenario, call ``run()`` once."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.network = Network(scenario.network, self.rng.getrandbits(64))
        self.verifier = CachedVerifier()
        keys = [KeyPair.from_seed(self.rng.randbytes(32)) for _ in range(scenario.n)]
        self.validators = ValidatorSet(k.public_key for k in keys)
        self.nodes = [SimNode(i, i, keys[i], scenario.faults.get(i)) for i in range(scenario.n)]
        for validator, fault in sorted(scenario.faults.items()):
            if fault is Fault.TWIN:
                self.nodes.append(SimNode(len(self.nodes), validator, keys[validator], fault))
        self.now = 0.0
        self._queue: list[tuple[float, int, str, int, int, Any]] = []
        self._seq = 0
        self.proposed: set[bytes] = set()
        self.evidence: list[tuple[int, Evidence]] = []
        self.stable_round = 0
        self.events = 0
        self.limits = scenario.engine_limits or node_limits()
        self.max_round = 0
        self.regossiped: Counter[tuple[int, int]] = Counter()
        self.max_value_bytes = 0
        self.adversaries: dict[int, Adversary] = {}
        for node in self.nodes:
            if node.fault is not None and node.fault not in (Fault.SILENT, Fault.TWIN):
                peers = [other.node_id for other in self.nodes if other.node_id != node.node_id]
                # Its own stream, so adding an attack does not change the draws of the network.
                rng = random.Random(f"{scenario.seed}:adversary:{node.node_id}")
                self.adversaries[node.node_id] = Adversary(node.fault, node.key, scenario.chain_id,
                                                           self.validators, peers, rng)

    # ---- the event queue ----

    def _push(self, at: float, kind: str, node_id: int, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, kind, node_id, self.nodes[node_id].incarnation, payload))

    def run(self) -> SimResult:
        s = self.scenario
        for node in self.nodes:
            if node.fault is not Fault.SILENT:
                self._boot(node)
        for crash in s.crashes:
            self._push(crash.at, "crash", crash.node)
            self._push(crash.restart_at, "restart", crash.node)
        self._push(s.stable_time, "stable", 0)
        self._push(s.gossip_interval, "gossip", 0)
        finished = self._all_done()
        while self._queue and not finished and self.events < MAX_EVENTS:
            at, _, kind, node_id, incarnation, payload = heapq.heappop(self._queue)
            if at > s.time_limit:
                break
            self.now = at
            self.events += 1
            self._dispatch(kind, self.nodes[node_id], incarnation, payload)
            if kind == "commit_check":
                finished = self._all_done()
        return SimResult(s, self.validators, self.nodes, self.proposed, self.evidence, self.stable_round,
                         self.now, self.events, finished, self.limits, self.adversaries, self.max_round,
                         self.max_value_bytes, self.regossiped)

    def _all_done(self) -> bool:
        return all(len(node.chain) >= self.scenario.heights for node in self.nodes if node.honest)

    def _dispatch(self, kind: str, node: SimNode, incarnation: int, payload: Any) -> None:
        if kind == "deliver":
            src, message = payload
            self._deliver(node, src, message)
        elif kind == "decision":
            if node.engine is not None:
                self._handle(node, DecisionReceived(*payload))
        elif kind == "gossip":
            self._sample_memory()
            self._gossip()
            self._push(self.now + self.scenario.gossip_interval, "gossip", 0)
        elif kind == "crash":
            node.engine = None
            node.incarnation += 1
        elif kind == "restart":
            self._boot(node)
        elif kind == "commit_check":
            pass  # only wakes the loop's "are we done" test
        elif kind == "stable":
            self.stable_round = max((n.engine.round for n in self.nodes if n.honest and n.engine), default=0)
        elif incarnation == node.incarnation and node.engine is not None:  # timers of this life only
            assert isinstance(payload, (TimeoutFired, ValueBuilt, ValueValidated))
            self._handle(node, payload)

    def _boot(self, node: SimNode) -> None:
        verifier = self.verifier if self.scenario.shared_signature_checks else verify
        limits = self.limits
        node.engine = Engine(self.scenario.chain_id, node.key, self.scenario.timeouts, safety=node.persisted,
                             verifier=verifier, values=node.persisted_values, limits=limits)
        height = len(node.chain) + 1
        if height <= self.scenario.heights:
            self._handle(node, StartHeight(height, self.validators))

    # ---- carrying out actions ----

    def _handle(self, node: SimNode, event: Event) -> None:
        assert node.engine is not None
        for action in node.engine.handle(event, self.now):
            self._carry_out(node, action)
        adversary = self.adversaries.get(node.node_id)
        if adversary is not None and node.engine is not None:
            for peer, message in adversary.after_event(node.engine):
                self._send_message(node.node_id, peer, message)

    def _carry_out(self, node: SimNode, action: Action) -> None:
        s = self.scenario
        if isinstance(action, PersistSafety):
            node.persisted = action.record
            node.persisted_values = dict(action.values)
        elif isinstance(action, Broadcast):
            if node.honest and (node.persisted is None or not node.persisted.covers(action.message)):
                node.unpersisted_broadcasts += 1
            self._broadcast(node, action.message)
        elif isinstance(action, ScheduleTimeout):
            self._push(action.at, "timer", node.node_id, TimeoutFired(action.height, action.round, action.step))
        elif isinstance(action, BuildValue):
            value = b"block:%d:%d:%d:" % (action.height, action.round, node.node_id) + self.rng.randbytes(4)
            self._push(self.now + s.build_delay, "timer", node.node_id,
                       ValueBuilt(action.height, action.round, value))
        elif isinstance(action, ValidateValue):
            self._push(self.now + s.validate_delay, "timer", node.node_id,
                       ValueValidated(action.height, action.value_id, is_valid_value(action.value)))
        elif isinstance(action, Commit):
            node.chain[action.height] = CommitRecord(action.value, action.round, action.certificate, self.now)
            node.relayed = {m for m in node.relayed if m.height > action.height}
            self._push(self.now, "commit_check", node.node_id)
            if action.height < s.heights and node.engine is not None:
                self._sample_memory_of(node)  # the future-height buffer is fullest now
                self._handle(node, StartHeight(action.height + 1, self.validators))
        elif isinstance(action, ReportEvidence):
            self.evidence.append((node.node_id, action.evidence))

    def _broadcast(self, node: SimNode, message: SignedMessage) -> None:
        peers = [other.node_id for other in self.nodes if other.node_id != node.node_id]
        adversary = self.adversaries.get(node.node_id)
        if adversary is not None:
            sends = adversary.rewrite(message, peers)
            node.sent.extend(sends)
        else:
            sends = [(peer, message) for peer in peers]
        for peer, sent in sends:
            self._send_message(node.node_id, peer, sent)

    def _send_message(self, src: int, dst: int, message: SignedMessage) -> None:
        if isinstance(message, Proposal):
            if len(message.value) > MAX_WIRE_VALUE_BYTES:
                return  # the receiving node's decoder refuses it
            self.proposed.add(message.value)
            self.max_value_bytes = max(self.max_value_bytes, len(message.value))
        self._send(src, dst, "deliver", (src, message))

    def _send(self, src: int, dst: int, kind: str, payload: Any) -> None:
        for at in self.network.delivery_times(src, dst, self.now):
            self._push(at, kind, dst, payload)

    def _deliver(self, node: SimNode, src: int, message: SignedMessage) -> None:
        if node.engine is None:
            return  # crashed (or silent): the message is lost
        committed = node.chain.get(message.height)
        adversary = self.adversaries.get(node.node_id)
        if adversary is not None:
            adversary.observe(message)
            if self._sync_due(node, src, message.height):
                lie = adversary.sync_answer(
                    message, None if committed is None else (committed.value, committed.certificate))
                if lie is not None:
                    self._send(node.node_id, src, "decision", lie)
        if committed is not None:
            # Block sync stand-in: the sender is behind, hand it the decision (rate-limited).
            if self._sync_due(node, src, message.height):
                self._send(node.node_id, src, "decision", (committed.value, committed.certificate))
            return
        self._handle(node, MessageReceived(message))
        if self.scenario.relay and node.honest and message not in node.relayed:
            node.relayed.add(message)
            for peer in self.nodes:
                if peer.node_id not in (node.node_id, src):
                    self._send(node.node_id, peer.node_id, "deliver", (node.node_id, message))

    def _sync_due(self, node: SimNode, peer: int, height: int) -> bool:
        """Block-sync answers to one peer for one height: at most one per gossip interval."""
        last = node.synced.get((peer, height))
        if last is not None and self.now - last < self.scenario.gossip_interval:
            return False
        node.synced[(peer, height)] = self.now
        return True

    def _sample_memory(self) -> None:
        for node in self.nodes:
            if node.engine is not None:
                self.max_round = max(self.max_round, node.engine.round)
                if node.honest:
                    self._sample_memory_of(node)

    def _sample_memory_of(self, node: SimNode) -> None:
        assert node.engine is not None
        self.max_round = max(self.max_round, node.engine.round)
        peak = node.memory_peak
        for signer, used in memory_by_signer(node.engine).items():
            if used > peak.get(signer, 0):
                peak[signer] = used

    def _gossip(self) -> None:
        for node in self.nodes:
            engine = node.engine
            if engine is None or node.fault not in (None, Fault.TWIN):
                continue
            progress = (engine.height, engine.round, engine.step, engine.decided)
            if progress == node.last_progress:
                for peer in self.nodes:
                    if peer.node_id != node.node_id:
                        for message in engine.regossip_messages(peer.key.public_key):
                            self._send(node.node_id, peer.node_id, "deliver", (node.node_id, message))
                            self.regossiped[(node.node_id, peer.node_id)] += 1
            node.last_progress = progress


def node_limits() -> EngineLimits:
    """Engine limits as a node sets them: a future-height budget per signer of one maximal proposal
    (the wire limit) and some votes (for an engine that has such a budget)."""
    limits = EngineLimits()
    if any(f.name == "max_buffered_bytes_per_signer" for f in dataclasses.fields(limits)):
        limits = dataclasses.replace(limits, max_buffered_bytes_per_signer=MAX_WIRE_VALUE_BYTES + 64 * 1024)
    return limits


def simulate(scenario: Scenario) -> SimResult:
    """Run one scenario to completion (or its time limit)."""
    return Simulation(scenario).run()
