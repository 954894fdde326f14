"""The delaying relay on every inter-country link: a TCP splice that adds WAN latency, jitter, loss
stalls and partitions, since this kernel has no ``netem`` qdisc.

A node dials a peer's *public* address (the one in the genesis peer list); the relay listens there,
tells the caller's country from its source address, dials the peer's private address, and forwards
both directions through a delay line. Rules:

- Order is kept: a chunk read at ``t`` is written at ``max(t + delay, previous chunk's time)``, so jitter
  delays the stream but never reorders it (TCP would not either).
- TCP loses no bytes, so neither does the relay: a lost segment is modelled as what TCP makes of it, a
  retransmission stall (``max(MIN_RTO, RTT)``) on that chunk, which holds back everything behind it.
- A partition between two countries aborts every connection across it (both ends see a reset) and
  resets each new one at once, until healed; the nodes' own redial with backoff does the rest.
- Same-country traffic passes without delay; profiles can change while connections are open (each
  chunk reads the current one), so one testnet serves several RTT settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

SEGMENT_BYTES = 1448
"""A TCP segment's payload on a 1500-byte MTU: loss is drawn per segment a chunk would take."""
MIN_RTO_S = 0.2
"""Linux's minimum retransmission timeout: the least a lost segment costs."""
CHUNK_BYTES = 65536
QUEUE_CHUNKS = 256
"""Chunks in flight per direction; a full delay line stops reading, so the sender feels backpressure."""
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LinkProfile:
    """What one direction of a link between two countries does to each chunk."""

    one_way_ms: float = 0.0
    """Half the round-trip time added by the relay."""
    jitter_ms: float = 0.0
    """Each chunk's delay varies uniformly by up to this much either side (never below zero)."""
    loss: float = 0.0
    """Probability that a segment is lost; a lost one stalls its chunk by a retransmission timeout."""

    def delay_s(self, rng: random.Random, nbytes: int) -> tuple[float, bool]:
        """This chunk's delay in seconds, and whether it includes a loss stall."""
        delay = max(0.0, self.one_way_ms + rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000
        if self.loss <= 0:
            return delay, False
        segments = max(1, math.ceil(nbytes / SEGMENT_BYTES))
        if rng.random() < 1 - (1 - self.loss) ** segments:
            return delay + max(MIN_RTO_S, 2 * self.one_way_ms / 1000), True
        return delay, False


LOCAL = LinkProfile()


@dataclass(frozen=True)
class Route:
    """One listening address of the relay: whoever connects there is spliced to ``target``, a node in
    ``country``."""

    listen: tuple[str, int]
    target: tuple[str, int]
    country: str


@dataclass
class RelayCounters:
    accepted: int = 0
    refused_partitioned: int = 0
    """New connections reset because a partition separated the two countries."""
    cut_by_partition: int = 0
    """Open connections aborted when a partition began."""
    dial_failures: int = 0
    bytes_forwarded: int = 0
    loss_stalls: int = 0


def _pair(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


@dataclass(eq=False)  # identity: a set of open splices per country pair
class _Splice:
    transports: list[asyncio.BaseTransport] = field(default_factory=list)

    def abort(self) -> None:
        for t in self.transports:
            abort = getattr(t, "abort", None)
            if abort is not None:
                abort()


class Relay:
    """Every route of one harness, with a mutable profile per country pair and a set of cut pairs."""

    def __init__(self, routes: Iterable[Route], country_of: Callable[[str], str], seed: int = 0) -> None:
        self.routes = list(routes)
        self.country_of = country_of
        self.rng = random.Random(seed)
        self.counters = RelayCounters()
        self.default = LOCAL
        self.profiles: dict[frozenset[str], LinkProfile] = {}
        self.cut: set[frozenset[str]] = set()
        self._servers: list[asyncio.Server] = []
        self._open: dict[frozenset[str], set[_Splice]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- control ----

    def profile(self, a: str, b: str) -> LinkProfile:
        if a == b:
            return LOCAL
        return self.profiles.get(_pair(a, b), self.default)

    def set_default(self, profile: LinkProfile) -> None:
        """The profile of every inter-country pair without one of its own."""
        self.default = profile
        self.profiles.clear()

    def set_profile(self, a: str, b: str, profile: LinkProfile) -> None:
        self.profiles[_pair(a, b)] = profile

    def partition(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Cut these country pairs: abort their open connections, reset new ones. Returns how many
        connections were cut."""
        cut = 0
        for a, b in pairs:
            key = _pair(a, b)
            self.cut.add(key)
            for splice in list(self._open.get(key, ())):
                splice.abort()
                cut += 1
        self.counters.cut_by_partition += cut
        return cut

    def isolate(self, country: str, others: Iterable[str]) -> int:
        return self.partition((country, o) for o in others if o != country)

    def heal(self) -> None:
        self.cut.clear()

    # ---- lifecycle ----

    async def start(self) -> list[tuple[str, int]]:
        """Listen on every route; returns the bound addresses (a route may ask for port 0)."""
        bound = []
        for route in self.routes:
            server = await asyncio.start_server(functools.partial(self._accept, route), *route.listen)
            self._servers.append(server)
            host, port = server.sockets[0].getsockname()[:2]
            bound.append((str(host), int(port)))
        return bound

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for splices in self._open.values():
            for splice in list(splices):
                splice.abort()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    # ---- forwarding ----

    async def _accept(self, route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(route, reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = self.country_of(str(peer[0])) if peer else "?"
        key = _pair(source, route.country)
        if key in self.cut:
            self.counters.refused_partitioned += 1
            writer.transport.abort()
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                up_reader, up_writer = await asyncio.open_connection(*route.target)
        except (OSError, TimeoutError):
            self.counters.dial_failures += 1
            writer.transport.abort()
            return
        self.counters.accepted += 1
        splice = _Splice([writer.transport, up_writer.transport])
        self._open.setdefault(key, set()).add(splice)
        try:
            await asyncio.gather(self._direction(reader, up_writer, source, route.country, splice),
                                 self._direction(up_reader, writer, route.country, source, splice))
        finally:
            self._open[key].discard(splice)
            splice.abort()

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: str,
                         dst: str, splice: _Splice) -> None:
        """One direction through the delay line: a reader stamping each chunk with its delivery time,
        a writer releasing chunks at their time, in order. An end's reset aborts both ends (a clean EOF
        is passed on as a half-close after the data before it)."""
        loop = asyncio.get_running_loop()
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

        async def read() -> None:
            last = 0.0
            while True:
                try:
                    data = await reader.read(CHUNK_BYTES)
                except OSError:
                    splice.abort()
                    data = b""
                if not data:
                    await line.put((last, b""))
                    return
                delay, stalled = self.profile(src, dst).delay_s(self.rng, len(data))
                self.counters.loss_stalls += stalled
                last = max(loop.time() + delay, last)
                await line.put((last, data))

        async def write() -> None:
            while True:
                at, data = await line.get()
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                try:
                    writer.write(data)
                    await writer.drain()
                except OSError:
                    splice.abort()
                    return
                self.counters.bytes_forwarded += len(data)

        reading = asyncio.ensure_future(read())
        try:
            await write()
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await reading
