"""What a simulated run looks like: validators, who misbehaves and how, crashes, network, timeouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from consensus.engine import EngineLimits
from consensus.sim.network import NetworkConfig
from consensus.timeouts import TimeoutConfig


class Fault(Enum):
    """Byzantine behaviours a validator can be given."""

    SILENT = "silent"
    """Sends nothing at all."""
    EQUIVOCATING_PROPOSER = "equivocating_proposer"
    """As proposer, sends one block to half of its peers and another (sometimes invalid) to the rest."""
    DOUBLE_VOTER = "double_voter"
    """Sends each prevote and precommit to half of its peers and a conflicting one to the rest."""
    TWIN = "twin"
    """Two honest engines share the validator's key (the Twins method); they may contradict each other."""
    MULTI_VOTER = "multi_voter"
    """Signs one distinct prevote and precommit per peer (n - 1 >= 3 per slot): its engine's vote, nil,
    the round's other real proposals, phantoms."""
    RESIGNER = "resigner"
    """Sends every message twice to each peer: as signed, and re-signed with a fresh Ed25519 nonce."""
    AMNESIAC = "amnesiac"
    """Forgets its lock (lockedRound) as soon as it takes it, so it prevotes against it later."""
    FLOODER = "flooder"
    """At every new height, hundreds of large proposals and votes for the next heights (own key, an
    outsider's key, forged signatures, exact and re-signed copies) to every peer."""
    BAD_PROPOSER = "bad_proposer"
    """Proposes oversized or malformed values (invalid to the application) and votes for them."""
    WITHHOLDER = "withholder"
    """Sends its votes to a fixed subset of its peers only, and its proposals to another subset."""
    LYING_SYNC = "lying_sync"
    """Answers every peer's message with a block-sync decision for a value nobody proposed, under a
    certificate that does not verify (too few, forged, duplicated or outsider signatures, or a real
    certificate for another value)."""


@dataclass(frozen=True)
class Crash:
    """An honest node loses everything but its persisted safety record and its committed chain."""

    node: int
    """Validator index of the node that crashes."""
    at: float
    """Virtual time of the crash."""
    restart_at: float
    """Virtual time it comes back, rebuilt from its persisted state."""


@dataclass(frozen=True)
class Scenario:
    """A complete, reproducible description of one simulated run."""

    n: int
    """Number of validators."""
    seed: int
    """Seeds the network and the value builder."""
    heights: int = 3
    """Run until every live honest node has committed this many heights (or the time limit)."""
    faults: dict[int, Fault] = field(default_factory=dict)
    """Byzantine validators by index."""
    crashes: tuple[Crash, ...] = ()
    """Crash-and-restart of honest validators."""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    """Delays, losses, partition and GST."""
    timeouts: TimeoutConfig = field(default_factory=lambda: TimeoutConfig(0.2, 0.1, 0.1, 0.05, 0.1, 0.05))
    """Consensus timeouts (short: the virtual network is fast)."""
    gossip_interval: float = 0.25
    """How often a node that made no progress re-sends the messages it knows of the current height."""
    build_delay: float = 0.002
    """Time the proposer's node takes to build a block."""
    validate_delay: float = 0.002
    """Time a node takes to judge a proposed block."""
    time_limit: float = 600.0
    """Virtual seconds after which the run stops whatever happened."""
    chain_id: str = "sim"
    """Chain id all signatures are bound to."""
    relay: bool = False
    """Honest nodes forward every message they receive once (flooding gossip): slower, but then an
    equivocator's two messages meet at some honest node and become evidence."""
    engine_limits: EngineLimits | None = None
    """Limits of every engine; None: as a node sets them (``simulator.node_limits``)."""
    shared_signature_checks: bool = True
    """Memoise signature checks across nodes (each message verified once per run, not once per node):
    the simulation then measures the protocol, not Ed25519."""

    def __post_init__(self) -> None:
        if self.n < 1 or any(not 0 <= i < self.n for i in self.faults):
            raise ValueError("faults name validators outside 0..n-1")
        if any(c.node in self.faults or c.restart_at < c.at for c in self.crashes):
            raise ValueError("only honest validators crash, and they restart after crashing")

    @property
    def max_faulty(self) -> int:
        return (self.n - 1) // 3

    @property
    def stable_time(self) -> float:
        """From here on the paper's liveness assumptions hold: network healed, everyone restarted."""
        return max([self.network.gst] + [c.restart_at for c in self.crashes])
