"""``bakong attack --scenario NAME|all [--json FILE] [--duration S]``: the scenario table, the run of
each on its own fresh testnet, the report and its JSON. Exit code 0 only if every scenario passed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.tools.attack import payloads, peers, sockets
from node.tools.attack.harness import Attack, NetSpec, RunOptions, run_scenario
from node.tools.attack.verdict import (
    LATENCY_FACTOR,
    LATENCY_FLOOR_MS,
    MAX_GAP_S,
    MAX_RSS_GROWTH_MB,
    MAX_UNSERVED_SHARE,
    MIN_BLOCKS_PER_S,
    ScenarioResult,
)


@dataclass(frozen=True)
class Scenario:
    name: str
    finding: str
    """Which item of issue 14 it attacks."""
    proves: str
    attack: Attack
    spec: NetSpec = field(default_factory=NetSpec)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("junk_creators", "1/6", "intake refuses big transactions from creators that do not exist; no node dies",
             payloads.junk_creators),
    Scenario("signature_flood", "3", "many-signature copies cost the node little: no stall, /healthz answers",
             payloads.signature_flood),
    Scenario("idle_sockets", "4", "thousands of idle sockets from one address do not lock others out of the API",
             sockets.idle_sockets, NetSpec(api={"max_connections": 2000}, scaled={"max_connections": 600})),
    Scenario("lying_observer", "5", "a restarted validator catches up past a peer lying about its head",
             peers.lying_observer, NetSpec(byzantine=(peers.LIAR, "lying_head"))),
    Scenario("resign_payment", "7", "a stranger re-signing a payment cannot void it",
             payloads.resign_payment),
    Scenario("account_limit_junk", "6", "junk claiming an account cannot use up that account's mempool share",
             payloads.account_limit_junk, NetSpec(mempool={"max_per_account": 2000}, scaled={"max_per_account": 50})),
    Scenario("handshake_slots", "11", "half-open p2p handshakes from one address do not keep validators apart",
             sockets.handshake_slots),
    Scenario("ws_slots", "low", "one client cannot take every WebSocket slot",
             sockets.ws_slots, NetSpec(api={"max_websockets": 1000}, scaled={"max_websockets": 300})),
)}


def bounds() -> dict[str, Any]:
    return {"min_blocks_per_s": MIN_BLOCKS_PER_S, "max_commit_gap_s": MAX_GAP_S,
            "max_unserved_share": MAX_UNSERVED_SHARE, "latency_factor": LATENCY_FACTOR,
            "latency_floor_ms": LATENCY_FLOOR_MS, "max_rss_growth_mb": MAX_RSS_GROWTH_MB}


def select(name: str) -> list[Scenario]:
    if name == "all":
        return list(SCENARIOS.values())
    unknown = [n for n in name.split(",") if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario {', '.join(unknown)}; one of: all, {', '.join(SCENARIOS)}")
    return [SCENARIOS[n] for n in name.split(",")]


def run_attack(scenario: str, opts: RunOptions, json_path: str | None = None) -> int:
    chosen = select(scenario)
    results: list[ScenarioResult] = []
    t0 = time.monotonic()
    for s in chosen:
        print(f"attack: {s.name} (finding {s.finding}): {s.proves}", flush=True)
        r = run_scenario(s.name, s.finding, s.spec, s.attack, opts)
        results.append(r)
        print(summary(r), flush=True)
    passed = [r.name for r in results if r.ok]
    failed = [r.name for r in results if not r.ok]
    doc = {"options": {"duration": opts.duration, "baseline_s": opts.baseline_s, "rate": opts.rate,
                       "scale": opts.scale},
           "bounds": bounds(), "seconds": round(time.monotonic() - t0, 1),
           "passed": passed, "failed": failed,
           "scenarios": {r.name: r.to_json() for r in results}}
    if json_path:
        Path(json_path).write_text(json.dumps(doc, indent=1, default=str) + "\n")
    print(f"attack: {len(passed)} of {len(results)} scenarios OK"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    return 0 if not failed else 1


def summary(r: ScenarioResult) -> str:
    h = r.honest
    lines = [f"  {r.name}: {'OK' if r.ok else 'FAILED'}",
             f"    live: {r.blocks_during_attack} blocks in {r.attack_s:.1f} s of attack, longest gap "
             f"{'n/a' if r.max_commit_gap_s is None else f'{r.max_commit_gap_s:.1f} s'}",
             f"    honest payments: {h.submitted} submitted, {h.accepted} accepted, {h.committed} committed, "
             f"{h.lost} lost; during the attack {h.attack_unserved} of {h.attack_submitted} refused/undelivered",
             f"    latency p50/p99: before {_pair(h.latency_before_ms)}, during {_pair(h.latency_during_ms)}",
             "    RSS MiB before/peak/after: " + ", ".join(
                 f"{n} {v['before']:.0f}/{v['peak']:.0f}/{v['after']:.0f}" for n, v in r.rss_mb.items())]
    if r.figures:
        lines.append("    " + json.dumps(r.figures, default=str))
    lines += [f"    - {reason}" for reason in r.reasons]
    return "\n".join(lines)


def _pair(summary: dict[str, float | None]) -> str:
    return f"{_ms(summary.get('p50'))}/{_ms(summary.get('p99'))}"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"
