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

import aiohttp

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


class Md5Lookups:
    """Open-loop ``check_transaction_by_md5`` requests to ``url`` over ``connections`` keep-alive connections."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str, md5s: Sequence[str], rate: float,
                 connections: int, seed: int = 1) -> None:
        self.session, self.url, self.rate, self.connections = session, url.rstrip("/") + PATH, rate, connections
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

    async def _ask(self, md5: str, kind: str) -> None:
        s = self.stats
        s.sent += 1
        s.asked[kind] += 1
        t0 = time.monotonic()
        try:
            async with self.session.post(self.url, data=json.dumps({"md5": md5}), headers=self.headers) as resp:
                answer = await resp.json(content_type=None)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            s.errors[exc.__class__.__name__] += 1
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
                await self._ask(*self.pick(k))

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
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        lookups = Md5Lookups(session, args.url, token, md5s, args.rate, args.connections, args.seed)
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
    result = asyncio.run(_serve(args, Path(args.md5_file).read_text().split()))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
