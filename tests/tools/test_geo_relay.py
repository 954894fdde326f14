"""The geo relay with real sockets on 127.0.0.1: a delay line that keeps TCP's order, and partitions
that cut and refuse connections until healed."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from node.tools.geo.relay import MIN_RTO_S, LinkProfile, Relay, Route


class Sink:
    """A node stand-in: records every byte it receives with its arrival time, echoes nothing."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self.server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while data := await reader.read(65536):
                self.received.append((time.monotonic(), data))
        except ConnectionResetError:
            pass
        writer.close()

    def data(self) -> bytes:
        return b"".join(d for _t, d in self.received)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _read_or_reset(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(10), 2)
    except ConnectionResetError:
        return b""


async def _relay_to(sink: Sink, profile: LinkProfile) -> tuple[Relay, tuple[str, int]]:
    target = await sink.start()
    # Everyone on 127.0.0.1 is "th" calling "kh": an inter-country link.
    relay = Relay([Route(("127.0.0.1", 0), target, "kh")], lambda ip: "th", seed=7)
    relay.set_default(profile)
    (address,) = await relay.start()
    return relay, address


def test_delay_line_adds_one_way_latency_and_keeps_order_under_jitter() -> None:
    async def run() -> None:
        sink = Sink()
        relay, address = await _relay_to(sink, LinkProfile(one_way_ms=40, jitter_ms=30))
        _reader, writer = await asyncio.open_connection(*address)
        sent = []
        t0 = time.monotonic()
        for i in range(60):
            chunk = f"{i:04d}".encode() * 10
            sent.append(chunk)
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.002)
        writer.close()
        deadline = time.monotonic() + 5
        while len(sink.data()) < len(b"".join(sent)) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert sink.data() == b"".join(sent)  # every byte, in order, despite +-30 ms per chunk
        first_arrival = sink.received[0][0] - t0
        assert first_arrival >= 0.009  # 40 - 30 ms at the least
        arrivals = [t for t, _d in sink.received]
        assert arrivals == sorted(arrivals)
        await relay.close()
        await sink.close()

    asyncio.run(run())


def test_same_country_traffic_is_not_delayed() -> None:
    relay = Relay([], lambda ip: "kh")
    relay.set_default(LinkProfile(one_way_ms=40))
    assert relay.profile("kh", "kh") == LinkProfile()
    assert relay.profile("kh", "th").one_way_ms == 40


def test_loss_costs_a_retransmission_stall_never_bytes() -> None:
    rng = random.Random(1)
    always = LinkProfile(one_way_ms=25, loss=1.0)
    delay, stalled = always.delay_s(rng, 100)
    assert stalled and delay == pytest.approx(0.025 + max(MIN_RTO_S, 0.05))
    never = LinkProfile(one_way_ms=25, loss=0.0)
    assert never.delay_s(rng, 10**6) == (0.025, False)
    # Per segment: a 64 KiB chunk (46 segments) at 1% loss stalls far more often than a 100-byte one.
    some = LinkProfile(loss=0.01)
    big = sum(some.delay_s(rng, 65536)[1] for _ in range(2000))
    small = sum(some.delay_s(rng, 100)[1] for _ in range(2000))
    assert big > 5 * small


def test_partition_cuts_open_connections_and_refuses_new_ones_until_healed() -> None:
    async def run() -> None:
        sink = Sink()
        relay, address = await _relay_to(sink, LinkProfile())
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"before")
        await writer.drain()
        await asyncio.sleep(0.1)
        assert relay.isolate("th", ["kh", "th", "la"]) == 1
        assert await _read_or_reset(reader) == b""  # our end is reset or closed
        writer.close()

        blocked_reader, blocked_writer = await asyncio.open_connection(*address)
        blocked_writer.write(b"during")
        assert await _read_or_reset(blocked_reader) == b""
        blocked_writer.close()
        assert relay.counters.refused_partitioned == 1
        assert sink.connections == 1  # the refused one never reached the node

        relay.heal()
        _r, healed = await asyncio.open_connection(*address)
        healed.write(b"after")
        await healed.drain()
        await asyncio.sleep(0.2)
        healed.close()
        assert sink.data() == b"beforeafter"
        await relay.close()
        await sink.close()

    asyncio.run(run())


def test_a_partition_between_other_countries_leaves_a_link_alone() -> None:
    async def run() -> None:
        sink = Sink()
        relay, address = await _relay_to(sink, LinkProfile())
        relay.partition([("la", "vn")])
        _r, writer = await asyncio.open_connection(*address)
        writer.write(b"fine")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        assert sink.data() == b"fine"
        await relay.close()
        await sink.close()

    asyncio.run(run())
