"""``bakong bench load`` end to end: a one-validator testnet under a small load writes a complete report.

A smoke test of the benchmark's plumbing (testnet, pre-signed workload, msgpack submission, block
stream, resource sampling); it asserts that figures exist, never how fast they are.
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
REPORT_NUMBERS = ["committed_tps", "offered_tps", "latency_p50_s", "latency_p95_s", "latency_p99_s",
                  "latency_max_s", "block_size_mean", "block_interval_mean_s", "disk_bytes_per_tx"]


@pytest.mark.integration
def test_a_short_load_run_commits_transfers_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    port = free_port_range(2)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "bench", "load", "--duration", "3", "--rate", "50", "--accounts", "50",
         "--validators", "1", "--observers", "0", "--json", str(out), "--dir", str(tmp_path / "net"),
         "--api-port", str(port), "--p2p-port", str(port + 1)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())

    assert report["committed"] > 0
    for key in REPORT_NUMBERS:
        assert isinstance(report[key], (int, float)) and math.isfinite(report[key]), key
    assert 0 < report["latency_p50_s"] <= report["latency_p99_s"] <= report["latency_max_s"]
    assert isinstance(report["rejected"], int) and isinstance(report["rejected_by_reason"], dict)
    assert report["rejected"] == sum(report["rejected_by_reason"].values())
    assert report["blocks"] > 0
    [node] = report["nodes"]
    assert node["role"] == "validator" and node["cpu_percent"] >= 0 and node["peak_rss_mb"] > 0
    assert report["head"]["agree"]
    assert "bench load" in proc.stdout and "all nodes agree" in proc.stdout
