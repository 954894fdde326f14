"""Prometheus metrics of one node (prometheus-client formats the exposition text)."""

from __future__ import annotations

import dataclasses
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.txs_received = Counter("bakong_txs_received", "Transactions received by the API", registry=r)
        self.txs_refused = Counter(
            "bakong_txs_stateless_failed", "Transactions refused by stateless validation", ["code"], registry=r
        )
        self.txs_committed = Counter("bakong_txs_committed", "Transactions committed in blocks", registry=r)
        self.txs_rejected = Counter("bakong_txs_rejected", "Transactions rejected in blocks", ["code"], registry=r)
        self.blocks = Counter("bakong_blocks_committed", "Blocks committed", registry=r)
        self.height = Gauge("bakong_height", "Height of the last committed block", registry=r)
        self.mempool = Gauge("bakong_mempool_txs", "Transactions waiting in the mempool", registry=r)
        self.mempool_full = Counter("bakong_mempool_full", "Submissions refused because the mempool was full",
            registry=r)
        self.block_seconds = Histogram(
            "bakong_block_commit_seconds",
            "Time from a decision to the block durably committed (executing it first if this node had not)",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
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
        self.evidence = Counter("bakong_evidence", "Equivocation evidence recorded", registry=r)
        self.internal_errors = Counter(
            "bakong_internal_errors", "Our own errors caught so the node stays up (see the log)", registry=r)
        self.consensus_send_failures = Counter(
            "bakong_consensus_send_failures", "Own consensus messages that could not be sent (see the log)",
            registry=r)
        self.synced_blocks = Counter("bakong_synced_blocks", "Blocks applied through block sync", registry=r)
        self.sync_peer_penalties = Counter(
            "bakong_sync_peer_penalties", "Block-sync peers benched (timeout, useless, refused) or banned (invalid)",
            ["reason"], registry=r)
        self.sync_dropped = Counter("bakong_sync_dropped", "Block-sync messages ignored", ["reason"], registry=r)
        self.peers = Gauge("bakong_peers_connected", "Peers with an open connection", registry=r)
        self.round = Gauge("bakong_consensus_round", "Consensus round at the current height", registry=r)

    def watch_transport(self, counters: Any) -> None:
        """Export the transport's own running totals (refused keys, bad frames, bytes...) as counters."""
        self.registry.register(_TransportCollector(counters))


class _TransportCollector:
    def __init__(self, counters: Any) -> None:
        self.counters = counters

    def collect(self) -> Any:
        family = CounterMetricFamily("bakong_p2p", "Transport totals by kind", labels=["kind"])
        for field in dataclasses.fields(self.counters):
            family.add_metric([field.name], getattr(self.counters, field.name))
        yield family
