"""Whom block sync asks: announced heights are claims; peers that answer are preferred, liars are benched.

Real ledgers on LevelDB (``tests.block_sync_world``), a clock moved by hand, no sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.p2p import block_sync
from node.p2p.messages import SyncRequest
from tests.block_sync_world import HONEST, LIAR, OTHER_HONEST, CertifiedChain, Network, run

HUGE = 10**9


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


def test_a_peer_announcing_a_huge_height_and_never_answering_cannot_stop_sync_from_an_honest_peer(
        net: Network, source: CertifiedChain) -> None:
    net.connect(LIAR)
    net.connect(HONEST, honest=True)

    async def hundred_seconds() -> None:
        for _ in range(100):
            net.announce(LIAR, HUGE)  # the liar repeats its claim every second, as heads are announced
            await net.tick()

    run(hundred_seconds())
    assert net.asked(HONEST) > 0
    assert net.head == source.height == 5
    assert net.asked(LIAR) <= 5  # at 0, 10, 25, 50 and 95 s: each timeout doubles its bench


def test_when_the_asked_peer_times_out_the_next_peer_is_asked_on_the_next_tick(net: Network) -> None:
    net.connect(LIAR, HONEST)  # the honest peer answers nothing in this test: only who is asked matters
    net.announce(LIAR, HUGE)
    net.announce(HONEST, 5)
    assert [p for p, _r in net.requests] == [LIAR]  # both unproven: the higher claim goes first
    net.now += block_sync.REQUEST_TIMEOUT_S - 0.5
    net.sync.maybe_request()
    assert [p for p, _r in net.requests] == [LIAR]  # still waiting for its answer
    net.now += 0.5
    net.sync.maybe_request()
    assert [p for p, _r in net.requests] == [LIAR, HONEST]
    assert net.node.metrics.sync_peer_penalties.labels("timeout")._value.get() == 1


def test_a_peer_that_keeps_timing_out_is_benched_for_5_s_doubling_up_to_5_min(net: Network) -> None:
    net.connect(LIAR)
    net.announce(LIAR, HUGE)
    asked_at = [net.now]
    for _ in range(2000):
        net.now += 1
        before = len(net.requests)
        net.sync.maybe_request()
        if len(net.requests) > before:
            asked_at.append(net.now)
    # 5 s waiting for the answer, then benched 5, 10, 20, ... 300, 300 s.
    gaps = [b - a - block_sync.REQUEST_TIMEOUT_S for a, b in itertools.pairwise(asked_at)]
    assert gaps[:8] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_a_peer_that_delivered_recently_is_preferred_to_one_claiming_a_higher_head(
        net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST, honest=True)
    net.connect(LIAR)

    async def scenario() -> None:
        await net.tick()
        assert net.head == 5
        source.extend(3)
        await net.announce_together((LIAR, HUGE), (HONEST, 8))  # the liar's claim is far higher
        await net.tick()

    run(scenario())
    assert net.head == 8
    assert [(p, r.from_height) for p, r in net.requests][:2] == [(HONEST, 1), (HONEST, 6)]


def test_an_empty_answer_benches_the_peer_and_the_next_one_is_asked(net: Network) -> None:
    net.connect(LIAR)
    net.connect(HONEST, honest=True)
    net.announce(LIAR, HUGE)

    async def scenario() -> None:
        await net.answer(LIAR)  # "here are your blocks": none
        await net.tick()

    run(scenario())
    assert net.node.metrics.sync_peer_penalties.labels("useless")._value.get() == 1
    assert net.head == 5


def test_blocks_we_already_hold_are_a_useless_answer(net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST, honest=True)
    net.connect(LIAR)

    async def scenario() -> None:
        await net.tick()
        source.extend(1)
        net.announce(LIAR, HUGE)
        await net.answer(LIAR, *(source.pair(h) for h in range(1, 6)))  # block 1..5 again

    run(scenario())
    assert net.asked(LIAR) == 1
    assert net.node.metrics.sync_peer_penalties.labels("useless")._value.get() == 1


def test_blocks_from_a_peer_not_asked_are_dropped_unread(net: Network, source: CertifiedChain) -> None:
    net.connect(LIAR, HONEST)
    run(net.answer(LIAR, source.pair(1)))
    assert net.head == 0
    assert net.node.metrics.sync_dropped.labels("unsolicited")._value.get() == 1


def test_a_second_answer_to_one_request_is_dropped(net: Network, source: CertifiedChain) -> None:
    net.connect(HONEST)
    net.announce(HONEST, 5)

    async def scenario() -> None:
        # Both arrive before the first is applied (the network starts a task per message).
        await asyncio.gather(net.answer(HONEST, source.pair(1), source.pair(2)),
                             net.answer(HONEST, source.pair(3)))

    run(scenario())
    assert net.head == 2
    assert net.node.metrics.sync_dropped.labels("unsolicited")._value.get() == 1


def test_announcements_while_blocks_apply_send_no_second_request(net: Network) -> None:
    net.connect(HONEST, OTHER_HONEST)
    net.announce(HONEST, 5)

    async def scenario() -> None:
        async with net.sync._applying:  # as while on_blocks applies the answer
            net.announce(OTHER_HONEST, 5)
            net.now += 60
            net.sync.maybe_request()

    run(scenario())
    assert [p for p, _r in net.requests] == [HONEST]


def test_reconnecting_does_not_lift_a_ban(net: Network, source: CertifiedChain) -> None:
    net.connect(LIAR, HONEST)
    net.announce(LIAR, HUGE)
    bad_certificate = (source.pair(1)[0], b"\x93garbage")
    run(net.answer(LIAR, bad_certificate))
    net.sync.peer_gone(LIAR)
    net.now += 60
    net.announce(LIAR, HUGE)
    net.sync.maybe_request()
    assert net.asked(LIAR) == 1
    net.now += block_sync.BAN_S
    net.sync.maybe_request()
    assert net.asked(LIAR) == 2


def test_a_peer_that_leaves_instead_of_answering_is_benched_and_cannot_reconnect_to_a_fresh_turn(
        net: Network) -> None:
    net.connect(LIAR, HONEST)
    net.announce(LIAR, HUGE)
    net.sync.peer_gone(LIAR)
    net.announce(LIAR, HUGE)  # back at once
    net.announce(HONEST, 5)
    assert [p for p, _r in net.requests] == [LIAR, HONEST]
    assert net.node.metrics.sync_peer_penalties.labels("gone")._value.get() == 1


def test_a_peer_that_went_away_is_forgotten_once_its_penalty_is_over(net: Network) -> None:
    net.connect(HONEST, LIAR)
    net.announce(LIAR, HUGE)
    net.announce(HONEST, 5)
    net.sync.peer_gone(HONEST)
    assert HONEST not in net.sync.peers
    net.now += block_sync.REQUEST_TIMEOUT_S  # the liar times out, is benched, then goes away
    net.sync.maybe_request()
    net.sync.peer_gone(LIAR)
    assert LIAR in net.sync.peers
    net.now += block_sync.BENCH_MAX_S
    net.sync.peer_gone(HONEST)  # any departure sweeps the expired records
    assert net.sync.peers == {}


def test_a_flood_of_requests_is_answered_within_a_byte_budget_per_peer(net: Network) -> None:
    sent: list[tuple[bytes, int]] = []

    def send(peer: bytes, payload: bytes) -> bool:
        sent.append((peer, len(payload)))
        return True

    server = block_sync.BlockSync(net.server.node, send, lambda block, execution: None, clock=lambda: net.now)
    for _ in range(10_000):
        server.on_request(LIAR, SyncRequest(1, 32))
    answered = len(sent)
    assert 0 < answered <= block_sync.SERVE_BURST_BYTES // block_sync.SERVE_MIN_COST + 1
    dropped = server.node.metrics.sync_dropped.labels("over_serve_budget")._value.get()
    assert dropped == 10_000 - answered
    server.on_request(HONEST, SyncRequest(1, 32))  # another peer has its own budget
    assert sent[-1][0] == HONEST
    net.now += 1.0
    server.on_request(LIAR, SyncRequest(1, 32))  # the budget refills with time
    assert sent[-1][0] == LIAR
