"""The attack suite's verdict (node/tools/attack/verdict.py): a run passes only when every generic
bound and every scenario check holds; each negative control breaks exactly one of them."""

from __future__ import annotations

import dataclasses

from node.tools.attack.verdict import (
    LATENCY_FLOOR_MS,
    MAX_RSS_GROWTH_MB,
    Check,
    HonestFigures,
    ScenarioResult,
    judge,
    latency_bound_ms,
    percentile,
)


def healthy_run(**changes: object) -> ScenarioResult:
    honest = HonestFigures(submitted=300, accepted=300, committed=300, lost=0, attack_submitted=200,
                           attack_unserved=0, latency_before_ms={"p50": 50.0, "p99": 120.0},
                           latency_during_ms={"p50": 60.0, "p99": 300.0})
    r = ScenarioResult("demo", "0", attack_s=20.0, blocks_during_attack=40, max_commit_gap_s=0.5, honest=honest,
                       rss_mb={"nbc": {"before": 56.0, "peak": 80.0, "after": 70.0}})
    return dataclasses.replace(r, **changes)  # type: ignore[arg-type]


def failed_checks(r: ScenarioResult) -> list[str]:
    return [c.name for c in judge(r).judged if not c.ok]


def test_a_run_within_every_bound_is_ok() -> None:
    r = judge(healthy_run())
    assert r.ok and r.reasons == []


def test_a_lost_honest_payment_fails_the_scenario() -> None:
    r = healthy_run()
    r.honest.lost, r.honest.committed = 1, 299
    assert failed_checks(r) == ["no_honest_payment_lost"]
    assert not r.ok and "1 lost" in r.reasons[0]


def test_a_run_where_no_honest_payment_was_accepted_fails() -> None:
    r = healthy_run()
    r.honest.accepted = r.honest.committed = 0
    assert "no_honest_payment_lost" in failed_checks(r)


def test_too_few_blocks_during_the_attack_is_not_live() -> None:
    assert failed_checks(healthy_run(blocks_during_attack=9)) == ["live"]  # 20 s needs >= 10


def test_a_long_gap_between_commits_is_a_stall_even_with_enough_blocks() -> None:
    assert failed_checks(healthy_run(max_commit_gap_s=12.0)) == ["no_stall"]


def test_honest_clients_locked_out_fail_the_scenario() -> None:
    r = healthy_run()
    r.honest.attack_unserved, r.honest.unserved_reasons = 40, {"undelivered:unreachable": 40}
    assert failed_checks(r) == ["honest_clients_served"]
    assert "undelivered:unreachable 40" in r.reasons[0]


def test_no_honest_payment_sent_during_the_attack_proves_nothing() -> None:
    r = healthy_run()
    r.honest.attack_submitted = 0
    assert "honest_clients_served" in failed_checks(r)


def test_latency_over_the_bound_fails_and_the_bound_has_a_floor() -> None:
    assert latency_bound_ms(100.0) == LATENCY_FLOOR_MS
    assert latency_bound_ms(3000.0) == 12000.0
    r = healthy_run()
    r.honest.latency_during_ms = {"p50": 4000.0, "p99": LATENCY_FLOOR_MS + 1}
    assert failed_checks(r) == ["latency_bounded"]


def test_no_latency_during_the_attack_fails() -> None:
    r = healthy_run()
    r.honest.latency_during_ms = {"p50": None, "p99": None}
    assert failed_checks(r) == ["latency_bounded"]


def test_memory_growth_over_the_bound_fails() -> None:
    r = healthy_run(rss_mb={"nbc": {"before": 56.0, "peak": 56.0 + MAX_RSS_GROWTH_MB + 1, "after": 60.0}})
    assert failed_checks(r) == ["memory_bounded"]


def test_a_node_that_exited_fails_the_scenario() -> None:
    assert failed_checks(healthy_run(nodes_exited=["aclb"])) == ["nodes_running"]


def test_a_failed_scenario_check_fails_the_scenario() -> None:
    r = healthy_run(checks=[Check("junk_refused", False, "12 of 255 accepted"), Check("other", True, "fine")])
    assert failed_checks(r) == ["junk_refused"]
    assert r.reasons == ["junk_refused: 12 of 255 accepted"]


def test_a_harness_error_fails_even_when_every_figure_looks_fine() -> None:
    r = judge(healthy_run(error="TestnetError: nodes not healthy"))
    assert not r.ok and r.reasons[0].startswith("error: TestnetError")


def test_percentile_is_nearest_rank_and_none_when_empty() -> None:
    assert percentile([], 99) is None
    assert percentile([5.0], 50) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
