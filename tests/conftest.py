"""Shared test setup: hypothesis profiles and the seed CI explores with.

Profiles (``HYPOTHESIS_PROFILE``; ./scripts/test selects ``ci`` when CI=true):

- ``ci``: bounded (40 examples; the property suites scale it) so the whole suite stays within a few
  minutes on 2 cores, and seeded from the commit under test: every commit explores other examples,
  yet any CI run can be replayed exactly. The seed is the int of the first 8 hex digits of
  ``git rev-parse HEAD`` (``FALLBACK_SEED`` without git), or ``--hypothesis-seed=N`` when given; it is
  printed in the pytest header and, for ``-q`` runs, in the closing summary with the command that
  replays it: ``HYPOTHESIS_PROFILE=ci ./scripts/test --hypothesis-seed=N <same tests>``. No example
  database: a replay depends on the seed alone.
- ``dev`` (default): a few more examples, random each run, with the local example database.
- ``long``: soak runs by hand, 2,000 examples per test (the consensus properties run 10,000 simulated
  schedules each), e.g. ``HYPOTHESIS_PROFILE=long ./scripts/test tests/consensus`` (hours, not minutes;
  add ``--hypothesis-seed=N`` to pin one search).
- ``mutation``: what ./scripts/mutation runs each mutant's tests under: few examples, derandomized
  (a mutant's verdict must not depend on luck), no database.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from node import packing

packing.install()  # as every entry point does (node.cli.main, node.assembly.run_node)

ROOT = Path(__file__).resolve().parent.parent
FALLBACK_SEED = 20_260_101  # when the commit cannot be read (no git, exported tree)
SEEDED_PROFILE = "ci"

settings.register_profile(
    "ci", max_examples=40, deadline=None, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "mutation", max_examples=4, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def commit_seed(root: Path = ROOT) -> tuple[int, str]:
    """The seed of this checkout's commit and where it came from (for the header)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        return int(head[:8], 16), f"commit {head[:12]}"
    except (OSError, subprocess.SubprocessError, ValueError):
        return FALLBACK_SEED, "fixed fallback, git unavailable"


def _seed_line(config: pytest.Config) -> str | None:
    seed = getattr(config, "_ci_hypothesis_seed", None)
    if seed is None:
        return None
    value, origin = seed
    return (f"hypothesis seed {value} ({origin}); replay: "
            f"HYPOTHESIS_PROFILE={SEEDED_PROFILE} ./scripts/test --hypothesis-seed={value} <tests>")


@pytest.hookimpl(tryfirst=True)  # before hypothesis' own pytest_configure, which reads the seed option
def pytest_configure(config: pytest.Config) -> None:
    if settings.get_current_profile_name() != SEEDED_PROFILE:
        return
    given = config.getoption("hypothesis_seed", default=None)
    if given is not None:
        config._ci_hypothesis_seed = (given, "--hypothesis-seed")  # type: ignore[attr-defined]
        return
    value, origin = commit_seed()
    config.option.hypothesis_seed = str(value)
    config._ci_hypothesis_seed = (value, origin)  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str | None:
    return _seed_line(config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    # -q hides the header (CI runs -q): say the seed again where a failure is read.
    line = _seed_line(config)
    if line and (config.option.verbose < 0 or terminalreporter.stats.get("failed")):
        terminalreporter.write_line(line)
