"""The node's metrics (``node.metrics``) in process: real LevelDB, a real ``Node`` or ``BlockSync``, the
real aiohttp app; what is checked is what a Prometheus scrape would read.

The check that every metric the dashboard and the alert rules use exists on a running node is
tests/integration/test_metrics_dashboard.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest

from consensus.certificate import CommitCertificate
from consensus.crypto import hash_bytes
from consensus.messages import sign_precommit
from node.api.app import build_app
from node.assembly import Node
from node.config import load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.transactions import TxPayload, build_transaction
from node.metrics import _P2P_FIELDS, NodeMetrics
from node.p2p.link import TransportCounters
from node.tools.testnet import CHAIN_ID, init_testnet
from tests.block_sync_world import HONEST, CertifiedChain, Network, run
from tests.integration.conftest import free_port

BANKS = ("nbc", "aclb", "abaa", "wing")  # the testnet's four validators, in order


def value(metrics: NodeMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def four_validators(tmp_path: Path) -> Iterator[tuple[Node, Path]]:
    """nbc's node of a 4-validator testnet, built in process (no network, no driver)."""
    nodes = init_testnet(tmp_path / "net", validators=4, base_port=free_port(), p2p_base_port=free_port())
    node = Node(load_config(nodes[0].config))
    try:
        yield node, tmp_path / "net" / "keys"
    finally:
        node.close()


def commit_block(node: Node, keys: Path, signers: tuple[str, ...], round_: int, created_ms: int) -> None:
    """Build, certify (precommits of ``signers`` at ``round_``) and commit an empty block, then run the
    commit fan-out, as the driver does after a decision."""
    block, execution = node.ledger.build_block([], created_ms, node.key.public_key)
    certificate = CommitCertificate.from_precommits(
        sign_precommit(read_key(keys / f"node-{bank}.key"), node.chain_id, block.height, round_,
                       hash_bytes(block.encode()))
        for bank in signers)
    node.ledger.commit(block, execution, certificate.encode())
    node.committed(block, execution, False)


# ---- the transport's counters: one unit per family ----

def test_every_transport_counter_is_exported_in_a_family_that_counts_one_unit() -> None:
    fields = {f.name for f in dataclasses.fields(TransportCounters)}
    assert fields == set(_P2P_FIELDS), "a transport counter without a metric family (or a family without a counter)"
    metrics = NodeMetrics()
    metrics.watch_transport(TransportCounters(bytes_in=1500, bytes_out=900, frames_in=3, frames_out=2,
                                              handshakes_ok=4, handshakes_failed=1, refused_keys=1))
    assert value(metrics, "bakong_p2p_bytes_total", direction="in") == 1500
    assert value(metrics, "bakong_p2p_bytes_total", direction="out") == 900
    assert value(metrics, "bakong_p2p_frames_total", direction="in") == 3
    assert value(metrics, "bakong_p2p_handshakes_total", outcome="ok") == 4
    assert value(metrics, "bakong_p2p_handshakes_total", outcome="failed") == 1
    assert value(metrics, "bakong_p2p_refused_total", reason="peer_key") == 1
    text = generate_latest(metrics.registry).decode()
    assert "bakong_p2p_total" not in text  # the old family that added bytes to frames and handshakes


# ---- per committed block ----

def test_a_validator_absent_from_a_committed_blocks_certificate_is_counted_as_a_missed_vote_by_name(
        four_validators: tuple[Node, Path]) -> None:
    node, keys = four_validators
    m = node.metrics
    genesis_ms = node.ledger.block(0).header.created_ms
    commit_block(node, keys, ("nbc", "aclb", "abaa"), round_=0, created_ms=genesis_ms + 2000)
    commit_block(node, keys, ("nbc", "aclb", "wing"), round_=2, created_ms=genesis_ms + 2500)
    commit_block(node, keys, ("nbc", "aclb", "abaa"), round_=0, created_ms=genesis_ms + 3500)
    missed = {bank: value(m, "bakong_validator_missed_votes_total", validator=bank) for bank in BANKS}
    assert missed == {"nbc": 0, "aclb": 0, "abaa": 1, "wing": 2}
    assert value(m, "bakong_validators") == 4 and value(m, "bakong_validator_quorum") == 3
    # The round each height was decided in: 0, 2, 0.
    assert value(m, "bakong_decision_round_count") == 3 and value(m, "bakong_decision_round_sum") == 2
    assert value(m, "bakong_decision_round_bucket", le="0.0") == 2
    # Intervals from the headers, the first from the head the node started at (genesis): 2, 0.5, 1 s.
    assert value(m, "bakong_block_interval_seconds_count") == 3
    assert value(m, "bakong_block_interval_seconds_sum") == pytest.approx(3.5)
    assert value(m, "bakong_block_interval_seconds_bucket", le="0.5") == 1


def test_block_age_is_now_minus_the_last_blocks_time_read_at_scrape() -> None:
    clock = [10_000]
    metrics = NodeMetrics(clock_ms=lambda: clock[0])
    metrics.chain_at(4_000)
    assert value(metrics, "bakong_block_age_seconds") == 6.0
    metrics.block_committed(9_500, 0, ())
    clock[0] = 12_000
    assert value(metrics, "bakong_block_age_seconds") == 2.5


def test_missed_vote_series_follow_the_validator_set_so_labels_stay_bounded() -> None:
    metrics = NodeMetrics()
    metrics.set_validators({b"k1": "nbc", b"k2": "aclb"})
    metrics.block_committed(1_000, 0, {b"k1"})
    metrics.set_validators({b"k1": "nbc", b"k3": "wing"})  # aclb left the set
    assert value(metrics, "bakong_validator_missed_votes_total", validator="aclb") is None
    assert value(metrics, "bakong_validator_missed_votes_total", validator="wing") == 0
    metrics.block_committed(2_000, 0, {b"k1", b"k9"})  # a signer outside the set gets no series
    assert value(metrics, "bakong_validator_missed_votes_total", validator="wing") == 1
    assert {s.labels["validator"] for s in metrics.missed_votes.collect()[0].samples
            if s.name.endswith("_total")} == {"nbc", "wing"}


def test_sync_lag_and_reachable_validators_are_read_at_scrape() -> None:
    metrics = NodeMetrics()
    metrics.set_validators({b"me": "nbc", b"v2": "aclb", b"v3": "abaa", b"v4": "wing"})
    connected: set[bytes] = {b"v2", b"observer"}
    lag = [7]
    metrics.watch_network(b"me", lambda: connected, lambda: lag[0])
    assert value(metrics, "bakong_validators_reachable") == 2  # itself and aclb; an observer is no validator
    assert value(metrics, "bakong_sync_lag_blocks") == 7
    connected.add(b"v3")
    lag[0] = 0
    assert value(metrics, "bakong_validators_reachable") == 3
    assert value(metrics, "bakong_sync_lag_blocks") == 0


def test_blocks_applied_by_block_sync_are_timed_under_path_sync(tmp_path: Path) -> None:
    source = CertifiedChain(tmp_path / "source")
    source.extend(4)
    net = Network(tmp_path / "node", source)
    try:
        net.connect(HONEST, honest=True)
        run(net.tick())
        assert net.head == 4
        metrics = net.node.metrics
        assert value(metrics, "bakong_block_commit_seconds_count", path="sync") == 4
        assert value(metrics, "bakong_block_commit_seconds_count", path="consensus") is None
    finally:
        net.close()
        source.close()


# ---- the node's own views, through the real app ----

def test_mempool_gauges_read_the_pool_and_its_bounds_at_scrape(four_validators: tuple[Node, Path]) -> None:
    node, keys = four_validators
    payment = build_transaction(
        TxPayload(CHAIN_ID, "alice@aclb", int(time.time() * 1000), 1,
                  (c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "", "1.00"),)),
        read_key(keys / "alice@aclb.key"))
    node.mempool.add(payment, len(payment.encode()))
    m = node.metrics
    assert value(m, "bakong_mempool_txs") == 1
    assert value(m, "bakong_mempool_bytes") == len(payment.encode())
    assert value(m, "bakong_mempool_max_txs") == node.config.mempool.max_txs
    assert value(m, "bakong_mempool_max_bytes") == node.config.mempool.max_bytes


def test_api_requests_are_counted_and_timed_by_route_template_never_the_raw_path(
        four_validators: tuple[Node, Path]) -> None:
    node, _keys = four_validators

    async def requests() -> str:
        client = TestClient(TestServer(build_app(node)))
        await client.start_server()
        try:
            for digest in ("aa" * 32, "bb" * 32):
                assert (await client.get(f"/v1/transactions/{digest}")).status == 200
            assert (await client.get("/no/such/route")).status == 404
            assert (await client.post("/v1/transactions", data=b"not json")).status == 400
            resp = await client.get("/metrics")
            return await resp.text()
        finally:
            await client.close()

    scraped = asyncio.run(requests())
    m = node.metrics
    template = "/v1/transactions/{hash}"
    assert value(m, "bakong_api_requests_total", route=template, method="GET", status="200") == 2
    assert value(m, "bakong_api_request_seconds_count", route=template, method="GET") == 2
    assert value(m, "bakong_api_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(m, "bakong_api_requests_total", route="/v1/transactions", method="POST", status="400") == 1
    assert "aa" * 32 not in scraped and "/no/such/route" not in scraped
