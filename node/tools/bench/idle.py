"""``bakong bench idle``: what an empty network costs (issue 5: idle CPU < 2% per node, blocks only as
often as configured).

Steps: write a fresh testnet, start every node as its own process, let start-up settle (genesis,
first connections), then measure for ``--duration`` seconds with no client traffic: each node's CPU
time (user + system, 100% = one core), its peak RSS, and the blocks each node committed. An idle
proposer cuts an empty heartbeat block every ``max_block_interval_ms``, so the expected number of
blocks is duration / interval; more would mean blocks are cut without cause.
A benchmark, not a test: it asserts nothing; it prints a table and, with ``--json``, writes the figures.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.api.client import ClientError, NodeClient
from node.config import load_config
from node.tools.bench.sampler import ResourceSampler, machine_info
from node.tools.testnet import TestnetNode, init_testnet, load_pids
from node.tools.testnet_control import stop, up


@dataclass
class IdleOptions:
    duration: float = 30.0
    validators: int = 4
    observers: int = 1
    settle: float = 5.0
    """Seconds between "all nodes healthy" and the start of the window (start-up work is not idling)."""
    json_path: str | None = None
    api_port: int = 28400
    p2p_port: int = 27400
    directory: str | None = None
    keep: bool = False


def _heights(nodes: list[TestnetNode]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for n in nodes:
        try:
            out[n.name] = int(NodeClient(n.api_url, timeout=5).status()["height"])
        except (ClientError, OSError, KeyError, ValueError):
            out[n.name] = None  # reported as unknown rather than guessed
    return out


def measure_idle(opts: IdleOptions, nodes: list[TestnetNode], directory: Path) -> dict[str, Any]:
    interval_ms = load_config(nodes[0].config).block.max_block_interval_ms
    time.sleep(opts.settle)
    sampler = ResourceSampler(load_pids(directory))
    before = _heights(nodes)
    sampler.begin()
    deadline = time.monotonic() + opts.duration
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        sampler.sample_rss()
    sampler.end()
    after = _heights(nodes)
    window = sampler.t1 - sampler.t0
    per_node: list[dict[str, Any]] = []
    for n in nodes:
        b, a = before[n.name], after[n.name]
        per_node.append({
            "name": n.name, "role": n.role,
            "cpu_percent": round(sampler.cpu_percent(n.name), 2),
            "peak_rss_mb": round(sampler.peak_rss[n.name] / 2**20, 1),
            "blocks": None if a is None or b is None else a - b,
        })
    return {
        "window_s": round(window, 2),
        "max_block_interval_ms": interval_ms,
        "expected_blocks": round(window * 1000 / interval_ms, 1),
        "nodes": per_node,
        "max_cpu_percent": max(p["cpu_percent"] for p in per_node),
        "others_cpu_percent": round(sampler.others_percent(), 1),
        "machine": machine_info(),
        "method": {
            "cpu_percent": "user + system CPU time of the node process over the window / window (100 = one core)",
            "blocks": "committed height at the end minus at the start, per node (/v1/status)",
            "expected_blocks": "window / max_block_interval_ms: one empty heartbeat block per interval",
        },
    }


def print_idle(r: dict[str, Any]) -> None:
    print(f"\nidle network, {r['window_s']:g} s window, max_block_interval_ms {r['max_block_interval_ms']} "
          f"(expected ~{r['expected_blocks']:g} blocks)")
    print(f"  {'node':8} {'role':9} {'CPU %':>7} {'peak RSS MB':>12} {'blocks':>7}")
    for p in r["nodes"]:
        blocks = "?" if p["blocks"] is None else str(p["blocks"])
        print(f"  {p['name']:8} {p['role']:9} {p['cpu_percent']:7.2f} {p['peak_rss_mb']:12.1f} {blocks:>7}")
    print(f"  highest node CPU {r['max_cpu_percent']:.2f}%; other processes on the machine "
          f"{r['others_cpu_percent']:.1f}% (100 = one core)")


def run_idle_bench(opts: IdleOptions) -> int:
    if opts.duration <= 0:
        raise ValueError("--duration must be positive")
    temp = opts.directory is None
    directory = Path(opts.directory or tempfile.mkdtemp(prefix="bakong-bench-idle-"))
    procs: dict[str, Any] = {}
    try:
        print(f"writing a testnet in {directory}: {opts.validators} validators + {opts.observers} observers",
              flush=True)
        init_testnet(directory, validators=opts.validators, observers=opts.observers, base_port=opts.api_port,
                     p2p_base_port=opts.p2p_port)
        nodes, procs = up(directory, validators=opts.validators, observers=opts.observers, api_port=opts.api_port,
                          p2p_port=opts.p2p_port)
        print(f"all nodes healthy; settling {opts.settle:g} s, then measuring {opts.duration:g} s with no traffic",
              flush=True)
        result = measure_idle(opts, nodes, directory)
        crashed = [name for name, p in procs.items() if p.poll() is not None]
        print_idle(result)
        if opts.json_path:
            Path(opts.json_path).write_text(json.dumps(result, indent=2) + "\n")
            print(f"  results written to {opts.json_path}")
        if crashed:
            print(f"  warning: node(s) exited during the run: {', '.join(crashed)} (see {directory / 'logs'})")
        return 3 if crashed else 0
    finally:
        stop(procs.values())
        if temp and not opts.keep:
            shutil.rmtree(directory, ignore_errors=True)
