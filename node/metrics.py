"""Prometheus metrics of one node (prometheus-client formats the exposition text).

Every family, its type, labels and meaning are listed in docs/metrics.md; the Grafana dashboard and the
alert rules in configs/ use them, and tests/integration/test_metrics_dashboard.py checks that each name
they use exists on a running node.

Hot paths stay cheap: a committed block costs a few counter updates and one histogram observation per
family, never one call per transaction; what only matters when someone looks (block age, sync lag,
the mempool, reachable validators, process figures) is computed at scrape time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from node.clock import now_ms
from node.version import VERSION


class NodeMetrics:
    def __init__(self, clock_ms: Callable[[], int] = now_ms) -> None:
        self.registry = CollectorRegistry()
        self.clock_ms = clock_ms
        r = self.registry
        # The process's CPU, memory, file descriptors and start time (process_*), the Python version
        # (python_info) and the cycle collector's runs (python_gc_*): all read at scrape time.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.info = Gauge("bakong_node_info", "Always 1; the labels name this node and its software",
                          ["chain_id", "name", "role", "version"], registry=r)
        self.txs_received = Counter("bakong_txs_received", "Transactions received by the API", registry=r)
        self.txs_refused = Counter(
            "bakong_txs_stateless_failed", "Transactions refused by stateless validation", ["code"], registry=r
        )
        self.txs_committed = Counter("bakong_txs_committed", "Transactions committed in blocks", registry=r)
        self.txs_rejected = Counter("bakong_txs_rejected", "Transactions rejected in blocks", ["code"], registry=r)
        self.blocks = Counter("bakong_blocks_committed", "Blocks committed", registry=r)
        self.height = Gauge("bakong_height", "Height of the last committed block", registry=r)
        self.mempool = Gauge("bakong_mempool_txs", "Transactions waiting in the mempool", registry=r)
        self.mempool_bytes = Gauge("bakong_mempool_bytes", "Bytes of the transactions waiting in the mempool",
                                   registry=r)
        self.mempool_max_txs = Gauge("bakong_mempool_max_txs", "The mempool's bound in transactions ([mempool])",
                                     registry=r)
        self.mempool_max_bytes = Gauge("bakong_mempool_max_bytes", "The mempool's bound in bytes ([mempool])",
                                       registry=r)
        self.mempool_full = Counter("bakong_mempool_full", "Submissions refused because the mempool was full",
            registry=r)
        self.block_seconds = Histogram(
            "bakong_block_commit_seconds",
            "Time to make a decided block durable: from consensus's decision (path=consensus) or from handing a "
            "synced block to the ledger thread (path=sync) to its batch committed, executing it first if needed",
            ["path"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.block_interval = Histogram(
            "bakong_block_interval_seconds",
            "Time between consecutive committed blocks, from their headers' created_ms (the chain's pace, "
            "however this node got the blocks)", registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0, 30.0, 60.0),
        )
        self.block_interval_max = Gauge(
            "bakong_block_interval_max_seconds",
            "The configured heartbeat ([block] max_block_interval_ms): an idle chain still commits a block this "
            "often", registry=r)
        self.block_age = Gauge("bakong_block_age_seconds",
                               "Now minus the last committed block's created_ms, at scrape time", registry=r)
        self.block_age.set_function(self._block_age)
        self.decision_round = Histogram(
            "bakong_decision_round", "The round at which each committed height was decided (0: the first "
            "proposer's block; more: proposers were down, slow or refused)", registry=r,
            buckets=(0, 1, 2, 3, 5, 10, 20))
        self.missed_votes = Counter(
            "bakong_validator_missed_votes",
            "Committed blocks whose certificate lacks this validator's precommit (the certificate holds the "
            "first quorum of precommits: a validator down or cut off misses every block, a healthy one only "
            "when it was the slowest)", ["validator"], registry=r)
        self.validators = Gauge("bakong_validators", "Validators in the set that decides the next height",
                                registry=r)
        self.validator_quorum = Gauge("bakong_validator_quorum",
                                      "Precommits needed to decide a height: 2n//3 + 1 of the set", registry=r)
        self.validators_reachable = Gauge(
            "bakong_validators_reachable",
            "Validators this node hears: itself when it is one, plus validators with an open connection",
            registry=r)
        self.sync_lag = Gauge("bakong_sync_lag_blocks",
                              "Best head height a peer in good standing claims minus this node's height (0 when "
                              "level or ahead), at scrape time", registry=r)
        self.queries = Counter("bakong_queries", "Queries answered", ["outcome"], registry=r)
        self.p2p_bad_messages = Counter("bakong_p2p_bad_messages", "Malformed or invalid peer messages dropped",
            registry=r)
        self.invalid_blocks = Counter("bakong_invalid_blocks", "Proposed or synced blocks refused", ["code"],
            registry=r)
        self.sync_apply_failures = Counter(
            "bakong_sync_apply_failures", "Synced blocks this node failed to apply by its own fault (see the log)",
            registry=r)
        self.gossip_dropped = Counter("bakong_gossip_dropped", "Gossiped transactions dropped: intake queue full",
            registry=r)
        self.api_connections_refused = Counter(
            "bakong_api_connections_refused",
            "HTTP connections refused (total: max_connections open; per_client: the address's share open) or "
            "closed unserved (header_timeout)", ["reason"], registry=r)
        self.api_streams_refused = Counter(
            "bakong_api_streams_refused",
            "WebSocket streams refused (total: max_websockets open; per_client: the address's share open)",
            ["reason"], registry=r)
        self.torii_streams_refused = Counter(
            "bakong_torii_streams_refused",
            "Torii StatusStream calls refused (total: [torii] max_streams open; per_client: the address's share)",
            ["reason"], registry=r)
        self.api_requests = Counter(
            "bakong_api_requests", "HTTP requests answered, by route template (not the raw path), method and "
            "status", ["route", "method", "status"], registry=r)
        self.api_seconds = Histogram(
            "bakong_api_request_seconds", "Time to answer an HTTP request, by route template and method "
            "(WebSocket streams are counted in bakong_api_requests_total, not timed)", ["route", "method"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.evidence = Counter("bakong_evidence", "Equivocation evidence recorded", registry=r)
        self.internal_errors = Counter(
            "bakong_internal_errors", "Our own errors caught so the node stays up (see the log)", registry=r)
        self.consensus_send_failures = Counter(
            "bakong_consensus_send_failures", "Own consensus messages that could not be sent (see the log)",
            registry=r)
        self.consensus_inbox_dropped = Counter(
            "bakong_consensus_inbox_dropped",
            "Peers' consensus messages dropped unread: that peer already had its inbox budget queued", registry=r)
        self.synced_blocks = Counter("bakong_synced_blocks", "Blocks applied through block sync", registry=r)
        self.sync_peer_penalties = Counter(
            "bakong_sync_peer_penalties", "Block-sync peers benched (timeout, useless, refused) or banned (invalid)",
            ["reason"], registry=r)
        self.sync_dropped = Counter("bakong_sync_dropped", "Block-sync messages ignored", ["reason"], registry=r)
        self.peers = Gauge("bakong_peers_connected", "Peers with an open connection", registry=r)
        self.round = Gauge("bakong_consensus_round", "Consensus round at the current height", registry=r)
        self.last_block_ms: int | None = None
        self._validator_names: dict[bytes, str] = {}
        self._own_key = b""
        self._connected: Callable[[], Collection[bytes]] = frozenset

    # ---- wiring (the composition root) ----

    def describe_node(self, chain_id: str, name: str, role: str, max_block_interval_ms: int) -> None:
        self.info.labels(chain_id, name, role, VERSION).set(1)
        self.block_interval_max.set(max_block_interval_ms / 1000)

    def watch_mempool(self, txs: Callable[[], int], size_bytes: Callable[[], int], max_txs: int,
                      max_bytes: int) -> None:
        """Read the pool's size at scrape time (no update on each admission)."""
        self.mempool.set_function(txs)
        self.mempool_bytes.set_function(size_bytes)
        self.mempool_max_txs.set(max_txs)
        self.mempool_max_bytes.set(max_bytes)

    def watch_network(self, own_key: bytes, connected: Callable[[], Collection[bytes]],
                      sync_lag: Callable[[], int]) -> None:
        """At scrape time: which keys have an open connection, and how far behind the best peer we are."""
        self._own_key = own_key
        self._connected = connected
        self.validators_reachable.set_function(self._reachable)
        self.sync_lag.set_function(sync_lag)

    def watch_transport(self, counters: Any) -> None:
        """Export the transport's own running totals (bytes, frames, handshakes, refusals...) by unit."""
        self.registry.register(_TransportCollector(counters))

    def set_validators(self, names: Mapping[bytes, str]) -> None:
        """The validator set that decides the next height (public key -> name), after a commit changed it.

        Missed votes are labelled by these names only, so the label's values are bounded by the set;
        a validator that left it loses its series."""
        for gone in set(self._validator_names.values()) - set(names.values()):
            self.missed_votes.remove(gone)
        self._validator_names = dict(names)
        for name in names.values():
            self.missed_votes.labels(name)  # a series at 0 from the start: increase() sees the first miss
        self.validators.set(len(names))
        self.validator_quorum.set(2 * len(names) // 3 + 1 if names else 0)

    # ---- per committed block (the commit fan-out) ----

    def chain_at(self, created_ms: int) -> None:
        """The head this node starts from: the next block's interval is measured from it."""
        self.last_block_ms = created_ms

    def block_committed(self, created_ms: int, decided_round: int | None, signers: Collection[bytes]) -> None:
        """A block is committed; ``decided_round`` and ``signers`` come from its commit certificate (None
        and empty when it has none). Call before ``set_validators`` for the block's own changes: the
        block was decided by the set as it stood before it."""
        if self.last_block_ms is not None:
            self.block_interval.observe(max(0, created_ms - self.last_block_ms) / 1000)
        self.last_block_ms = created_ms
        if decided_round is None:
            return
        self.decision_round.observe(decided_round)
        for key, name in self._validator_names.items():
            if key not in signers:
                self.missed_votes.labels(name).inc()

    # ---- scrape-time views ----

    def _block_age(self) -> float:
        if self.last_block_ms is None:
            return 0.0
        return max(0, self.clock_ms() - self.last_block_ms) / 1000

    def _reachable(self) -> int:
        connected = self._connected()
        return sum(1 for key in self._validator_names if key == self._own_key or key in connected)


# The transport's counters (node.p2p.link.TransportCounters), one family per unit and meaning, so that no
# family adds bytes to frames or handshakes.
_P2P_HELP = {
    "bakong_p2p_bytes": "Encrypted peer traffic after handshakes, in bytes",
    "bakong_p2p_frames": "Peer frames after handshakes",
    "bakong_p2p_handshakes": "Peer handshakes by outcome",
    "bakong_p2p_refused": "Peer connections refused (peer_key: the key is not allowed, unexpected or our own; "
                          "handshake_slots: an inbound connection closed at once, too many handshakes pending)",
    "bakong_p2p_bad_frames": "Oversized, undecodable or unauthenticated frames; each cost its connection",
    "bakong_p2p_dial_failures": "Outbound TCP connects that failed or timed out",
    "bakong_p2p_duplicate_connections": "Second connections to a connected peer (one of the two is closed)",
    "bakong_p2p_key_clashes": "Refused second connections of a peer whose kept link went on delivering: two live "
                              "processes hold that peer's key (a copied key?)",
    "bakong_p2p_frames_dropped": "Frames dropped (queue_full: a slow peer's outbound queue overflowed; isolated: "
                                 "fault injection cut this node off, either way)",
    "bakong_p2p_internal_errors": "The transport's own errors caught (see the log)",
}
# field -> (family, label name, label value)
_P2P_FIELDS: dict[str, tuple[str, str | None, str | None]] = {
    "bytes_in": ("bakong_p2p_bytes", "direction", "in"),
    "bytes_out": ("bakong_p2p_bytes", "direction", "out"),
    "frames_in": ("bakong_p2p_frames", "direction", "in"),
    "frames_out": ("bakong_p2p_frames", "direction", "out"),
    "handshakes_ok": ("bakong_p2p_handshakes", "outcome", "ok"),
    "handshakes_failed": ("bakong_p2p_handshakes", "outcome", "failed"),
    "refused_keys": ("bakong_p2p_refused", "reason", "peer_key"),
    "refused_connections": ("bakong_p2p_refused", "reason", "handshake_slots"),
    "bad_frames": ("bakong_p2p_bad_frames", None, None),
    "dial_failures": ("bakong_p2p_dial_failures", None, None),
    "duplicate_connections": ("bakong_p2p_duplicate_connections", None, None),
    "key_clashes": ("bakong_p2p_key_clashes", None, None),
    "queue_drops": ("bakong_p2p_frames_dropped", "reason", "queue_full"),
    "isolated_drops": ("bakong_p2p_frames_dropped", "reason", "isolated"),
    "internal_errors": ("bakong_p2p_internal_errors", None, None),
}


class _TransportCollector(Collector):
    def __init__(self, counters: Any) -> None:
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        families: dict[str, CounterMetricFamily] = {}
        for field in dataclasses.fields(self.counters):
            spec = _P2P_FIELDS.get(field.name)
            if spec is None:  # a new transport counter without a family: tests/test_metrics.py says so
                continue
            name, label, value = spec
            family = families.get(name)
            if family is None:
                family = families[name] = CounterMetricFamily(name, _P2P_HELP[name],
                                                              labels=[label] if label else None)
            family.add_metric([value] if value else [], getattr(self.counters, field.name))
        yield from families.values()
