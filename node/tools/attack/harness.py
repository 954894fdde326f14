"""The run of one scenario: a fresh testnet, honest clients paying through it, the attack, the figures.

Timeline: start the network and the block watcher, let the honest clients pay for ``baseline_s``
(the "before" latency), note every node's RSS, run the attack (the scenario's function returns when
its window is over), stop the honest clients, wait until every payment a node accepted is committed
(or ``DRAIN_S`` passes: the rest are lost), then read the figures.

Honest clients post one payment per request from 127.0.0.1, round-robin over the honest live nodes,
a pre-signed transfer between funded bench accounts each time. Latency is submit (wall clock, this
process) to the ``committed_ms`` the watched validator reports for the block that holds it (same
host, same clock). The watched validator is ``nbc``, which no scenario attacks directly.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from node.api.client import ClientError, NodeClient
from node.intake import statuses as st
from node.keyfile import read_key
from node.tools.attack.verdict import Check, HonestFigures, ScenarioResult, judge, latency_summary
from node.tools.bench.workload import bench_accounts, build_workload
from node.tools.chaos.network import ChaosNet
from node.tools.testnet import TestnetNode

WATCHED = "nbc"
DRAIN_S = 30.0
REQUEST_TIMEOUT_S = 5.0
HEALTH_PERIOD_S = 0.5
MIB = 1024 * 1024


@dataclass(frozen=True)
class NetSpec:
    """What a scenario changes in the standard attack testnet (4 validators + ftb observer, fast blocks)."""

    api: dict[str, int] = field(default_factory=dict)
    """Keys added to every node's ``[api]`` table (e.g. a smaller ``max_websockets``)."""
    mempool: dict[str, int] = field(default_factory=dict)
    """Every node's ``[mempool]`` table."""
    byzantine: tuple[str, str] | None = None
    """(node, ``[testing] byzantine`` mode) for one node."""
    scaled: dict[str, int] = field(default_factory=dict)
    """Keys of ``api`` and ``mempool`` whose values shrink with ``--scale`` (a smaller attack against
    a smaller limit proves the same defence), each with its least value: a total must stay above the
    node's default per-client share of it, or one client holding its share would hold everything."""

    def at_scale(self, scale: float) -> NetSpec:
        def shrink(table: dict[str, int]) -> dict[str, int]:
            return {k: max(self.scaled[k], int(v * scale)) if k in self.scaled else v for k, v in table.items()}

        return NetSpec(shrink(self.api), shrink(self.mempool), self.byzantine, self.scaled)


@dataclass(frozen=True)
class RunOptions:
    duration: float = 20.0
    """Seconds of attack (a scenario driven by events, like a restart, may take longer)."""
    baseline_s: float = 8.0
    rate: float = 20.0
    """Honest payments per second, over all honest nodes."""
    scale: float = 1.0
    """Attack sizes relative to the campaign's (1.0); the short test runs smaller ones."""
    directory: Path | None = None
    keep: bool = False


# ---- the testnet ----

class AttackNet(ChaosNet):
    """ChaosNet's 4+1 loopback testnet with a scenario's config changes; the Byzantine node, if any, is
    the scenario's choice (ChaosNet's load and probes already keep away from it)."""

    def __init__(self, directory: Path, spec: NetSpec) -> None:
        super().__init__(directory, spec.byzantine[1] if spec.byzantine else "")
        self.byzantine = spec.byzantine[0] if spec.byzantine else None
        self.spec = spec

    def write(self) -> None:
        super().write()
        for node in self.nodes:
            text = node.config.read_text()
            if self.spec.api:
                text = text.replace("[api]\n", "[api]\n" + "".join(f"{k} = {v}\n" for k, v in self.spec.api.items()), 1)
            if self.spec.mempool:
                text += "\n[mempool]\n" + "".join(f"{k} = {v}\n" for k, v in self.spec.mempool.items())
            node.config.write_text(text)

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None


# ---- honest clients and what they saw ----

@dataclass
class Payment:
    index: int
    node: str
    sent_ms: int
    outcome: str
    """"accepted", a refusal code, or "undelivered:<reason>"."""


class HonestClients:
    """One thread per honest node, together ``rate`` payments per second."""

    def __init__(self, net: AttackNet, rate: float, count: int, seed: int) -> None:
        self.net = net
        accounts = bench_accounts(net.dir)
        self.work = build_workload(count, accounts, read_key(net.dir / "keys" / "bench.key"), 0.0, seed,
                                   int(time.time() * 1000))
        self.rate = rate
        self.payments: list[Payment] = []
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        names = [n.name for n in self.net.nodes if n.name != self.net.byzantine]
        for name in names:
            t = threading.Thread(target=self._run, args=(name, self.rate / len(names)), daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=REQUEST_TIMEOUT_S + 5)

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= len(self.work):
                return None
            self._next += 1
            return self._next - 1

    def _run(self, name: str, rate: float) -> None:
        node = self.net.node(name)
        client = NodeClient(node.api_url, timeout=REQUEST_TIMEOUT_S)
        period = 1.0 / rate
        due = time.monotonic()
        while not self._stop.is_set():
            due += period
            pause = due - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)
            if name not in self.net.live:  # a node the scenario stopped: its clients wait
                continue
            i = self._take()
            if i is None:
                return
            sent = int(time.time() * 1000)
            try:
                code, payload = client._request("POST", "/v1/transactions",
                                                {"transaction": self.work.encoded[i].hex()})
                outcome = _outcome(code, payload)
            except ClientError as exc:
                outcome = f"undelivered:{exc.code}"
            with self._lock:
                self.payments.append(Payment(i, name, sent, outcome))


def _outcome(code: int, payload: Any) -> str:
    if not isinstance(payload, dict):
        return f"http_{code}"
    # A resend of a final transaction answers its recorded status (with its height): accepted earlier.
    if payload.get("status") in (st.STATELESS_VALIDATION_SUCCESS, st.COMMITTED) or "height" in payload:
        return "accepted"
    err = payload.get("error")
    if isinstance(err, dict):
        return str(err.get("code", code))
    return str(payload.get("error_code") or payload.get("status") or code)


class BlockWatcher:
    """Follows ``/v1/blocks/ws`` on the watched validator: commit time of every block and of every
    transaction in it (reconnecting if the stream drops)."""

    def __init__(self, node: TestnetNode) -> None:
        self.node = node
        self.block_ms: dict[int, int] = {}
        self.tx_ms: dict[str, int] = {}
        self.rejected: set[str] = set()
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.ready.wait(timeout=15)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    async def _main(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self._stop.is_set():
                try:
                    async with session.ws_connect(self.node.api_url + "/v1/blocks/ws", heartbeat=20,
                                                  max_msg_size=0) as ws:
                        self.ready.set()
                        while not self._stop.is_set():
                            try:
                                msg = await ws.receive(timeout=0.5)
                            except TimeoutError:
                                continue
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                break
                            block = json.loads(msg.data)
                            ms = int(block["committed_ms"])
                            self.block_ms[int(block["height"])] = ms
                            self.rejected.update(block.get("rejected", ()))
                            for h in block["txs"]:
                                self.tx_ms.setdefault(h, ms)
                except (aiohttp.ClientError, OSError, TimeoutError):
                    await asyncio.sleep(0.5)


class Probes:
    """Once a second each node's RSS (peak kept), and twice a second each honest node's ``/healthz``
    answer time (slowest kept per window)."""

    def __init__(self, net: AttackNet) -> None:
        self.net = net
        self.peak_rss: dict[str, float] = {}
        self.healthz: dict[str, list[tuple[int, float | None]]] = {n.name: [] for n in net.nodes}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rss_loop, daemon=True)]
        self._threads += [threading.Thread(target=self._health_loop, args=(n,), daemon=True)
                          for n in net.nodes if n.name != net.byzantine]

    def rss(self) -> dict[str, float]:
        out = {}
        for n in self.net.nodes:
            pid = self.net.pid(n.name)
            try:
                out[n.name] = psutil.Process(pid).memory_info().rss / MIB if pid else 0.0
            except psutil.Error:
                out[n.name] = 0.0
        return out

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _rss_loop(self) -> None:
        while not self._stop.wait(1.0):
            for name, mb in self.rss().items():
                self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), mb)

    def _health_loop(self, node: TestnetNode) -> None:
        client = NodeClient(node.api_url, timeout=10.0)
        while not self._stop.wait(HEALTH_PERIOD_S):
            if node.name not in self.net.live:
                continue
            t0 = time.monotonic()
            ok = client.healthy()
            self.healthz[node.name].append((int(time.time() * 1000), (time.monotonic() - t0) * 1000 if ok else None))


# ---- the scenario's view ----

@dataclass
class AttackContext:
    """What a scenario's attack gets: the network, the honest clients, the options."""

    net: AttackNet
    honest: HonestClients
    opts: RunOptions
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def deadline(self) -> float:
        """``time.monotonic()`` at which the attack window ends."""
        return self._deadline

    def begin(self) -> None:
        self._deadline = time.monotonic() + self.opts.duration

    def scaled(self, full: int, least: int = 1) -> int:
        return max(least, int(full * self.opts.scale))

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def key(self, account: str) -> Any:
        return read_key(self.net.dir / "keys" / f"{account}.key")

    def client(self, name: str, timeout: float = 10.0) -> NodeClient:
        return NodeClient(self.net.node(name).api_url, timeout=timeout)

    def wait_until_deadline(self) -> None:
        pause = self.deadline - time.monotonic()
        if pause > 0:
            time.sleep(pause)


Attack = Callable[[AttackContext], None]


def run_scenario(name: str, finding: str, spec: NetSpec, attack: Attack, opts: RunOptions) -> ScenarioResult:
    result = ScenarioResult(name, finding)
    directory = opts.directory / name if opts.directory else Path(tempfile.mkdtemp(prefix=f"bakong-attack-{name}-"))
    net = AttackNet(directory, spec.at_scale(min(1.0, opts.scale)))
    watcher: BlockWatcher | None = None
    honest: HonestClients | None = None
    probes: Probes | None = None
    try:
        net.write()
        net.start_all()
        total_s = opts.baseline_s + opts.duration + 90  # event-driven scenarios run past --duration
        honest = HonestClients(net, opts.rate, int(opts.rate * total_s) + 100, seed=len(name))
        watcher = BlockWatcher(net.node(WATCHED))
        watcher.start()
        probes = Probes(net)
        honest.start()
        probes.start()
        time.sleep(opts.baseline_s)
        rss_before = probes.rss()
        probes.peak_rss = dict(rss_before)
        ctx = AttackContext(net, honest, opts)
        t0 = int(time.time() * 1000)
        ctx.begin()
        try:
            attack(ctx)
        finally:
            t1 = int(time.time() * 1000)
            honest.stop()
        _drain(net, honest, watcher)
        probes.stop()
        result.attack_s = (t1 - t0) / 1000
        result.figures = ctx.figures
        result.checks = ctx.checks
        _fill(result, net, honest, watcher, probes, rss_before, t0, t1)
    except Exception as exc:  # noqa: BLE001 (a harness failure is this scenario's verdict, the suite goes on)
        result.error = f"{exc.__class__.__name__}: {exc}"
    finally:
        for part in (honest, probes, watcher):
            if part is not None:
                part.stop()
        net.close(remove=not opts.keep)
        if not opts.keep and not opts.directory:
            shutil.rmtree(directory, ignore_errors=True)
    return judge(result)


def _drain(net: AttackNet, honest: HonestClients, watcher: BlockWatcher) -> None:
    """Wait until every accepted honest payment is in a block the watcher saw, or ``DRAIN_S``."""
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        pending = [p for p in honest.payments if p.outcome == "accepted"
                   and honest.work.hashes[p.index] not in watcher.tx_ms]
        if not pending:
            return
        time.sleep(0.5)


def _final_status(net: AttackNet, tx_hash: str) -> str:
    for node in net.honest_live_nodes():
        try:
            return str(NodeClient(node.api_url, timeout=5.0).tx_status(tx_hash).get("status"))
        except ClientError:
            continue
    return "unknown"


def _fill(r: ScenarioResult, net: AttackNet, honest: HonestClients, watcher: BlockWatcher, probes: Probes,
          rss_before: dict[str, float], t0: int, t1: int) -> None:
    h = HonestFigures()
    before: list[float] = []
    during: list[float] = []
    unserved: Counter[str] = Counter()
    for p in honest.payments:
        tx_hash = honest.work.hashes[p.index]
        in_attack = t0 <= p.sent_ms <= t1
        h.submitted += 1
        h.attack_submitted += in_attack
        committed_ms = watcher.tx_ms.get(tx_hash) if tx_hash not in watcher.rejected else None
        accepted = p.outcome == "accepted"
        if not accepted and p.outcome.startswith("undelivered"):
            # A timed-out request may still have been admitted: the chain decides.
            accepted = committed_ms is not None or _final_status(net, tx_hash) == st.COMMITTED
        if not accepted:
            if in_attack:
                h.attack_unserved += 1
                unserved[p.outcome] += 1
            continue
        h.accepted += 1
        if committed_ms is None and _final_status(net, tx_hash) != st.COMMITTED:
            h.lost += 1
            continue
        h.committed += 1
        if committed_ms is not None:
            (during if in_attack else before if p.sent_ms < t0 else []).append(float(committed_ms - p.sent_ms))
    h.unserved_reasons = dict(unserved)
    h.latency_before_ms = latency_summary(before)
    h.latency_during_ms = latency_summary(during)
    r.honest = h
    times = sorted(ms for ms in watcher.block_ms.values() if t0 <= ms <= t1)
    r.blocks_during_attack = len(times)
    edges = [t0, *times, t1]
    r.max_commit_gap_s = max(b - a for a, b in itertools.pairwise(edges)) / 1000
    rss_after = probes.rss()
    r.rss_mb = {n: {"before": round(rss_before.get(n, 0.0), 1), "peak": round(max(probes.peak_rss.get(n, 0.0),
                                                                                     rss_after[n]), 1),
                    "after": round(rss_after[n], 1)} for n in rss_after}
    for name, samples in probes.healthz.items():
        window = [v for ms, v in samples if t0 <= ms <= t1]
        answered = [v for v in window if v is not None]
        r.healthz_max_ms[name] = round(max(answered)) if answered and len(answered) == len(window) else None
    r.nodes_exited = [n for n, proc in net.procs.items() if proc.poll() is not None]
    bound = float(r.figures.get("healthz_bound_ms") or 0)
    for name in r.figures.get("attacked", []) if bound else []:
        slowest = r.healthz_max_ms.get(name)
        r.checks.append(Check(f"{name}_healthz_responsive", slowest is not None and slowest <= bound,
                              f"{name}'s slowest /healthz during the attack: "
                              f"{'no answer' if slowest is None else f'{slowest:.0f} ms'} (bound {bound:.0f} ms)"))
