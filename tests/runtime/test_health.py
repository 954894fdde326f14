"""Readiness checks (node.runtime.health): each check at its threshold, and the log lines on change."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from node.config import HealthConfig
from node.runtime.health import MIN_FREE_BYTES, HealthLog, Vitals, quorum_of, readiness

HEALTHY = Vitals(now_s=100.0, last_commit_s=99.0, block_interval_s=2.0, height=50, pending=3, best_known_height=50,
                 validators=4, reachable_validators=4, configured_validator=True, in_validator_set=True,
                 signing_halt=None, storage_error=None, free_bytes=10 * MIN_FREE_BYTES)
CONFIG = HealthConfig(stall_intervals=3, behind_blocks=10)


def failing(v: Vitals) -> list[str]:
    return [c.name for c in readiness(v, CONFIG) if not c.ok]


def test_a_healthy_validator_passes_every_check() -> None:
    names = [c.name for c in readiness(HEALTHY, CONFIG)]
    assert names == ["commits", "catching_up", "quorum", "validator_set", "signing", "storage"]
    assert failing(HEALTHY) == []


def test_no_commit_for_more_than_the_stall_intervals_fails_commits() -> None:
    assert failing(dataclasses.replace(HEALTHY, last_commit_s=94.0)) == []  # exactly 3 intervals
    assert failing(dataclasses.replace(HEALTHY, last_commit_s=93.9)) == ["commits"]


def test_behind_the_best_known_peer_by_more_than_k_blocks_fails_catching_up() -> None:
    assert failing(dataclasses.replace(HEALTHY, best_known_height=60)) == []
    assert failing(dataclasses.replace(HEALTHY, best_known_height=61)) == ["catching_up"]


@pytest.mark.parametrize(("validators", "quorum"), [(1, 1), (3, 3), (4, 3), (7, 5), (10, 7)])
def test_quorum_is_more_than_two_thirds(validators: int, quorum: int) -> None:
    assert quorum_of(validators) == quorum


def test_fewer_reachable_validators_than_a_quorum_fails_quorum() -> None:
    assert failing(dataclasses.replace(HEALTHY, reachable_validators=3)) == []
    assert failing(dataclasses.replace(HEALTHY, reachable_validators=2)) == ["quorum"]
    assert "quorum" in failing(dataclasses.replace(HEALTHY, validators=0, reachable_validators=0))


def test_a_configured_validator_outside_the_set_and_a_halted_signer_are_named() -> None:
    assert failing(dataclasses.replace(HEALTHY, in_validator_set=False)) == ["validator_set"]
    assert failing(dataclasses.replace(HEALTHY, signing_halt="key_signing_elsewhere: ...")) == ["signing"]
    observer = dataclasses.replace(HEALTHY, configured_validator=False, in_validator_set=False)
    assert [c.name for c in readiness(observer, CONFIG)] == ["commits", "catching_up", "quorum", "storage"]


def test_a_failed_write_or_a_full_disk_fails_storage() -> None:
    assert failing(dataclasses.replace(HEALTHY, storage_error="OSError: [Errno 28]")) == ["storage"]
    assert failing(dataclasses.replace(HEALTHY, free_bytes=MIN_FREE_BYTES - 1)) == ["storage"]
    assert failing(dataclasses.replace(HEALTHY, free_bytes=MIN_FREE_BYTES)) == []


def test_the_log_says_quorum_lost_and_regained_once_each(caplog: pytest.LogCaptureFixture) -> None:
    health = HealthLog(progress_interval_s=1000)
    lost = dataclasses.replace(HEALTHY, reachable_validators=2)
    with caplog.at_level(logging.INFO, "bakong.health"):
        for v in (HEALTHY, lost, lost, lost, HEALTHY, HEALTHY):
            health.observe(readiness(v, CONFIG), v)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("quorum lost" in line for line in lines) == 1
    assert sum("quorum regained" in line for line in lines) == 1
    assert [r.levelname for r in caplog.records if "quorum" in r.getMessage()] == ["WARNING", "INFO"]


def test_the_log_follows_a_sync_and_reports_progress(caplog: pytest.LogCaptureFixture) -> None:
    health = HealthLog(progress_interval_s=10)
    steps = [dataclasses.replace(HEALTHY, now_s=100 + t, last_commit_s=100 + t, height=h, best_known_height=500)
             for t, h in ((0, 50), (11, 300), (22, 450))]
    with caplog.at_level(logging.INFO, "bakong.health"):
        for v in steps:
            health.observe(readiness(v, CONFIG), v)
        done = dataclasses.replace(steps[-1], now_s=130, height=500)
        health.observe(readiness(done, CONFIG), done)
    text = caplog.text
    assert "sync: catching up from height 50 to 500" in text
    assert "sync: at height 300 of 500 (250 blocks in the last 11 s)" in text
    assert "sync: caught up at height 500 (450 blocks in 30.0 s)" in text


def test_details_name_the_figures_an_operator_needs() -> None:
    def detail(v: Vitals, name: str) -> str:
        return next(c.detail for c in readiness(v, CONFIG) if c.name == name)

    assert detail(dataclasses.replace(HEALTHY, best_known_height=40), "catching_up") == (
        "height 50, best known peer head 40: 0 behind (limit 10)")
    assert detail(HEALTHY, "signing") == "signing allowed"
    assert detail(HEALTHY, "storage") == f"{10 * MIN_FREE_BYTES // 2**20} MiB free"
    assert detail(dataclasses.replace(HEALTHY, free_bytes=2**20), "storage") == "1 MiB free (below 256 MiB)"
    assert detail(dataclasses.replace(HEALTHY, storage_error="OSError: disk"), "storage") == "OSError: disk"
    assert readiness(HEALTHY, CONFIG)[0].as_json() == {"name": "commits", "ok": True, "detail": detail(HEALTHY, "commits")}
    assert MIN_FREE_BYTES == 256 * 2**20  # the figure docs/health.md gives


def test_a_single_validator_network_has_a_quorum_of_itself() -> None:
    one = dataclasses.replace(HEALTHY, validators=1, reachable_validators=1)
    assert "quorum" not in failing(one)


def observe_all(health: HealthLog, vitals: list[Vitals]) -> None:
    for v in vitals:
        health.observe(readiness(v, CONFIG), v)


def test_another_check_is_logged_as_not_ready_and_ready_again_not_as_quorum(caplog: pytest.LogCaptureFixture) -> None:
    stalled = dataclasses.replace(HEALTHY, last_commit_s=0.0)
    with caplog.at_level(logging.INFO, "bakong.health"):
        observe_all(HealthLog(progress_interval_s=1000), [stalled, stalled, HEALTHY])
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "INFO"]
    assert lines[0][1].startswith("not ready: commits: last commit 100.0 s ago")
    assert lines[1][1].startswith("ready again: commits:")
    assert not any("quorum" in message for _, message in lines)


def test_sync_starts_two_blocks_behind_and_ends_at_one(caplog: pytest.LogCaptureFixture) -> None:
    def at(t: float, height: int, best: int) -> Vitals:
        return dataclasses.replace(HEALTHY, now_s=t, last_commit_s=t, height=height, best_known_height=best)

    with caplog.at_level(logging.INFO, "bakong.health"):
        observe_all(HealthLog(progress_interval_s=1000),
                    [at(0, 50, 51), at(1, 50, 52), at(2, 51, 52), at(3, 51, 51), at(4, 51, 54), at(5, 52, 54),
                     at(6, 54, 54)])
    assert [r.getMessage() for r in caplog.records] == [
        "sync: catching up from height 50 to 52", "sync: caught up at height 51 (1 blocks in 1.0 s)",
        "sync: catching up from height 51 to 54", "sync: caught up at height 54 (3 blocks in 2.0 s)"]


def test_progress_is_logged_once_per_interval_with_the_blocks_since_the_last_line(
        caplog: pytest.LogCaptureFixture) -> None:
    def at(t: float, height: int) -> Vitals:
        return dataclasses.replace(HEALTHY, now_s=1000 + t, last_commit_s=1000 + t, height=height,
                                   best_known_height=height)

    with caplog.at_level(logging.INFO, "bakong.health"):
        observe_all(HealthLog(progress_interval_s=10), [at(0, 50), at(9.9, 54), at(10, 55), at(15, 57), at(20, 60)])
    assert [r.getMessage() for r in caplog.records] == [
        "height 55 (+5 in 10 s), 4 of 4 validators reachable, 3 transactions waiting",
        "height 60 (+5 in 10 s), 4 of 4 validators reachable, 3 transactions waiting"]
