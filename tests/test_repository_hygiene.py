"""Repository hygiene (issue 16, point 11): no binary wheels committed, and no path both tracked and
ignored (``bench-results/`` was both: new result files were silently left out of commits while the docs
cited them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout
    return [line for line in out.splitlines() if line]


def test_no_wheel_or_other_package_archive_is_committed() -> None:
    assert git("ls-files", "*.whl", "*.tar.gz", "*.egg") == []


def test_no_tracked_file_is_also_ignored() -> None:
    assert git("ls-files", "--cached", "--ignored", "--exclude-standard") == []


def test_the_benchmark_results_the_docs_cite_are_tracked() -> None:
    tracked = set(git("ls-files", "bench-results"))
    assert "bench-results/apply.json" in tracked
    assert "bench-results/chaos-byzantine-mixed-600s.json" in tracked
