"""``bakong bench idle`` end to end: an empty one-validator testnet, measured without traffic.

It checks the plumbing and the one behaviour the command exists to show: with no transactions a node
commits only the heartbeat blocks its ``max_block_interval_ms`` asks for. How much CPU that costs is a
figure for docs/benchmarks.md, never an assertion here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import free_port_range

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


@pytest.mark.integration
def test_an_idle_testnet_commits_only_heartbeat_blocks_and_reports_cpu_per_node(tmp_path: Path) -> None:
    out = tmp_path / "idle.json"
    port = free_port_range(2)
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "bench", "idle", "--duration", "4", "--settle", "0.5",
         "--validators", "1", "--observers", "0", "--json", str(out), "--dir", str(tmp_path / "net"),
         "--api-port", str(port), "--p2p-port", str(port + 1)],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())

    assert report["max_block_interval_ms"] == 2000
    assert 4.0 <= report["window_s"] < 6.0
    [node] = report["nodes"]
    assert node["role"] == "validator" and node["peak_rss_mb"] > 0
    assert math.isfinite(node["cpu_percent"]) and node["cpu_percent"] >= 0
    # One empty block per 2 s interval: 2 in a 4 s window, give or take the one in flight at either end.
    assert 1 <= node["blocks"] <= 3
    assert "idle network" in proc.stdout and "blocks" in proc.stdout


def test_a_bad_duration_is_one_line_and_a_non_zero_exit() -> None:
    proc = subprocess.run([sys.executable, "-m", "node.cli", "bench", "idle", "--duration", "0"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: ValueError: --duration must be positive"]
    assert "Traceback" not in proc.stderr
