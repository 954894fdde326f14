"""``bakong bench apply`` end to end on a small ledger: it runs, commits every transfer, reports figures."""

from __future__ import annotations

import json
from pathlib import Path

from node.tools.bench.apply import run_apply_bench


def test_bench_apply_commits_every_transfer_and_writes_its_figures(tmp_path: Path, capsys) -> None:
    out = tmp_path / "apply.json"
    assert run_apply_bench(transfers=300, accounts=40, block_size=100, repeats=1, json_path=str(out)) == 0
    result = json.loads(out.read_text())
    median = result["median"]
    assert result["accounts"] == 40 and median["committed"] == 300  # bulk accounts funded, no overdraft
    assert median["apply_cpu_per_s"] > 0 and median["verify_per_s"] > 0 and median["decode_per_s"] > 0
    assert median["apply_thread_us"] > 0 and median["apply_background_us"] >= 0
    assert "LevelDB's background threads" in capsys.readouterr().out
