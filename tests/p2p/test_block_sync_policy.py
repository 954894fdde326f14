"""Block sync's peer policy and serving, at their exact edges: whom we ask and when, what a useful answer
earns, what leaving costs, what an answer holds and what it is charged.

Real ledgers on LevelDB (``tests.block_sync_world``), a clock moved by hand, no sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ledger.blocks import decode_block
from node.ledger.limits import MAX_SYNC_RESPONSE_BYTES
from node.p2p import block_sync
from node.p2p.messages import SyncBlocks, SyncRequest, decode_peer_message
from tests.block_sync_world import HONEST, LIAR, OTHER_HONEST, CertifiedChain, Network, run

HUGE = 10**9
MIN_COST = 64 * 1024
BURST = 4 * MAX_SYNC_RESPONSE_BYTES
RATE = 64 * 1024 * 1024


@pytest.fixture
def source(tmp_path: Path) -> Iterator[CertifiedChain]:
    chain = CertifiedChain(tmp_path / "source")
    chain.extend(5)
    yield chain
    chain.close()


@pytest.fixture
def net(tmp_path: Path, source: CertifiedChain, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    network = Network(tmp_path / "node", source, monkeypatch)
    yield network
    network.close()


def asked(net: Network) -> list[bytes]:
    return [p for p, _r in net.requests]


def penalties(net: Network, reason: str) -> float:
    return net.node.metrics.sync_peer_penalties.labels(reason)._value.get()


def time_out(net: Network) -> None:
    """The request in flight times out: the clock passes its deadline and the node's tick notices."""
    net.now += block_sync.REQUEST_TIMEOUT_S
    net.sync.maybe_request()


def serving(net: Network) -> tuple[block_sync.BlockSync, list[SyncBlocks]]:
    """A node serving ``source``'s chain on the test's clock, and what it sends."""
    sent: list[SyncBlocks] = []

    def send(peer: bytes, payload: bytes) -> bool:
        msg = decode_peer_message(payload, 1 << 25)
        assert isinstance(msg, SyncBlocks)
        sent.append(msg)
        return True

    return block_sync.BlockSync(net.server.node, send, lambda block, execution: None, clock=lambda: net.now), sent


def pair_size(source: CertifiedChain, height: int) -> int:
    block, cert = source.pair(height)
    return len(block) + len(cert)


# ---- whom we ask ----

def test_a_peer_that_delivered_exactly_60_s_ago_is_still_preferred(net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST, honest=True)
    net.connect(LIAR)

    async def scenario() -> None:
        await net.tick()  # the honest peer delivers blocks 1..5
        assert net.head == 5
        source.extend(1)
        net.now += block_sync.RECENT_S
        await net.announce_together((LIAR, HUGE), (HONEST, 6))  # the liar was never asked: its turn, but for that
        net.sync.maybe_request()

    run(scenario())
    assert asked(net) == [HONEST, HONEST]


def test_a_peer_with_fewer_failures_is_asked_before_one_asked_longer_ago(net: Network, source: CertifiedChain) -> None:
    net.connect(LIAR)
    net.announce(LIAR, HUGE)  # asked first, never answers
    time_out(net)
    net.connect(HONEST, honest=True)

    async def scenario() -> None:
        await net.tick(0)  # the honest peer delivers blocks 1..5, then its delivery grows old
        assert net.head == 5
        net.now += 2 * block_sync.RECENT_S
        source.extend(1)
        await net.announce_together((LIAR, HUGE), (HONEST, 6))
        net.sync.maybe_request()

    run(scenario())
    # Neither delivered lately; the liar was asked longer ago, but it failed once and the honest peer never.
    assert asked(net) == [LIAR, HONEST, HONEST]


def test_among_equals_the_peer_asked_longest_ago_goes_first(net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST, OTHER_HONEST, honest=True)

    async def scenario() -> None:
        net.announce(HONEST, 0)  # known first, nothing to offer yet
        net.announce(OTHER_HONEST, 5)
        await net.serve_honest()  # OTHER_HONEST delivers 1..5
        source.extend(1)
        net.now += 100
        net.announce(HONEST, 6)
        await net.serve_honest()  # HONEST delivers 6
        source.extend(1)
        net.now += 100
        # Both delivered over 60 s ago and never failed; HONEST claims more and was known first, but
        # OTHER_HONEST was asked longer ago: it is its turn.
        await net.announce_together((HONEST, HUGE), (OTHER_HONEST, 7))
        net.sync.maybe_request()

    run(scenario())
    assert asked(net) == [OTHER_HONEST, HONEST, OTHER_HONEST]


def test_peers_equal_in_every_respect_are_asked_in_a_fixed_order(net: Network) -> None:
    net.connect(HONEST, OTHER_HONEST)

    async def scenario() -> None:
        await net.announce_together((OTHER_HONEST, 5), (HONEST, 5))
        net.sync.maybe_request()

    run(scenario())
    assert asked(net) == [min(HONEST, OTHER_HONEST)]


def test_a_peer_that_only_asks_us_for_blocks_is_not_asked_for_any(net: Network) -> None:
    net.connect(LIAR)
    net.sync.on_request(LIAR, SyncRequest(1, 32))  # it syncs from us; it announced no head
    net.sync.maybe_request()
    assert asked(net) == []


def test_a_claim_does_not_outlive_the_connection_that_made_it(net: Network) -> None:
    net.connect(LIAR, HONEST)
    net.announce(HONEST, 0)
    net.announce(LIAR, HUGE)
    net.sync.peer_gone(LIAR)  # leaving instead of answering: benched 5 s
    net.now += block_sync.BENCH_INITIAL_S
    net.sync.on_request(LIAR, SyncRequest(1, 32))  # back, asking us, but announcing nothing
    net.sync.maybe_request()
    assert asked(net) == [LIAR]
    assert net.sync.best_known_height == 0


def test_the_best_known_height_is_0_while_no_connected_peer_announced(net: Network) -> None:
    net.connect(LIAR)
    net.sync.on_request(LIAR, SyncRequest(1, 32))
    assert net.sync.best_known_height == 0


def test_the_best_known_height_is_0_when_the_only_peer_reconnected_without_announcing(net: Network) -> None:
    net.connect(LIAR)
    net.announce(LIAR, HUGE)
    net.sync.peer_gone(LIAR)  # leaving instead of answering: benched 5 s, its record kept meanwhile
    net.now += block_sync.BENCH_INITIAL_S
    net.sync.on_request(LIAR, SyncRequest(1, 32))
    assert net.sync.best_known_height == 0


# ---- what a useful answer earns, what failing and leaving cost ----

def test_a_useful_answer_clears_the_failures_so_the_next_bench_is_5_s_again(
        net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST)
    net.announce(HONEST, 5)
    time_out(net)  # failure 1: benched 5 s
    net.now += block_sync.BENCH_INITIAL_S
    net.sync.maybe_request()
    time_out(net)  # failure 2: benched 10 s
    net.now += 2 * block_sync.BENCH_INITIAL_S
    net.sync.maybe_request()
    assert len(net.requests) == 3
    run(net.answer(HONEST, source.pair(1), source.pair(2)))  # useful: asked again at once for 3..
    assert net.last_request_to(HONEST) == SyncRequest(3, 32) and len(net.requests) == 4
    time_out(net)  # the first failure since the useful answer: benched 5 s, not 20
    net.now += block_sync.BENCH_INITIAL_S - 0.5
    net.sync.maybe_request()
    assert len(net.requests) == 4
    net.now += 0.5
    net.sync.maybe_request()
    assert len(net.requests) == 5


def test_a_peer_that_leaves_while_its_invalid_block_is_checked_is_still_banned(
        net: Network, source: CertifiedChain) -> None:
    net.connect(LIAR)
    net.announce(LIAR, HUGE)
    bad_certificate = (source.pair(1)[0], b"\x93garbage")

    async def scenario() -> None:
        async def leave() -> None:  # runs while on_blocks waits for the worker
            net.sync.peer_gone(LIAR)

        await asyncio.gather(net.answer(LIAR, bad_certificate), leave())

    run(scenario())
    assert penalties(net, "invalid") == 1 and penalties(net, "gone") == 0
    net.now += 60
    net.announce(LIAR, HUGE)  # back: still banned
    assert net.asked(LIAR) == 1
    net.now += block_sync.BAN_S
    net.sync.maybe_request()
    assert net.asked(LIAR) == 2


def test_a_peer_that_leaves_while_its_good_blocks_apply_leaves_them_applied(
        net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST)
    net.announce(HONEST, 5)

    async def scenario() -> None:
        async def leave() -> None:
            net.sync.peer_gone(HONEST)

        await asyncio.gather(net.answer(HONEST, source.pair(1), source.pair(2)), leave())

    run(scenario())
    assert net.head == 2
    assert penalties(net, "gone") == 0
    assert HONEST not in net.sync.peers  # nothing to remember of a peer that left in good standing


def test_a_departed_peer_is_forgotten_the_moment_its_bench_ends(net: Network) -> None:
    net.connect(LIAR, HONEST)
    net.announce(LIAR, HUGE)
    time_out(net)  # benched until now + 5 s
    net.sync.peer_gone(LIAR)
    assert LIAR in net.sync.peers
    net.now += block_sync.BENCH_INITIAL_S
    net.sync.peer_gone(HONEST)  # any departure sweeps the records whose penalty is over
    assert LIAR not in net.sync.peers


def test_blocks_that_consensus_committed_while_the_request_was_out_are_not_the_peers_fault(
        net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST)
    net.announce(HONEST, 5)
    block_bytes, cert = source.pair(1)
    block = decode_block(block_bytes, net.node.mempool.by_bytes)
    net.node.ledger.commit(block, net.node.ledger.validate_block(block), cert)  # as consensus would
    run(net.answer(HONEST, source.pair(1)))
    assert penalties(net, "useless") == 0
    assert net.last_request_to(HONEST) == SyncRequest(2, 32)  # asked again at once, from our new head


# ---- our own failure ----

def test_after_our_own_apply_failure_the_next_request_goes_out_exactly_5_s_later(
        net: Network, source: CertifiedChain, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(block_bytes: bytes, cert_bytes: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(net.sync, "_apply", disk_full)
    net.connect(HONEST)
    net.announce(HONEST, 5)
    run(net.answer(HONEST, source.pair(1)))
    net.now += block_sync.REQUEST_TIMEOUT_S - 0.5
    net.sync.maybe_request()
    assert len(net.requests) == 1
    net.now += 0.5
    net.sync.maybe_request()
    assert len(net.requests) == 2
    assert penalties(net, "timeout") == penalties(net, "useless") == 0  # our fault, not the peer's


# ---- serving ----

def test_the_budget_refills_at_exactly_64_mib_per_second_and_any_positive_budget_buys_an_answer(
        net: Network) -> None:
    net.now = 0.0
    server, sent = serving(net)
    for _ in range(BURST // MIN_COST):
        server.on_request(LIAR, SyncRequest(1, 1))
    assert len(sent) == 512  # the burst is spent to the byte
    net.now = (10 * MIN_COST + 0.5) / RATE  # ten minimal answers' worth and half a byte
    for _ in range(20):
        server.on_request(LIAR, SyncRequest(1, 1))
    assert len(sent) == 512 + 11  # the half byte left after ten answers buys an eleventh


def test_an_answer_holds_the_blocks_that_fit_the_byte_cap_the_one_reaching_it_exactly_included(
        net: Network, source: CertifiedChain, monkeypatch: pytest.MonkeyPatch) -> None:
    two = pair_size(source, 1) + pair_size(source, 2)
    server, sent = serving(net)
    monkeypatch.setattr(block_sync, "MAX_RESPONSE_BYTES", two)
    server.on_request(LIAR, SyncRequest(1, 32))
    monkeypatch.setattr(block_sync, "MAX_RESPONSE_BYTES", two - 1)
    server.on_request(LIAR, SyncRequest(1, 32))
    assert [m.blocks for m in sent] == [(source.pair(1), source.pair(2)), (source.pair(1),)]


def test_a_block_larger_than_the_byte_cap_is_still_served_alone(
        net: Network, source: CertifiedChain, monkeypatch: pytest.MonkeyPatch) -> None:
    server, sent = serving(net)
    monkeypatch.setattr(block_sync, "MAX_RESPONSE_BYTES", 1)
    server.on_request(LIAR, SyncRequest(1, 32))
    assert [m.blocks for m in sent] == [(source.pair(1),)]


def test_a_peer_is_charged_for_the_bytes_it_is_sent_not_for_the_block_that_did_not_fit(
        net: Network, source: CertifiedChain, monkeypatch: pytest.MonkeyPatch) -> None:
    two = pair_size(source, 1) + pair_size(source, 2)
    monkeypatch.setattr(block_sync, "MAX_RESPONSE_BYTES", two)
    monkeypatch.setattr(block_sync, "SERVE_MIN_COST", 1)
    monkeypatch.setattr(block_sync, "SERVE_BURST_BYTES", 2 * two + 1)
    server, sent = serving(net)
    for _ in range(5):
        server.on_request(LIAR, SyncRequest(1, 32))
    # Each answer (blocks 1 and 2) costs ``two``: two answers leave one byte, which buys a third.
    assert len(sent) == 3


# ---- what the node hears of applied blocks ----

def test_each_block_applied_is_reported_once_in_order_and_blocks_already_held_are_not(
        net: Network, source: CertifiedChain) -> None:
    applied: list[tuple[int, bytes]] = []
    net.sync.on_applied = lambda block, execution: applied.append((block.height, execution.state_root))
    net.connect(HONEST)
    net.announce(HONEST, 5)
    run(net.answer(HONEST, source.pair(1), source.pair(2)))
    net.announce(HONEST, 5)
    run(net.answer(HONEST, source.pair(2), source.pair(3)))  # block 2 again: held already, not reported
    assert applied == [(h, source.ledger.block(h).header.state_root) for h in (1, 2, 3)]
