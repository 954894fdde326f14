"""``--lookup-rate N``: a merchant bank's system asking one node "is this KHQR paid?" while the network
is under the KHQR load: ``POST /v1/check_transaction_by_md5`` at an offered rate, measured.

It runs in its own process (``python -m node.tools.bench.lookups``, started by ``load``), so its event
loop neither slows the transfer submission nor is slowed by the block stream: the figures are the
node's, not our client's. The parent talks to it over stdin: the first line is the API token (never on
the command line, where ``ps`` shows it), then one line per progress report, the number of pool
payments submitted so far (the first such line starts the clock); end of input stops it. It prints one
JSON object, the figures.

The md5s asked about: every other request one of the older half of the payments submitted so far
(most of them committed: "found"), the others one far from being submitted ("not found"), so both
answers of the look-up are exercised. Pacing is open loop: request k is due at start + k / rate, taken
by the first of ``connections`` keep-alive connections that is free; a request that finds every
connection busy goes out late (``late`` counts them) and ``answered_rps`` says what the node kept up
with. Latency is from sending a request to its whole answer, on this host's monotonic clock.

The client speaks HTTP/1.1 itself (``KeepAliveHttp``: a request is pre-encoded bytes, an answer its status
line, headers and ``Content-Length`` body) rather than through aiohttp's client. On this 2-core bench host
the client shares the CPU with the node it measures: aiohttp's client spent ~0.23 ms of CPU per request,
as much as the node's answer, so the measuring took what it measured. A merchant's system runs on its
own machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PATH = "/v1/check_transaction_by_md5"
NOT_FOUND = 1  # the Open API's errorCode for "Transaction could not be found"


@dataclass
class LookupStats:
    """What the look-up load saw; ``summary`` makes the report's figures."""

    sent: int = 0
    answered: int = 0
    """HTTP 200 with the envelope: found (responseCode 0) or not found (errorCode 1)."""
    found: Counter[str] = field(default_factory=Counter)
    """Found answers by the md5's class (``Md5Lookups.pick``): ``submitted`` or ``unpaid``."""
    asked: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    """Anything else: HTTP status or exception class, or ``errorCode_<n>``."""
    late: int = 0
    cpu_s: float = 0.0
    """This process's CPU time over the window."""
    latencies_s: list[float] = field(default_factory=list)
    window_s: float = 0.0

    def summary(self, rate: float, connections: int) -> dict[str, Any]:
        lat = sorted(self.latencies_s)

        def pct(q: float) -> float:
            if not lat:
                return math.nan
            return round(lat[max(0, min(len(lat) - 1, math.ceil(q * len(lat)) - 1))] * 1000, 2)

        window = max(self.window_s, 1e-9)
        return {"path": PATH, "offered_rps": rate, "connections": connections, "window_s": round(self.window_s, 3),
                "sent": self.sent, "answered": self.answered, "answered_rps": round(self.answered / window, 1),
                "sent_late": self.late, "cpu_percent": round(100 * self.cpu_s / window, 1),
                "found": dict(self.found), "asked": dict(self.asked),
                "errors": dict(self.errors), "latency_p50_ms": pct(0.50), "latency_p99_ms": pct(0.99),
                "latency_max_ms": round(lat[-1] * 1000, 2) if lat else math.nan}


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 as expected."""


class KeepAliveHttp:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads ``Content-Length`` answers."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"the look-up client speaks plain http to the bench's own node, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def request_bytes(self, path: str, headers: dict[str, str], body: bytes) -> bytes:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def send(self, request: bytes, timeout_s: float = 30.0) -> tuple[int, bytes]:
        """(status, body) of one request; the connection is reopened after any failure."""
        try:
            return await asyncio.wait_for(self._exchange(request), timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, HttpError) as exc:
            self.close()
            raise HttpError(exc.__class__.__name__) from exc

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise HttpError("not an HTTP/1.1 answer")
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise HttpError("no Content-Length")
        return int(status_line[1]), await self._reader.readexactly(length)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Md5Lookups:
    """Open-loop ``check_transaction_by_md5`` requests to ``url`` over ``connections`` keep-alive connections."""

    def __init__(self, url: str, token: str, md5s: Sequence[str], rate: float, connections: int,
                 seed: int = 1) -> None:
        self.url, self.rate, self.connections = url.rstrip("/"), rate, connections
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.md5s = md5s
        self.rng = random.Random(seed)
        self.submitted = 0
        """Pool payments submitted so far (the parent's progress reports)."""
        self.stats = LookupStats()
        self._next = 0

    def pick(self, k: int) -> tuple[str, str]:
        """The k-th request's md5 and its class: ``submitted`` (the older half of the payments sent so far)
        or ``unpaid`` (from the far half of those not yet sent, clear of the progress reports' lag; once
        the pool is nearly all sent, the md5 of a QR nobody pays)."""
        if k % 2 == 0 and self.submitted >= 2:
            return self.md5s[self.rng.randrange(self.submitted // 2)], "submitted"
        lo = (self.submitted + len(self.md5s)) // 2
        if len(self.md5s) - lo < 100:
            return f"{self.rng.getrandbits(128):032x}", "unpaid"
        return self.md5s[self.rng.randrange(lo, len(self.md5s))], "unpaid"

    async def _ask(self, http: KeepAliveHttp, md5: str, kind: str) -> None:
        s = self.stats
        s.sent += 1
        s.asked[kind] += 1
        request = http.request_bytes(PATH, self.headers, json.dumps({"md5": md5}).encode())
        t0 = time.monotonic()
        try:
            status, body = await http.send(request)
            answer = json.loads(body)
        except HttpError as exc:
            s.errors[str(exc)] += 1
            return
        except ValueError:
            s.errors["bad_json"] += 1
            return
        if status != 200 or not isinstance(answer, dict):
            s.errors[f"http_{status}"] += 1
            return
        s.latencies_s.append(time.monotonic() - t0)
        if answer.get("responseCode") == 0:
            s.answered += 1
            s.found[kind] += 1
        elif answer.get("errorCode") == NOT_FOUND:
            s.answered += 1
        else:
            s.errors[f"errorCode_{answer.get('errorCode')}"] += 1

    async def run(self, stop: asyncio.Event) -> LookupStats:
        """Until ``stop`` is set: request k at start + k / rate, on the first free connection."""
        start = time.monotonic()
        cpu0 = time.process_time()

        async def connection() -> None:
            http = KeepAliveHttp(self.url)
            try:
                await requests(http)
            finally:
                http.close()

        async def requests(http: KeepAliveHttp) -> None:
            while not stop.is_set():
                k = self._next
                self._next += 1
                delay = start + k / self.rate - time.monotonic()
                if delay > 0:
                    try:  # sleep until due, or until told to stop
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                        return
                    except TimeoutError:
                        pass
                elif delay < -0.01:
                    self.stats.late += 1
                await self._ask(http, *self.pick(k))

        await asyncio.gather(*(connection() for _ in range(self.connections)))
        self.stats.window_s = time.monotonic() - start
        self.stats.cpu_s = time.process_time() - cpu0
        return self.stats


class LookupProcess:
    """The parent's side: starts ``python -m node.tools.bench.lookups``, feeds it the token and progress,
    and reads its figures."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc, self.url = proc, url

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def start(cls, url: str, token: str, md5_file: str, rate: float, connections: int,
                    seed: int) -> LookupProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "node.tools.bench.lookups", "--url", url, "--md5-file", md5_file,
            "--rate", str(rate), "--connections", str(connections), "--seed", str(seed),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None  # both piped above
        proc.stdin.write(token.encode() + b"\n")
        await proc.stdin.drain()
        ready = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        if ready.strip() != b"ready":
            raise RuntimeError(f"the look-up client did not start (it said {ready[:200]!r})")
        return cls(proc, url)

    async def report(self, submitted: int) -> None:
        """Progress (the first call starts the clock)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{submitted}\n".encode())
        await self.proc.stdin.drain()

    async def finish(self) -> dict[str, Any]:
        """Stop the load and return its figures."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        out = await asyncio.wait_for(self.proc.stdout.read(), timeout=60)
        code = await self.proc.wait()
        lines = out.decode(errors="replace").strip().splitlines()
        if code != 0 or not lines:
            raise RuntimeError(f"the look-up process ended without its figures (exit status {code}; see above)")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


async def _serve(args: argparse.Namespace, md5s: list[str]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    token = (await reader.readline()).decode().strip()
    lookups = Md5Lookups(args.url, token, md5s, args.rate, args.connections, args.seed)
    print("ready", flush=True)
    first = await reader.readline()
    if not first:
        return lookups.stats.summary(args.rate, args.connections)
    lookups.submitted = int(first)
    stop = asyncio.Event()
    running = asyncio.ensure_future(lookups.run(stop))
    while line := await reader.readline():  # progress until the parent closes our stdin
        lookups.submitted = int(line)
    stop.set()
    stats = await running
    return stats.summary(args.rate, args.connections)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m node.tools.bench.lookups", description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="the node's API URL")
    p.add_argument("--md5-file", required=True, help="the pool's md5s, one a line, in submission order")
    p.add_argument("--rate", type=float, required=True, help="offered requests per second")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    md5s = Path(args.md5_file).read_text().split()
    try:  # as the nodes run: uvloop's C loop keeps the client's share of the CPU small
        import uvloop
        loop_factory: Any = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(_serve(args, md5s))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
