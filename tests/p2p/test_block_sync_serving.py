"""Block sync's documented figures: what we ask for, what we serve, and the height we believe peers have.

Serving is a token bucket per peer: a burst of 4 maximal answers (4 x 8 MiB), refilled at 64 MiB/s,
each request costing at least 64 KiB (``node.block_sync``). Requests here ask for tiny blocks, so each
costs exactly the minimum.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ledger.limits import MAX_SYNC_RESPONSE_BYTES
from node.p2p import block_sync
from node.p2p.messages import SyncRequest
from tests.block_sync_world import HONEST, LIAR, OTHER_HONEST, CertifiedChain, Network

MIN_COST = 64 * 1024
BURST = 4 * MAX_SYNC_RESPONSE_BYTES
RATE = 64 * 1024 * 1024


@pytest.fixture
def source(tmp_path: Path) -> Iterator[CertifiedChain]:
    chain = CertifiedChain(tmp_path / "source")
    chain.extend(3)
    yield chain
    chain.close()


@pytest.fixture
def net(tmp_path: Path, source: CertifiedChain) -> Iterator[Network]:
    network = Network(tmp_path / "node", source)
    yield network
    network.close()


def serving(net: Network) -> tuple[block_sync.BlockSync, list[bytes]]:
    sent: list[bytes] = []

    def send(peer: bytes, payload: bytes) -> bool:
        sent.append(peer)
        return True

    return block_sync.BlockSync(net.server.node, send, lambda block, execution: None, clock=lambda: net.now), sent


def test_a_peer_is_served_a_burst_of_four_maximal_answers_worth_of_minimal_requests(net: Network) -> None:
    server, sent = serving(net)
    for _ in range(BURST // MIN_COST + 5):
        server.on_request(LIAR, SyncRequest(1, 1))
    assert len(sent) == BURST // MIN_COST == 512


def test_the_serving_budget_refills_at_64_mib_per_second(net: Network) -> None:
    server, sent = serving(net)
    for _ in range(BURST // MIN_COST):
        server.on_request(LIAR, SyncRequest(1, 1))
    net.now += 10 * MIN_COST / RATE  # exactly ten minimal answers' worth
    for _ in range(20):
        server.on_request(LIAR, SyncRequest(1, 1))
    assert len(sent) == BURST // MIN_COST + 10


def test_a_request_asks_for_the_next_32_blocks(net: Network) -> None:
    net.connect(HONEST, honest=True)
    net.announce(HONEST, 3)
    assert net.last_request_to(HONEST) == SyncRequest(1, 32)


def test_the_best_known_height_is_the_highest_claim_of_a_connected_peer_in_good_standing(net: Network) -> None:
    assert net.sync.best_known_height == 0
    net.connect(HONEST, OTHER_HONEST, LIAR)
    net.announce(LIAR, 9)  # asked at once (the only candidate), never answers
    net.announce(HONEST, 2)
    net.announce(OTHER_HONEST, 3)
    assert net.sync.best_known_height == 9
    net.now += block_sync.REQUEST_TIMEOUT_S
    net.sync.maybe_request()  # the liar timed out: benched, its claim no longer counts
    assert net.sync.best_known_height == 3
    net.now += block_sync.BENCH_INITIAL_S  # its bench is over: its claim counts again
    assert net.sync.best_known_height == 9
    net.sync.peer_gone(LIAR)
    net.sync.peer_gone(OTHER_HONEST)
    assert net.sync.best_known_height == 2


def test_a_request_beyond_our_head_gets_no_answer_at_all(net: Network, source: CertifiedChain) -> None:
    server, sent = serving(net)
    server.on_request(LIAR, SyncRequest(source.height + 1, 32))
    assert sent == []


def test_a_request_from_the_genesis_block_which_has_no_certificate_gets_no_answer(net: Network) -> None:
    server, sent = serving(net)
    server.on_request(LIAR, SyncRequest(0, 32))
    assert sent == []
