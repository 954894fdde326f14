"""The load benchmark's figures: from what was tracked and sampled to the JSON and the printed table.

Pure arithmetic over the run's records (no I/O but printing), so every figure in docs/benchmarks.md can
be traced to one expression here. The rules of measurement are restated in the JSON under ``method``.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys
import time
from collections import Counter
from typing import Any

from node.tools.bench.client import RETRY_AFTER_S
from node.tools.bench.options import LoadOptions
from node.tools.bench.sampler import ResourceSampler, machine_info
from node.tools.bench.tracking import COMMITTED, IN_MEMPOOL, Tracking
from node.tools.bench.workload import BAD_SIGNATURE, OVERDRAFT, VALID, Workload
from node.tools.testnet import TestnetNode


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


def summarize(opts: LoadOptions, work: Workload, track: Tracking, sampler: ResourceSampler, window: tuple[float, float],
              nodes: list[TestnetNode], head: dict[str, Any], reasons: Counter[str], disk: dict[str, tuple[int, int]],
              batch: int, unsent: int) -> dict[str, Any]:
    start, sent_end = window
    # An open-loop schedule spans the whole duration (its last batch leaves one interval before the end);
    # as-fast-as-accepted sending stops at the duration, or earlier if the pre-signed pool ran out.
    sending = opts.duration if opts.rate else sent_end - start
    ours = [i for i in range(len(work)) if track.final[i] == COMMITTED and work.kinds[i] == VALID]
    latencies = sorted(track.commit_ms[i] / 1000 - track.submit_s[i] for i in ours)
    commit_times = [track.commit_ms[i] / 1000 for i in ours]
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
    pending = sum(1 for f in track.final if f == IN_MEMPOOL)
    return {
        "benchmark": "bakong bench load",
        "command": " ".join(["bakong", *sys.argv[1:]]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "options": {"workload": opts.workload, "format": opts.tx_format, "lookup_rate": opts.lookup_rate,
                    "duration_s": opts.duration,
                    "rate": opts.rate, "accounts": opts.accounts,
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
        "block_commit_delay_mean_s":
            round(statistics.fmean((b["committed_ms"] - b["created_ms"]) / 1000 for b in loaded), 3)
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
                   "mempool_full": f"retried after {RETRY_AFTER_S:.0f} s on the next node; "
                                   "unsent at the end = refused_unsent",
                   "committed_tps": "valid transfers committed / (first submit .. last commit, drain included)",
                   "cpu_percent": "CPU time of the process over the measured window / wall time (100 = one core)",
                   "disk_bytes_per_tx": "mean growth of a node's data dir during the run / committed transfers"},
    }


def print_lookups(k: dict[str, Any]) -> None:
    """The ``--lookup-rate`` figures: what the asked node answered while the network was under load."""
    print(f"  check_transaction_by_md5 on {k['node_url']}, {k['offered_rps']:,.0f}/s offered over "
          f"{k['connections']} connections for {k['window_s']:.1f} s:")
    found, asked = k["found"], k["asked"]
    rows = [
        ("  answered requests/s", f"{k['answered_rps']:,.1f}"),
        ("  sent / answered (late sends)", f"{k['sent']:,} / {k['answered']:,} ({k['sent_late']:,})"),
        ("  latency p50 / p99 / max (ms)",
         f"{k['latency_p50_ms']:.2f} / {k['latency_p99_ms']:.2f} / {k['latency_max_ms']:.2f}"),
        ("  found: submitted md5s / unpaid md5s",
         f"{found.get('submitted', 0):,} of {asked.get('submitted', 0):,} / "
         f"{found.get('unpaid', 0):,} of {asked.get('unpaid', 0):,}"),
        ("  look-up client CPU %", f"{k['cpu_percent']:.0f}"),
    ]
    if k["errors"]:
        rows.append(("  errors", json.dumps(k["errors"])))
    for label, value in rows:
        print(f"  {label:46} {value:>28}")


def print_table(r: dict[str, Any]) -> None:
    o = r["options"]
    rate = f"{o['rate']:,.0f} TPS offered" if o["rate"] else \
        f"as fast as accepted (at most {o['max_pending']:,} waiting for a block)" if o["max_pending"] else \
        "as fast as accepted (no bound on txs waiting for a block)"
    what = "KHQR payments" if o.get("workload") == "khqr" else "transfers"
    if o.get("format") == "iroha":
        what = "Iroha-format transfers, half legacy-signed"
    print(f"\nbakong bench load ({what}): {o['validators']} validators + {o['observers']} observers, "
          f"{o['accounts']:,} accounts, {o['duration_s']:g} s at {rate}, batches of {o['batch']}")
    rows = [
        ("offered TPS", f"{r['offered_tps']:,.1f}"),
        ("committed TPS (first submit .. last commit)", f"{r['committed_tps']:,.1f}"),
        ("committed TPS (inside the duration)", f"{r['committed_in_duration_tps']:,.1f}"),
        ("submitted / accepted / committed", f"{r['submitted']:,} / {r['accepted']:,} / {r['committed']:,}"),
        ("latency p50 / p95 / p99 / max (s)",
         " / ".join(f"{r[k]:.3f}" for k in ("latency_p50_s", "latency_p95_s", "latency_p99_s", "latency_max_s"))),
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
    if "md5_lookups" in r:
        print_lookups(r["md5_lookups"])
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
    print(f"\n  head: {verdict}: height {h['height']}, hash {str(h['hash'])[:16]}..., "
          f"state root {str(h['state_root'])[:16]}...")
    if not h["same_head"]:
        for name, v in h["per_node"].items():
            match = "  = the watched validator at that height" if v["matches_watched"] else "  NOT CHECKED OR DIFFERENT"
            print(f"    {name:8} height {v['height']} hash {str(v['hash'])[:16]} root {str(v['state_root'])[:16]}"
                  f"{match}")
    m = r["machine"]
    print(f"  machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, {m['memory_gb']} GB, Python {m['python']}; "
          f"CPU busy {m['cpu_busy_percent']:.0f}% of {100 * m['logical_cpus']}%, "
          f"other processes {m['cpu_other_processes_percent']:.0f}%")
    if m["cpu_other_processes_percent"] > 10:
        print("  warning: other processes used CPU during the run; the figures understate this network")
