"""What a scenario measured, the bounds it is held to, and the verdict: pure functions, no I/O.

A scenario passes when every check holds. The generic checks, the same for every scenario:

- every node process is still running at the end (an attack that kills a node has won);
- live: at least ``MIN_BLOCKS_PER_S`` blocks per second of attack were committed (the heartbeat is
  2/s), and no gap between commits during the attack was longer than ``MAX_GAP_S``;
- no honest payment lost: every payment a node accepted (answered ``STATELESS_VALIDATION_SUCCESS``)
  is committed by the end of the drain;
- honest clients served: at most ``MAX_UNSERVED_SHARE`` of the honest payments sent during the attack
  were refused or could not be sent at all (a lock-out shows here);
- latency: the p99 of submit-to-commit for honest payments sent during the attack is at most
  ``LATENCY_FACTOR`` times the p99 before it, or ``LATENCY_FLOOR_MS``, whichever is larger;
- memory: no node's peak RSS during the attack and drain exceeds its RSS before by more than
  ``MAX_RSS_GROWTH_MB``.

Each scenario adds its own checks (the defence it is about: junk refused, the victim's payment
committed, a restarted validator caught up in time, ...) as ``Check`` records.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MIN_BLOCKS_PER_S = 0.5
MAX_GAP_S = 8.0
MAX_UNSERVED_SHARE = 0.10
LATENCY_FACTOR = 4.0
LATENCY_FLOOR_MS = 5000.0
MAX_RSS_GROWTH_MB = 384.0


@dataclass(frozen=True)
class Check:
    """One named expectation of a scenario and whether it held."""

    name: str
    ok: bool
    detail: str


@dataclass
class HonestFigures:
    """The honest clients' payments over one scenario."""

    submitted: int = 0
    """Payments sent (each one POST of one transaction)."""
    accepted: int = 0
    """Answered STATELESS_VALIDATION_SUCCESS (or COMMITTED, or a replay of an accepted one)."""
    committed: int = 0
    """Accepted and then committed (seen in a block, or COMMITTED by status at the end)."""
    lost: int = 0
    """Accepted and not committed by the end of the drain."""
    attack_submitted: int = 0
    attack_unserved: int = 0
    """Sent during the attack and refused (4xx/5xx) or not delivered at all (reset, timeout)."""
    unserved_reasons: dict[str, int] = field(default_factory=dict)
    latency_before_ms: dict[str, float | None] = field(default_factory=dict)
    """{"p50": ..., "p99": ...} of payments sent before the attack."""
    latency_during_ms: dict[str, float | None] = field(default_factory=dict)


@dataclass
class ScenarioResult:
    name: str
    finding: str
    attack_s: float = 0.0
    blocks_during_attack: int = 0
    max_commit_gap_s: float | None = None
    honest: HonestFigures = field(default_factory=HonestFigures)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    """node -> {"before", "peak", "after"} in MiB."""
    healthz_max_ms: dict[str, float | None] = field(default_factory=dict)
    """node -> slowest /healthz answer during the attack (None: never answered)."""
    nodes_exited: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    """Scenario-specific figures (junk accepted, catch-up seconds, ...)."""
    checks: list[Check] = field(default_factory=list)
    """Scenario-specific checks; the generic ones are added by ``judge``."""
    error: str | None = None
    """The harness itself failed (the scenario could not be run): always a failure."""
    ok: bool = False
    reasons: list[str] = field(default_factory=list)
    """The failed checks (or the error), one line each; empty when OK."""
    judged: list[Check] = field(default_factory=list)
    """Every check, generic and scenario-specific, as ``judge`` evaluated them."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "count": float(len(values))}


def latency_bound_ms(before_p99: float | None) -> float:
    return max(LATENCY_FACTOR * (before_p99 or 0.0), LATENCY_FLOOR_MS)


def generic_checks(r: ScenarioResult) -> list[Check]:
    h = r.honest
    checks = [Check("nodes_running", not r.nodes_exited,
                    f"exited: {', '.join(r.nodes_exited)}" if r.nodes_exited else "every node still running")]
    need = max(1, math.floor(r.attack_s * MIN_BLOCKS_PER_S))
    checks.append(Check("live", r.blocks_during_attack >= need,
                        f"{r.blocks_during_attack} blocks committed in {r.attack_s:.1f} s of attack (need >= {need})"))
    gap = r.max_commit_gap_s
    checks.append(Check("no_stall", gap is not None and gap <= MAX_GAP_S,
                        f"longest gap between commits during the attack {_s(gap)} (bound {MAX_GAP_S:g} s)"))
    checks.append(Check("no_honest_payment_lost", h.lost == 0 and h.accepted > 0,
                        f"{h.accepted} accepted, {h.committed} committed, {h.lost} lost"))
    share = h.attack_unserved / h.attack_submitted if h.attack_submitted else 1.0
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(h.unserved_reasons.items())) or "none"
    checks.append(Check("honest_clients_served", h.attack_submitted > 0 and share <= MAX_UNSERVED_SHARE,
                        f"{h.attack_unserved} of {h.attack_submitted} honest payments during the attack refused or "
                        f"undelivered ({reasons}; bound {MAX_UNSERVED_SHARE:.0%})"))
    before, during = h.latency_before_ms.get("p99"), h.latency_during_ms.get("p99")
    bound = latency_bound_ms(before)
    checks.append(Check("latency_bounded", during is not None and during <= bound,
                        f"p99 {_ms(during)} during vs {_ms(before)} before (bound {bound:.0f} ms)"))
    grown = {n: v["peak"] - v["before"] for n, v in r.rss_mb.items()}
    worst = max(grown.items(), key=lambda kv: kv[1], default=("-", 0.0))
    checks.append(Check("memory_bounded", bool(r.rss_mb) and worst[1] <= MAX_RSS_GROWTH_MB,
                        f"largest RSS growth {worst[1]:.0f} MiB on {worst[0]} (bound {MAX_RSS_GROWTH_MB:.0f} MiB)"))
    return checks


def judge(r: ScenarioResult) -> ScenarioResult:
    """Fill ``ok`` and ``reasons``: every generic and scenario check must hold, and the run must not
    have failed. ``reasons`` lists the failed checks (or the error); empty when OK."""
    checks = generic_checks(r) + list(r.checks)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    if r.error:
        failed.insert(0, f"error: {r.error}")
    r.ok = not failed
    r.reasons = failed
    r.judged = checks
    return r


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} s"
