"""``bakong bench load``: a real testnet under an open-loop transfer load, measured submit -> COMMITTED.

Steps: write a fresh testnet (N validators + M observers, K funded customer accounts ``c{i}@<bank>``
sharing one key), start every node as its own process, pre-sign and encode the whole workload, then
submit it from one asyncio client (aiohttp, msgpack batches, round-robin over every node), open-loop
at ``--rate`` or as fast as accepted with ``--rate 0``, while a WebSocket on the first validator (``/v1/blocks/ws``) reports each committed block. After the
duration, a drain period lets accepted transactions finish; then the table and the JSON are written.

Rules of measurement (also in the JSON, under ``method``):
- latency = the block's ``committed_ms`` on the watched validator - the wall-clock time the batch
  holding the transaction was first posted (same host, same clock). A refused-then-retried
  transaction keeps its first submit time.
- a transaction the mempool refuses (``mempool_full``, or HTTP 503) is retried on the next node after
  the Retry-After second; one still unsent when the duration ends is counted as ``refused_unsent``.
- ``committed_tps`` = our valid transfers committed / (first submit .. last such commit);
  ``committed_in_duration_tps`` counts only commits inside the submission window.
- overdrafts are rejected in blocks (reason from the tx status endpoint); bad signatures are refused
  at submission (STATELESS_VALIDATION_FAILED) and counted by that code.
- ``--rate 0`` sends as fast as the nodes accept, but keeps at most ``max_pending`` accepted
  transactions waiting for a block (default 20,000: four full blocks of the default 5,000), so it
  measures the sustained commit rate rather than how fast mempools fill; ``--max-pending 0`` removes
  the bound (a flood).
- CPU% is per node process over the measured window (100% = one core); RSS peak is sampled each second.
  The machine's total busy CPU is measured too, so a run skewed by other processes says so.
A benchmark, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import psutil

from node.ledger import commands as c
from node.ledger.genesis import bulk_accounts, parse_genesis
from node.keyfile import read_key
from node.tools.testnet import CHAIN_ID, CUSTOMER_BALANCES, TestnetNode, init_testnet, load_pids
from node.tools.testnet_control import stop, up
from node.ledger.transactions import Transaction, TxPayload, build_transaction

VALID, OVERDRAFT, BAD_SIGNATURE = 0, 1, 2
ASSETS = ("khr#nbc", "usd#nbc")
MAX_VALID_MINOR = {"khr#nbc": 10_000, "usd#nbc": 100}  # at most 100.00 KHR / 1.00 USD per valid transfer
OVERDRAFT_AMOUNT = "900000000000.00"  # far above any customer balance
RETRY_AFTER_S = 1.0
MAX_IN_FLIGHT = 256  # open-loop posts outstanding at once; reaching it means the nodes (or we) fell behind
SPENT_SEARCH = 1000  # random senders tried before concluding an asset's balances are (nearly) all spent
POOL_RATE_FOR_MAX = 4000  # --rate 0 pre-signs duration x this many transfers (the target is 3,000 TPS)


@dataclass(frozen=True)
class LoadOptions:
    duration: float = 60.0
    rate: float = 0.0
    accounts: int = 1000
    validators: int = 4
    observers: int = 1
    invalid_share: float = 0.02
    json_path: str | None = None
    directory: str | None = None
    keep: bool = False
    api_port: int = 18600
    p2p_port: int = 17600
    batch: int = 0
    drain: float = 10.0
    concurrency: int = 2
    pool: int = 0
    seed: int = 1
    max_pending: int = 20_000


@dataclass
class Workload:
    """The pre-signed transactions, in submission order."""

    encoded: list[bytes]
    hashes: list[str]
    """Hex tx hashes, as the block stream reports them."""
    kinds: list[int]

    def __len__(self) -> int:
        return len(self.encoded)


@dataclass
class Tracking:
    """Per-transaction and aggregate state while the run goes on."""

    size: int
    submit_s: list[float] = field(default_factory=list)
    commit_ms: list[int] = field(default_factory=list)
    final: list[int] = field(default_factory=list)
    """0 not yet accepted, -1 accepted (in a mempool), 1 committed, 2 rejected in a block, 3 refused."""
    first_sent: int = 0
    accepted: int = 0
    committed: int = 0
    """Valid transfers committed (invalid ones that commit anyway are ``committed_invalid``)."""
    committed_invalid: int = 0
    rejected_in_block: list[int] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)  # STATELESS_VALIDATION_FAILED/<code>
    mempool_full: int = 0
    http_errors: Counter[str] = field(default_factory=Counter)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    blocks_missed: int = 0
    last_height: int = 0
    in_flight: int = 0
    in_flight_max: int = 0
    schedule_lag_max_s: float = 0.0

    def __post_init__(self) -> None:
        self.submit_s = [0.0] * self.size
        self.commit_ms = [0] * self.size
        self.final = [0] * self.size

    @property
    def pending(self) -> int:
        """Accepted by a node, not yet in a block."""
        return self.accepted - self.committed - self.committed_invalid - len(self.rejected_in_block)


# ---- workload ----

def _amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def bench_accounts(directory: Path) -> list[str]:
    """The benchmark accounts of a testnet's genesis (those holding the shared bench key): its bulk
    accounts, generated from the genesis's ``bulk_accounts`` spec, and any ordinary account with that key."""
    genesis = parse_genesis(json.loads((directory / "genesis.json").read_text()))
    shared = read_key(directory / "keys" / "bench.key").public_key.hex()
    found = [a["id"] for a in genesis.document["accounts"] if a.get("public_key") == shared]
    bulk = bulk_accounts(genesis)
    if bulk is not None and bulk.public_key.hex() == shared:
        found.extend(bulk.account_id(i) for i in range(bulk.count))
    return found


def build_workload(n: int, accounts: list[str], key: Any, invalid_share: float, seed: int,
                   now_ms: int) -> Workload:
    """``n`` random KHR/USD transfers between ``accounts``; a share of them overdrafts or badly signed.

    Valid amounts are small and each sender's debits are budgeted against its opening balance (credits
    are ignored, since commit order is not ours), so a valid transfer never overdraws. Each tx gets its
    own ``created_ms`` (counting back from now) so that every payload, hence every hash, is distinct."""
    rng = random.Random(seed)
    budget = {asset: [int(CUSTOMER_BALANCES[asset].replace(".", ""))] * len(accounts) for asset in ASSETS}
    encoded, hashes, kinds = [], [], []
    for i in range(n):
        draw = rng.random()
        kind = VALID if draw >= invalid_share else OVERDRAFT if draw < invalid_share / 2 else BAD_SIGNATURE
        a, b = rng.sample(range(len(accounts)), 2)
        asset = ASSETS[1] if rng.random() < 0.25 else ASSETS[0]
        if kind == OVERDRAFT:
            amount = OVERDRAFT_AMOUNT
        else:
            minor = rng.randint(1, MAX_VALID_MINOR[asset])
            tries = 0
            while budget[asset][a] < minor:  # this sender is spent in this asset: another sender
                tries += 1
                if tries == SPENT_SEARCH:
                    # (Nearly) every sender has spent this asset: a pool of millions over few accounts
                    # empties the USD balances (~2,000 transfers each). Pay in KHR; when that is spent too,
                    # say so instead of searching forever.
                    if asset == ASSETS[0]:
                        raise ValueError(f"{len(accounts):,} accounts' balances cannot fund {n:,} valid transfers; "
                                         "use a smaller --pool or more --accounts")
                    asset, minor, tries = ASSETS[0], rng.randint(1, MAX_VALID_MINOR[ASSETS[0]]), 0
                a = rng.randrange(len(accounts))
                if a == b:
                    b = (b + 1) % len(accounts)
            budget[asset][a] -= minor
            amount = _amount(minor)
        payload = TxPayload(CHAIN_ID, accounts[a], now_ms - i, 1,
                            (c.TransferAsset(accounts[a], accounts[b], asset, "", amount),))
        tx = build_transaction(payload, key)
        if kind == BAD_SIGNATURE:
            tx = Transaction(tx.payload, tx.payload_bytes, ((tx.signatures[0][0], bytes(64)),), tx.hash)
        encoded.append(tx.encode())
        hashes.append(tx.hash.hex())
        kinds.append(kind)
    return Workload(encoded, hashes, kinds)


# ---- submission ----

class LoadClient:
    """Posts batches to the nodes and follows the watched validator's block stream."""

    def __init__(self, nodes: list[TestnetNode], work: Workload, track: Tracking, batch: int) -> None:
        self.nodes = nodes
        self.work = work
        self.track = track
        self.batch = batch
        self.index = {h: i for i, h in enumerate(work.hashes)}
        self.chain: dict[int, tuple[str, str]] = {}  # height -> (hash, state root) on the watched validator
        self.retry: deque[tuple[float, int]] = deque()  # (due time, tx index)
        self.next_tx = 0
        self.next_node = 0
        self.session: aiohttp.ClientSession | None = None

    def _node_url(self) -> str:
        url = self.nodes[self.next_node % len(self.nodes)].api_url
        self.next_node += 1
        return url

    def take_batch(self, now: float) -> list[int]:
        """Due retries first, then fresh transactions, up to one batch."""
        out: list[int] = []
        while self.retry and self.retry[0][0] <= now and len(out) < self.batch:
            out.append(self.retry.popleft()[1])
        fresh = min(self.batch - len(out), len(self.work) - self.next_tx)
        out.extend(range(self.next_tx, self.next_tx + fresh))
        self.next_tx += fresh
        return out

    async def post(self, indices: list[int]) -> None:
        t = self.track
        assert self.session is not None
        now = time.time()
        for i in indices:
            if t.submit_s[i] == 0.0:
                t.submit_s[i] = now
                t.first_sent += 1
        body = msgpack.packb([self.work.encoded[i] for i in indices])
        t.in_flight += 1
        t.in_flight_max = max(t.in_flight_max, t.in_flight)
        try:
            async with self.session.post(self._node_url() + "/v1/transactions", data=body,
                                         headers={"Content-Type": "application/msgpack"}) as resp:
                payload = await resp.json(content_type=None)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            t.http_errors[exc.__class__.__name__] += 1
            self._requeue(indices)
            return
        finally:
            t.in_flight -= 1
        if status == 503:
            t.mempool_full += len(indices)
            self._requeue(indices)
            return
        if status != 202 or not isinstance(payload, dict) or len(payload.get("results", ())) != len(indices):
            t.http_errors[f"http_{status}"] += 1
            self._requeue(indices)
            return
        for i, result in zip(indices, payload["results"]):
            state = result.get("status")
            if state == "STATELESS_VALIDATION_SUCCESS":
                if t.final[i] == 0:
                    t.accepted += 1
                    t.final[i] = -1  # accepted, waiting for a block (unless the block came first)
            elif result.get("error_code") == "mempool_full":
                t.mempool_full += 1
                self._requeue([i])
            elif state == "STATELESS_VALIDATION_FAILED":
                if t.final[i] in (0, -1):
                    t.final[i] = 3
                    t.refusals[f"STATELESS_VALIDATION_FAILED/{result.get('error_code')}"] += 1
            elif state in ("COMMITTED", "REJECTED"):  # already final (replay answer after a retry)
                pass
            else:
                t.http_errors[f"status_{state}"] += 1

    def _requeue(self, indices: list[int]) -> None:
        due = time.monotonic() + RETRY_AFTER_S
        for i in indices:
            if self.track.final[i] == 0:
                self.retry.append((due, i))

    def on_block(self, block: dict[str, Any]) -> None:
        t = self.track
        height = int(block["height"])
        if t.last_height and height > t.last_height + 1:
            t.blocks_missed += height - t.last_height - 1
        t.last_height = max(t.last_height, height)
        rejected = set(block.get("rejected", ()))
        ours = 0
        for h in block["txs"]:
            i = self.index.get(h)
            if i is None or t.final[i] > 0:
                continue
            if t.final[i] == 0:  # committed before its POST answered: it was accepted all the same
                t.accepted += 1
            ours += 1
            if h in rejected:
                t.final[i] = 2
                t.rejected_in_block.append(i)
            else:
                t.final[i] = 1
                t.commit_ms[i] = int(block["committed_ms"])
                if self.work.kinds[i] == VALID:
                    t.committed += 1
                else:
                    t.committed_invalid += 1
        self.chain[height] = (block["hash"], block["state_root"])
        t.blocks.append({"height": height, "created_ms": block["created_ms"], "committed_ms": block["committed_ms"],
                         "txs": len(block["txs"]), "ours": ours, "rejected": len(rejected),
                         "arrived_s": time.time()})

    async def watch_blocks(self, url: str, ready: asyncio.Event) -> None:
        assert self.session is not None
        async with self.session.ws_connect(url + "/v1/blocks/ws", heartbeat=20, max_msg_size=0) as ws:
            ready.set()
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.on_block(json.loads(msg.data))
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break

    async def run_open_loop(self, rate: float, duration: float) -> None:
        """Batch k leaves at start + k * batch / rate, whether or not earlier ones were answered."""
        t = self.track
        start = time.monotonic()
        interval = self.batch / rate
        tasks: set[asyncio.Task[None]] = set()
        k = 0
        while True:
            due = start + k * interval
            if due - start >= duration:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                t.schedule_lag_max_s = max(t.schedule_lag_max_s, -delay)
            indices = self.take_batch(time.monotonic())
            if not indices:
                if not self.retry:
                    break  # workload exhausted
                k += 1
                continue
            while t.in_flight >= MAX_IN_FLIGHT:
                await asyncio.sleep(0.005)
            task = asyncio.ensure_future(self.post(indices))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        if tasks:
            await asyncio.gather(*tasks)

    async def run_max(self, duration: float, concurrency: int, max_pending: int) -> None:
        """As fast as accepted: ``concurrency`` posts outstanding per node, each sent when one returns,
        while fewer than ``max_pending`` accepted transactions wait for a block (0: no such bound)."""
        deadline = time.monotonic() + duration
        t = self.track

        async def worker() -> None:
            while time.monotonic() < deadline:
                if max_pending and t.pending + t.in_flight * self.batch >= max_pending:
                    await asyncio.sleep(0.01)
                    continue
                indices = self.take_batch(time.monotonic())
                if not indices:
                    if not self.retry:
                        return
                    await asyncio.sleep(0.05)
                    continue
                before = self.track.mempool_full
                await self.post(indices)
                if self.track.mempool_full > before:
                    await asyncio.sleep(0.05)  # back off a little when the mempool pushes back

        await asyncio.gather(*(worker() for _ in range(concurrency * len(self.nodes))))


# ---- resources ----

class ResourceSampler:
    """CPU time and peak RSS of the node processes (and of this client), sampled once a second."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.procs["client"] = psutil.Process(os.getpid())
        self.cpu0: dict[str, float] = {}
        self.cpu1: dict[str, float] = {}
        self.peak_rss = {name: 0 for name in self.procs}
        # RSS counts the LevelDB tables a node has mmap'd (file pages of the OS cache, shared and
        # reclaimable) as well as its own heap; with a million accounts that is ~150 MB of the figure.
        # Reported apart as "anon" (RSS minus file-backed pages) so the two can be told apart.
        self.peak_anon = {name: 0 for name in self.procs}
        self.t0 = self.t1 = 0.0
        self.busy0 = self.busy1 = 0.0

    def _cpu(self, name: str) -> float:
        try:
            times = self.procs[name].cpu_times()
            return float(times.user + times.system)
        except psutil.Error:
            return self.cpu1.get(name, self.cpu0.get(name, 0.0))

    def sample_rss(self) -> None:
        for name, proc in self.procs.items():
            try:
                info = proc.memory_info()
                self.peak_rss[name] = max(self.peak_rss[name], info.rss)
                self.peak_anon[name] = max(self.peak_anon[name], info.rss - getattr(info, "shared", 0))
            except psutil.Error:
                pass

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()  # steal and guest time are not ours to count; irq time is the kernel's work for us
        return float(sum(getattr(times, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq")))

    def begin(self) -> None:
        self.t0 = time.monotonic()
        self.busy0 = self._machine_busy()
        self.cpu0 = {name: self._cpu(name) for name in self.procs}
        self.sample_rss()

    def end(self) -> None:
        self.t1 = time.monotonic()
        self.busy1 = self._machine_busy()
        self.cpu1 = {name: self._cpu(name) for name in self.procs}
        self.sample_rss()

    def cpu_percent(self, name: str) -> float:
        wall = max(self.t1 - self.t0, 1e-9)
        return 100.0 * (self.cpu1.get(name, 0.0) - self.cpu0.get(name, 0.0)) / wall

    def machine_busy_percent(self) -> float:
        """All CPUs' busy time over the window, in the same unit (100 = one core busy)."""
        return 100.0 * (self.busy1 - self.busy0) / max(self.t1 - self.t0, 1e-9)

    def others_percent(self) -> float:
        """What processes other than the nodes and this client used: another load skews the figures."""
        return max(0.0, self.machine_busy_percent() - sum(self.cpu_percent(name) for name in self.procs))


# ---- results ----

def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[rank]


def per_minute_tps(commit_times: list[float], start: float, window_s: float) -> list[float]:
    """Committed transfers per second in each whole minute of the window from ``start``: a long run's
    trend (a database that grows makes compaction dearer), which one average hides."""
    minutes = int(window_s // 60)
    counts = [0] * minutes
    for t in commit_times:
        minute = int((t - start) // 60)
        if 0 <= minute < minutes:
            counts[minute] += 1
    return [round(n / 60, 1) for n in counts]


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "logical_cpus": psutil.cpu_count(), "physical_cpus": psutil.cpu_count(logical=False),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "os": platform.platform(),
            "python": platform.python_version(), "aiohttp": aiohttp.__version__}


async def _json_get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        return await resp.json(content_type=None)


async def rejection_reasons(session: aiohttp.ClientSession, api_url: str, hashes: list[str]) -> Counter[str]:
    """REJECTED/<error_code> for transactions rejected in blocks, from the tx status endpoint."""
    reasons: Counter[str] = Counter()
    gate = asyncio.Semaphore(16)

    async def one(h: str) -> None:
        async with gate:
            try:
                doc = await _json_get(session, f"{api_url}/v1/transactions/{h}")
                reasons[f"{doc.get('status')}/{doc.get('error_code')}"] += 1
            except (TimeoutError, aiohttp.ClientError, ValueError):
                reasons["REJECTED/unknown"] += 1

    await asyncio.gather(*(one(h) for h in hashes))
    return reasons


async def agreed_head(session: aiohttp.ClientSession, nodes: list[TestnetNode], chain: dict[int, tuple[str, str]],
                      timeout: float = 10.0) -> dict[str, Any]:
    """Every node's head, checked against the watched validator's chain (``chain``: height -> (hash,
    state root) from its block stream). Retried until all heads are equal or ``timeout`` passes; nodes
    still committing a backlog may stop at different heights, and then each head must match the block
    the watched validator committed at that height (one chain, not yet one head)."""
    deadline = time.monotonic() + timeout
    while True:
        heads: dict[str, tuple[Any, Any, Any]] = {}
        for n in nodes:
            try:
                s = await _json_get(session, n.api_url + "/v1/status")
                heads[n.name] = (s["height"], s["block_hash"], s["state_root"])
            except (TimeoutError, aiohttp.ClientError, ValueError, KeyError):
                heads[n.name] = (None, None, None)
        same = len(set(heads.values())) == 1
        if same or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    stream_deadline = time.monotonic() + 3.0  # a node may be ahead of what the stream has delivered yet
    while any(h[0] is not None and h[0] > max(chain, default=0) for h in heads.values()) \
            and time.monotonic() < stream_deadline:
        await asyncio.sleep(0.1)
    checked = {name: h[0] in chain and chain[h[0]] == (h[1], h[2]) for name, h in heads.items()}
    one_chain = same and None not in next(iter(heads.values())) or all(checked.values())
    top = max(heads.values(), key=lambda h: h[0] or -1)
    return {"agree": one_chain, "same_head": same, "height": top[0], "hash": top[1], "state_root": top[2],
            "per_node": {name: {"height": h[0], "hash": h[1], "state_root": h[2], "matches_watched": checked[name]}
                         for name, h in heads.items()}}


def summarize(opts: LoadOptions, work: Workload, track: Tracking, sampler: ResourceSampler, window: tuple[float, float],
              nodes: list[TestnetNode], head: dict[str, Any], reasons: Counter[str], disk: dict[str, tuple[int, int]],
              batch: int, unsent: int) -> dict[str, Any]:
    start, sent_end = window
    # An open-loop schedule spans the whole duration (its last batch leaves one interval before the end);
    # as-fast-as-accepted sending stops at the duration, or earlier if the pre-signed pool ran out.
    sending = opts.duration if opts.rate else sent_end - start
    latencies = sorted(track.commit_ms[i] / 1000 - track.submit_s[i]
                       for i in range(len(work)) if track.final[i] == 1 and work.kinds[i] == VALID)
    commit_times = [track.commit_ms[i] / 1000 for i in range(len(work)) if track.final[i] == 1 and work.kinds[i] == VALID]
    last_commit = max(commit_times, default=sent_end)
    measured = max(last_commit - start, sending)
    in_duration = sum(1 for t in commit_times if t <= start + opts.duration)
    blocks = [b for b in track.blocks if b["committed_ms"] / 1000 >= start]
    loaded = [b for b in blocks if b["txs"]]
    intervals = [(b2["created_ms"] - b1["created_ms"]) / 1000 for b1, b2 in itertools.pairwise(blocks)
                 if b2["height"] == b1["height"] + 1]
    rejected_by_reason = dict(sorted((reasons + track.refusals).items()))
    committed = track.committed
    per_node: list[dict[str, Any]] = []
    for n in nodes:
        before, after = disk[n.name]
        per_node.append({"name": n.name, "role": n.role, "cpu_percent": round(sampler.cpu_percent(n.name), 1),
                         "peak_rss_mb": round(sampler.peak_rss[n.name] / 2**20, 1),
                         "peak_rss_anon_mb": round(sampler.peak_anon[n.name] / 2**20, 1),
                         "disk_bytes": after, "disk_growth_bytes": after - before})
    growth = statistics.mean(p["disk_growth_bytes"] for p in per_node) if per_node else 0
    pending = sum(1 for f in track.final if f == -1)
    return {
        "benchmark": "bakong bench load",
        "command": " ".join(["bakong", *sys.argv[1:]]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "options": {"duration_s": opts.duration, "rate": opts.rate, "accounts": opts.accounts,
                    "validators": opts.validators, "observers": opts.observers, "invalid_share": opts.invalid_share,
                    "batch": batch, "drain_s": opts.drain, "concurrency": opts.concurrency if not opts.rate else None,
                    "max_pending": opts.max_pending if not opts.rate else None},
        "workload": {"presigned": len(work), "valid": work.kinds.count(VALID), "overdraft": work.kinds.count(OVERDRAFT),
                     "bad_signature": work.kinds.count(BAD_SIGNATURE)},
        "submitted": track.first_sent,
        "accepted": track.accepted,
        "offered_tps": round(track.first_sent / max(sending, 1e-9), 1),
        "committed": committed,
        "committed_tps": round(committed / max(measured, 1e-9), 1),
        "measured_window_s": round(measured, 3),
        "committed_in_duration_tps": round(in_duration / max(sending, 1e-9), 1),
        "committed_tps_per_minute": per_minute_tps(commit_times, start, measured),
        "latency_p50_s": round(_percentile(latencies, 0.50), 4),
        "latency_p95_s": round(_percentile(latencies, 0.95), 4),
        "latency_p99_s": round(_percentile(latencies, 0.99), 4),
        "latency_max_s": round(latencies[-1], 4) if latencies else math.nan,
        "latency_mean_s": round(statistics.fmean(latencies), 4) if latencies else math.nan,
        "rejected": sum(rejected_by_reason.values()),
        "rejected_by_reason": rejected_by_reason,
        "invalid_committed": track.committed_invalid,
        "mempool_full_refusals": track.mempool_full,
        "refused_unsent": unsent,
        "pending_after_drain": pending,
        "http_errors": dict(track.http_errors),
        "blocks": len(blocks),
        "blocks_with_txs": len(loaded),
        "blocks_missed_by_stream": track.blocks_missed,
        "block_size_mean": round(statistics.fmean(b["txs"] for b in loaded), 1) if loaded else 0.0,
        "block_size_max": max((b["txs"] for b in blocks), default=0),
        "block_interval_mean_s": round(statistics.fmean(intervals), 3) if intervals else math.nan,
        # From the proposer's block time to the commit on the watched validator: consensus + execution + commit.
        "block_commit_delay_mean_s": round(statistics.fmean((b["committed_ms"] - b["created_ms"]) / 1000 for b in loaded), 3)
        if loaded else math.nan,
        "nodes": per_node,
        "client": {"cpu_percent": round(sampler.cpu_percent("client"), 1),
                   "peak_rss_mb": round(sampler.peak_rss["client"] / 2**20, 1),
                   "in_flight_max": track.in_flight_max, "schedule_lag_max_s": round(track.schedule_lag_max_s, 3)},
        "disk_bytes_per_tx": round(growth / committed, 1) if committed else math.nan,
        "head": head,
        "machine": {**machine_info(), "cpu_busy_percent": round(sampler.machine_busy_percent(), 1),
                    "cpu_other_processes_percent": round(sampler.others_percent(), 1)},
        "method": {"latency": "committed_ms of the block on the first validator minus first POST time of the tx",
                   "mempool_full": f"retried after {RETRY_AFTER_S:.0f} s on the next node; unsent at the end = refused_unsent",
                   "committed_tps": "valid transfers committed / (first submit .. last commit, drain included)",
                   "cpu_percent": "CPU time of the process over the measured window / wall time (100 = one core)",
                   "disk_bytes_per_tx": "mean growth of a node's data dir during the run / committed transfers"},
    }


def print_table(r: dict[str, Any]) -> None:
    o = r["options"]
    rate = f"{o['rate']:,.0f} TPS offered" if o["rate"] else \
        f"as fast as accepted (at most {o['max_pending']:,} waiting for a block)" if o["max_pending"] else \
        "as fast as accepted (no bound on txs waiting for a block)"
    print(f"\nbakong bench load: {o['validators']} validators + {o['observers']} observers, {o['accounts']:,} accounts, "
          f"{o['duration_s']:g} s at {rate}, batches of {o['batch']}")
    rows = [
        ("offered TPS", f"{r['offered_tps']:,.1f}"),
        ("committed TPS (first submit .. last commit)", f"{r['committed_tps']:,.1f}"),
        ("committed TPS (inside the duration)", f"{r['committed_in_duration_tps']:,.1f}"),
        ("submitted / accepted / committed", f"{r['submitted']:,} / {r['accepted']:,} / {r['committed']:,}"),
        ("latency p50 / p95 / p99 / max (s)", " / ".join(f"{r[k]:.3f}" for k in
                                                         ("latency_p50_s", "latency_p95_s", "latency_p99_s", "latency_max_s"))),
        ("rejected", f"{r['rejected']:,}"),
        *((f"  {reason}", f"{n:,}") for reason, n in r["rejected_by_reason"].items()),
        ("mempool_full refusals (retried) / unsent", f"{r['mempool_full_refusals']:,} / {r['refused_unsent']:,}"),
        ("pending after drain", f"{r['pending_after_drain']:,}"),
        ("blocks (with txs) / mean size / max size",
         f"{r['blocks']} ({r['blocks_with_txs']}) / {r['block_size_mean']:,.1f} / {r['block_size_max']:,}"),
        ("block interval / proposal-to-commit, mean (s)",
         f"{r['block_interval_mean_s']:.3f} / {r['block_commit_delay_mean_s']:.3f}"),
        ("disk bytes per committed tx (per node)", f"{r['disk_bytes_per_tx']:,.0f}"),
        ("client CPU % / in-flight max", f"{r['client']['cpu_percent']:.0f} / {r['client']['in_flight_max']}"),
    ]
    if r["http_errors"]:
        rows.append(("http errors", json.dumps(r["http_errors"])))
    for label, value in rows:
        print(f"  {label:46} {value:>28}")
    per_minute = r["committed_tps_per_minute"]
    if len(per_minute) >= 2:
        print("  committed TPS, minute by minute:")
        for first in range(0, len(per_minute), 10):
            shown = per_minute[first:first + 10]
            print(f"    minutes {first + 1:>3}-{first + len(shown):<3} " + " ".join(f"{x:>6,.0f}" for x in shown))
    print(f"\n  {'node':8} {'role':9} {'CPU %':>7} {'peak RSS MB':>12} {'of it anon':>11} {'data MB':>8}")
    for n in r["nodes"]:
        print(f"  {n['name']:8} {n['role']:9} {n['cpu_percent']:>7.1f} {n['peak_rss_mb']:>12.1f} "
              f"{n['peak_rss_anon_mb']:>11.1f} {n['disk_bytes'] / 2**20:>8.1f}")
    h = r["head"]
    verdict = "all nodes agree" if h["same_head"] else \
        "all nodes on one chain, some still committing the backlog" if h["agree"] else "NODES DISAGREE"
    print(f"\n  head: {verdict}: height {h['height']}, hash {str(h['hash'])[:16]}..., state root {str(h['state_root'])[:16]}...")
    if not h["same_head"]:
        for name, v in h["per_node"].items():
            print(f"    {name:8} height {v['height']} hash {str(v['hash'])[:16]} root {str(v['state_root'])[:16]}"
                  f"{'  = the watched validator at that height' if v['matches_watched'] else '  NOT CHECKED OR DIFFERENT'}")
    m = r["machine"]
    print(f"  machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, {m['memory_gb']} GB, Python {m['python']}; "
          f"CPU busy {m['cpu_busy_percent']:.0f}% of {100 * m['logical_cpus']}%, other processes {m['cpu_other_processes_percent']:.0f}%")
    if m["cpu_other_processes_percent"] > 10:
        print("  warning: other processes used CPU during the run; the figures understate this network")


# ---- the run ----

def _batch_size(opts: LoadOptions) -> int:
    if opts.batch:
        return opts.batch
    if not opts.rate:
        return 200
    return max(10, min(200, round(opts.rate * 0.05)))  # about 20 posts per second up to 4,000 TPS


async def _progress(track: Tracking, start: float, sampler: ResourceSampler, done: asyncio.Event) -> None:
    tty = sys.stdout.isatty()
    last = (start, 0)
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), timeout=1.0)
        except TimeoutError:
            pass
        sampler.sample_rss()
        now = time.time()
        rate = (track.committed - last[1]) / max(now - last[0], 1e-9)
        last = (now, track.committed)
        line = (f"  t={now - start:5.1f}s  sent {track.first_sent:>8,}  accepted {track.accepted:>8,}  "
                f"committed {track.committed:>8,} ({rate:>6,.0f}/s)  refused(full) {track.mempool_full:>6,}  "
                f"waiting {track.pending:>7,}  height {track.last_height}")
        if tty:
            print("\r" + line, end="", flush=True)
        elif int(now - start) % 5 == 0:
            print(line, flush=True)
    if tty:
        print()


async def _measure(opts: LoadOptions, directory: Path, nodes: list[TestnetNode], work: Workload) -> dict[str, Any]:
    batch = _batch_size(opts)
    track = Tracking(len(work))
    client = LoadClient(nodes, work, track, batch)
    sampler = ResourceSampler(load_pids(directory))
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=60)
    disk_before = {n.name: _dir_bytes(directory / "data" / n.name) for n in nodes}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client.session = session
        watched = next(n for n in nodes if n.role == "validator")
        ready = asyncio.Event()
        watcher = asyncio.ensure_future(client.watch_blocks(watched.api_url, ready))
        await asyncio.wait_for(ready.wait(), timeout=10)
        start = time.time()
        sampler.begin()
        done = asyncio.Event()
        progress = asyncio.ensure_future(_progress(track, start, sampler, done))
        if opts.rate:
            await client.run_open_loop(opts.rate, opts.duration)
        else:
            await client.run_max(opts.duration, opts.concurrency, opts.max_pending)
        sent_end = time.time()
        unsent = len({i for _due, i in client.retry if track.final[i] == 0})
        for _due, i in client.retry:
            if track.final[i] == 0:
                track.final[i] = 3
        client.retry.clear()
        drain_deadline = time.monotonic() + opts.drain
        while time.monotonic() < drain_deadline and track.pending > 0:
            await asyncio.sleep(0.2)
        sampler.end()
        done.set()
        await progress
        head = await agreed_head(session, nodes, client.chain)
        watcher.cancel()
        try:
            await watcher
        except (asyncio.CancelledError, aiohttp.ClientError):
            pass
        if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
            print(f"  note: block stream ended early: {watcher.exception()!r}")
        if unsent:
            track.refusals["NOT_RECEIVED/mempool_full"] += unsent
        reasons = await rejection_reasons(session, watched.api_url, [work.hashes[i] for i in track.rejected_in_block])
    disk = {n.name: (disk_before[n.name], _dir_bytes(directory / "data" / n.name)) for n in nodes}
    return summarize(opts, work, track, sampler, (start, sent_end), nodes, head, reasons, disk, batch, unsent)


def run_load_bench(opts: LoadOptions) -> int:
    if opts.accounts < 2:
        raise ValueError("--accounts must be at least 2")
    temp = opts.directory is None
    directory = Path(opts.directory or tempfile.mkdtemp(prefix="bakong-bench-load-"))
    procs: dict[str, Any] = {}
    try:
        print(f"writing a testnet in {directory}: {opts.validators} validators + {opts.observers} observers, "
              f"{opts.accounts:,} funded accounts", flush=True)
        init_testnet(directory, validators=opts.validators, observers=opts.observers, base_port=opts.api_port,
                     p2p_base_port=opts.p2p_port, extra_accounts=opts.accounts)
        nodes, procs = up(directory, validators=opts.validators, observers=opts.observers, api_port=opts.api_port,
                          p2p_port=opts.p2p_port)
        accounts = bench_accounts(directory)
        n = opts.pool or math.ceil(opts.duration * (opts.rate or POOL_RATE_FOR_MAX))
        t0 = time.perf_counter()
        work = build_workload(n, accounts, read_key(directory / "keys" / "bench.key"), opts.invalid_share, opts.seed,
                              int(time.time() * 1000))
        print(f"pre-signed {n:,} transfers in {time.perf_counter() - t0:.1f} s; "
              f"submitting for {opts.duration:g} s ...", flush=True)
        result = asyncio.run(_measure(opts, directory, nodes, work))
        for entry in result["nodes"]:
            entry["exit_code"] = procs[entry["name"]].poll()  # None: still running, as it should be
        print_table(result)
        if opts.json_path:
            Path(opts.json_path).write_text(json.dumps(result, indent=2) + "\n")
            print(f"  results written to {opts.json_path}")
        crashed = [n["name"] for n in result["nodes"] if n["exit_code"] is not None]
        if crashed:
            print(f"  warning: node(s) exited during the run: {', '.join(crashed)} (see {directory / 'logs'})")
        return 0 if result["head"]["agree"] and not crashed else 3
    finally:
        stop(procs.values())
        if temp and not opts.keep:
            shutil.rmtree(directory, ignore_errors=True)
        elif procs:
            print(f"  testnet kept in {directory} (bakong testnet up --dir {directory} restarts it)")
