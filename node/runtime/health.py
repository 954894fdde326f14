"""Readiness: the checks behind ``/readyz``, and the log lines an operator needs when they change.

``/healthz`` says the process serves (liveness: restart it if not). ``/readyz`` says whether this node
can do its job now: a load balancer stops sending customers to a node that is not ready, and an alert
fires. Each check has a stable name, so a probe or a runbook can key on it:

- ``commits``: a block was committed within ``[health] stall_intervals`` block intervals. A live chain
  commits at least every ``max_block_interval_ms`` (empty heartbeat blocks when idle), so a longer
  silence means the chain, or this node's view of it, is stuck, whether or not work is pending;
- ``catching_up``: this node is at most ``[health] behind_blocks`` behind the best head a peer in good
  standing announced;
- ``quorum``: this node reaches a quorum of the validator set (itself counted when it votes): below
  it the chain cannot commit, and a validator's vote cannot help;
- ``validator_set``: a node configured as a validator is in the set the chain names (else it only
  follows, which an operator who configured a validator wants to know);
- ``signing``: the signing guard has not stopped this validator (``node.runtime.signing_guard``);
- ``storage``: the last write of accepted transactions succeeded and the data directory's file system
  has room left.

``HealthLog`` turns the evaluated checks into log lines, once per change (a failing check at WARNING,
its recovery at INFO; the quorum check as "quorum lost" / "quorum regained"), and keeps the lifecycle
lines that were missing when consensus halted silently: height progress every
``[log] progress_interval_s``, and block sync's start, progress and end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from node.config import HealthConfig

log = logging.getLogger("bakong.health")

MIN_FREE_BYTES = 256 * 1024 * 1024
"""Below this free space on the data directory's file system the node is not ready: a block commit
that fails for lack of space stops the process (exit 74), better to be taken out of service first."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Vitals:
    """What the checks look at, gathered by the node in one go (``node.assembly.Node.vitals``)."""

    now_s: float
    """Monotonic clock."""
    last_commit_s: float
    """Monotonic time of this node's last commit, or of its start."""
    block_interval_s: float
    height: int
    pending: int
    best_known_height: int
    validators: int
    """Validators in the set the chain names."""
    reachable_validators: int
    """Validators connected to this node, itself included when it votes."""
    configured_validator: bool
    in_validator_set: bool
    signing_halt: str | None
    storage_error: str | None
    free_bytes: int


def quorum_of(validators: int) -> int:
    """Votes that decide with ``validators`` of equal power (more than two thirds)."""
    return validators * 2 // 3 + 1


def readiness(v: Vitals, config: HealthConfig) -> list[Check]:
    checks = []
    silence = v.now_s - v.last_commit_s
    limit = config.stall_intervals * v.block_interval_s
    checks.append(Check("commits", silence <= limit,
                        f"last commit {silence:.1f} s ago (limit {limit:.1f} s: {config.stall_intervals} block "
                        f"intervals); {v.pending} transactions waiting"))
    behind = max(0, v.best_known_height - v.height)
    checks.append(Check("catching_up", behind <= config.behind_blocks,
                        f"height {v.height}, best known peer head {v.best_known_height}: {behind} behind "
                        f"(limit {config.behind_blocks})"))
    quorum = quorum_of(v.validators)
    checks.append(Check("quorum", v.reachable_validators >= quorum,
                        f"{v.reachable_validators} of {v.validators} validators reachable, quorum {quorum}"))
    if v.configured_validator:
        checks.append(Check("validator_set", v.in_validator_set,
                            "this node's key is in the validator set" if v.in_validator_set else
                            "configured as a validator, but its key is not in the validator set the chain "
                            "names: it follows without voting"))
        checks.append(Check("signing", v.signing_halt is None, v.signing_halt or "signing allowed"))
    storage_ok = v.storage_error is None and v.free_bytes >= MIN_FREE_BYTES
    detail = v.storage_error or f"{v.free_bytes // (1024 * 1024)} MiB free"
    if v.storage_error is None and not storage_ok:
        detail += f" (below {MIN_FREE_BYTES // (1024 * 1024)} MiB)"
    checks.append(Check("storage", storage_ok, detail))
    return checks


class HealthLog:
    """Logs what changed since the last evaluation (called about twice a second by the node)."""

    def __init__(self, progress_interval_s: float) -> None:
        self.progress_interval_s = progress_interval_s
        self._failing: dict[str, str] = {}
        self._progress_mark: tuple[float, int] | None = None  # (when, height) of the last progress line
        self._sync_from: tuple[float, int] | None = None

    def observe(self, checks: list[Check], v: Vitals) -> None:
        for check in checks:
            was_failing = check.name in self._failing
            if not check.ok and not was_failing:
                self._failing[check.name] = check.detail
                if check.name == "quorum":
                    log.warning("quorum lost: %s", check.detail)
                else:
                    log.warning("not ready: %s: %s", check.name, check.detail)
            elif check.ok and was_failing:
                del self._failing[check.name]
                if check.name == "quorum":
                    log.info("quorum regained: %s", check.detail)
                else:
                    log.info("ready again: %s: %s", check.name, check.detail)
        self._sync(v)
        self._progress(v)

    def _sync(self, v: Vitals) -> None:
        behind = v.best_known_height - v.height
        if self._sync_from is None and behind > 1:
            self._sync_from = (v.now_s, v.height)
            log.info("sync: catching up from height %d to %d", v.height, v.best_known_height)
        elif self._sync_from is not None and behind <= 1:
            started, start_height = self._sync_from
            log.info("sync: caught up at height %d (%d blocks in %.1f s)", v.height, v.height - start_height,
                     v.now_s - started)
            self._sync_from = None

    def _progress(self, v: Vitals) -> None:
        if self._progress_mark is None:
            self._progress_mark = (v.now_s, v.height)
            return
        since, height = self._progress_mark
        elapsed = v.now_s - since
        if elapsed < self.progress_interval_s:
            return
        if self._sync_from is not None:
            log.info("sync: at height %d of %d (%d blocks in the last %.0f s)", v.height, v.best_known_height,
                     v.height - height, elapsed)
        else:
            log.info("height %d (+%d in %.0f s), %d of %d validators reachable, %d transactions waiting", v.height,
                     v.height - height, elapsed, v.reachable_validators, v.validators, v.pending)
        self._progress_mark = (v.now_s, v.height)
