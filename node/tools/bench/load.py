"""``bakong bench load``: a real testnet under an open-loop transfer load, measured submit -> COMMITTED.

Steps: write a fresh testnet (N validators + M observers, K funded customer accounts ``c{i}@<bank>``
sharing one key), start every node as its own process, pre-sign and encode the whole workload
(``workload``), then submit it from one asyncio client (``client``: aiohttp, msgpack batches,
round-robin over every node), open-loop at ``--rate`` or as fast as accepted with ``--rate 0``, while a
WebSocket on the first validator (``chain_watch``) reports each committed block and ``sampler`` reads
CPU and memory. After the duration, a drain period lets accepted transactions finish; then ``report``
writes the table and the JSON.

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
- ``--format iroha`` sends the transfer pool as Iroha 1 protobuf transactions (``iroha_workload``), half of
  them legacy-signed (issue 18's performance target: within 70% of native).
- ``--workload khqr`` sends merchant KHQR payments (``khqr_workload``) instead of plain transfers, with
  the same accounts, amounts and pacing. ``--lookup-rate N`` adds, during the submission, a merchant
  bank's ``check_transaction_by_md5`` load on the observer (the last node without one) from a process
  of its own (``lookups``); its figures are the JSON's ``md5_lookups``. The nodes' per-token Open API
  rate limit is raised for that run so it does not cap the measurement.
A benchmark, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from node.api.open_api_tokens import create_token
from node.keyfile import read_key
from node.tools.bench.chain_watch import BlockWatcher, agreed_head, rejection_reasons
from node.tools.bench.client import LoadClient
from node.tools.bench.iroha_workload import build_iroha_workload
from node.tools.bench.khqr_workload import build_khqr_workload
from node.tools.bench.lookups import LookupProcess
from node.tools.bench.options import LoadOptions
from node.tools.bench.report import print_table, summarize
from node.tools.bench.sampler import ResourceSampler, dir_bytes
from node.tools.bench.tracking import Tracking
from node.tools.bench.workload import Workload, bench_accounts, build_workload
from node.tools.testnet import TestnetNode, init_testnet, load_pids
from node.tools.testnet_control import stop, up

__all__ = ["LoadOptions", "run_load_bench"]

POOL_RATE_FOR_MAX = 4000  # --rate 0 pre-signs duration x this many transfers (the target is 3,000 TPS)
WORKLOADS = ("transfer", "khqr")
UNLIMITED_OPEN_API = "\n[open_api]\nrate_per_s = 1000000\nburst = 1000000\n"
PROGRESS_S = 0.25  # how often the look-up process hears how far the submission got


async def _feed_progress(lookups: LookupProcess, client: LoadClient, done: asyncio.Event) -> None:
    while not done.is_set():
        await lookups.report(client.next_tx)
        try:
            await asyncio.wait_for(done.wait(), timeout=PROGRESS_S)
        except TimeoutError:
            pass


def _batch_size(opts: LoadOptions) -> int:
    if opts.batch:
        return opts.batch
    if not opts.rate:
        return 200
    return max(10, min(200, round(opts.rate * 0.05)))  # about 20 posts per second up to 4,000 TPS


async def _progress(track: Tracking, start: float, sampler: ResourceSampler, done: asyncio.Event) -> None:
    """One status line a second (rewritten in place on a terminal, every 5 s in a log), and the RSS sample
    the sampler needs once a second anyway."""
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


async def _drain(track: Tracking, seconds: float) -> None:
    """Let accepted transactions reach a block, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and track.pending > 0:
        await asyncio.sleep(0.2)


async def _stop_watching(watcher: asyncio.Future[None]) -> None:
    watcher.cancel()
    try:
        await watcher
    except (asyncio.CancelledError, aiohttp.ClientError):
        pass
    if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
        print(f"  note: block stream ended early: {watcher.exception()!r}")


async def _measure(opts: LoadOptions, directory: Path, nodes: list[TestnetNode], work: Workload,
                   lookup_target: tuple[TestnetNode, str] | None = None) -> dict[str, Any]:
    batch = _batch_size(opts)
    track = Tracking(len(work))
    blocks = BlockWatcher(work, track)
    lookups: LookupProcess | None = None
    pids = load_pids(directory)
    if lookup_target is not None:
        target, token = lookup_target
        lookups = await LookupProcess.start(target.api_url, token, str(directory / "md5s.txt"), opts.lookup_rate,
                                            opts.lookup_connections, opts.seed)
        pids["lookups"] = lookups.pid
    try:
        return await _measure_with(opts, directory, nodes, work, batch, track, blocks,
                                   ResourceSampler(pids), lookups)
    finally:
        if lookups is not None:
            lookups.kill()


async def _measure_with(opts: LoadOptions, directory: Path, nodes: list[TestnetNode], work: Workload, batch: int,
                        track: Tracking, blocks: BlockWatcher, sampler: ResourceSampler,
                        lookups: LookupProcess | None) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=60)
    disk_before = {n.name: dir_bytes(directory / "data" / n.name) for n in nodes}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = LoadClient(session, nodes, work, track, batch)
        watched = next(n for n in nodes if n.role == "validator")
        ready = asyncio.Event()
        watcher = asyncio.ensure_future(blocks.watch(session, watched.api_url, ready))
        await asyncio.wait_for(ready.wait(), timeout=10)
        start = time.time()
        sampler.begin()
        done = asyncio.Event()
        progress = asyncio.ensure_future(_progress(track, start, sampler, done))
        sending = asyncio.Event()
        feeder = asyncio.ensure_future(_feed_progress(lookups, client, sending)) if lookups else None
        if opts.rate:
            await client.run_open_loop(opts.rate, opts.duration)
        else:
            await client.run_max(opts.duration, opts.concurrency, opts.max_pending)
        sent_end = time.time()
        looked_up: dict[str, Any] | None = None
        if lookups is not None and feeder is not None:
            sending.set()
            await feeder
            sampler.freeze("lookups")  # it exits when stopped
            looked_up = await lookups.finish()
        unsent = client.give_up_retries()
        await _drain(track, opts.drain)
        sampler.end()
        done.set()
        await progress
        head = await agreed_head(session, nodes, blocks.chain)
        await _stop_watching(watcher)
        if unsent:
            track.refusals["NOT_RECEIVED/mempool_full"] += unsent
        reasons = await rejection_reasons(session, watched.api_url, [work.hashes[i] for i in track.rejected_in_block])
    disk = {n.name: (disk_before[n.name], dir_bytes(directory / "data" / n.name)) for n in nodes}
    result = summarize(opts, work, track, sampler, (start, sent_end), nodes, head, reasons, disk, batch, unsent)
    if looked_up is not None:
        result["md5_lookups"] = {**looked_up, "node_url": lookups.url if lookups else None}
    return result


def _lookup_target(opts: LoadOptions, directory: Path, nodes: list[TestnetNode]) -> tuple[TestnetNode, str] | None:
    """The node a merchant bank asks (the observer, else the last node) and an Open API token for it; the
    md5s of the pool are written to ``md5s.txt`` for the look-up process."""
    if not opts.lookup_rate:
        return None
    target = next((n for n in nodes if n.role == "observer"), nodes[-1])
    token, _record = create_token(directory / "data" / target.name, "bench-lookups", 1)
    return target, token


def _give_own_core(pid: int, others: list[int]) -> None:
    """``--lookup-own-core``: each bank runs its node on its own machine; on this shared bench host the
    looked-up node gets the last core to itself and every other process (the other nodes, this bench,
    the look-up client it starts later) the rest. Every thread of a process is pinned (a node's LevelDB
    and worker threads exist already), and threads started later inherit their creator's set."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise ValueError("--lookup-own-core needs at least 2 CPU cores")
    own, rest = {cores[-1]}, set(cores[:-1])
    for target, allowed in [(pid, own), *((other, rest) for other in others), (os.getpid(), rest)]:
        for task in Path(f"/proc/{target}/task").iterdir():
            os.sched_setaffinity(int(task.name), allowed)
    print(f"  pinned: the looked-up node to core {cores[-1]}, everything else to {sorted(rest)}", flush=True)


def run_load_bench(opts: LoadOptions) -> int:
    if opts.accounts < 2:
        raise ValueError("--accounts must be at least 2")
    if opts.workload not in WORKLOADS:
        raise ValueError(f"--workload {opts.workload!r}: one of {', '.join(WORKLOADS)}")
    if opts.tx_format not in ("native", "iroha") or (opts.tx_format == "iroha" and opts.workload != "transfer"):
        raise ValueError("--format iroha sends transfers: use it with --workload transfer")
    if opts.lookup_rate and opts.workload != "khqr":
        raise ValueError("--lookup-rate asks for KHQR md5s: use it with --workload khqr")
    temp = opts.directory is None
    directory = Path(opts.directory or tempfile.mkdtemp(prefix="bakong-bench-load-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        print(f"writing a testnet in {directory}: {opts.validators} validators + {opts.observers} observers, "
              f"{opts.accounts:,} funded accounts", flush=True)
        init_testnet(directory, validators=opts.validators, observers=opts.observers, base_port=opts.api_port,
                     p2p_base_port=opts.p2p_port, extra_accounts=opts.accounts)
        if opts.lookup_rate:  # the Open API's per-token limit (20/s by default) must not cap the measurement
            for config in sorted((directory / "nodes").glob("*.toml")):
                with config.open("a") as f:
                    f.write(UNLIMITED_OPEN_API)
        nodes, procs = up(directory, validators=opts.validators, observers=opts.observers, api_port=opts.api_port,
                          p2p_port=opts.p2p_port)
        accounts = bench_accounts(directory)
        n = opts.pool or math.ceil(opts.duration * (opts.rate or POOL_RATE_FOR_MAX))
        t0 = time.perf_counter()
        build = build_khqr_workload if opts.workload == "khqr" else build_workload
        if opts.tx_format == "iroha":
            build = build_iroha_workload
        work = build(n, accounts, read_key(directory / "keys" / "bench.key"), opts.invalid_share, opts.seed,
                     int(time.time() * 1000))
        what = "KHQR payments" if opts.workload == "khqr" else "transfers"
        print(f"pre-signed {n:,} {what} in {time.perf_counter() - t0:.1f} s; "
              f"submitting for {opts.duration:g} s ...", flush=True)
        lookup_target = _lookup_target(opts, directory, nodes)
        if lookup_target is not None and work.md5s is not None:
            (directory / "md5s.txt").write_text("\n".join(work.md5s) + "\n")
        if lookup_target is not None and opts.lookup_own_core:
            _give_own_core(procs[lookup_target[0].name].pid, [p.pid for name, p in procs.items()
                                                             if name != lookup_target[0].name])
        result = asyncio.run(_measure(opts, directory, nodes, work, lookup_target))
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
