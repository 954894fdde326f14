"""Geography, short: ``bakong geo`` with the four countries at 50 ms RTT, then Cambodia (two of the four
validators) cut off for 4 s and healed (5 s of load at 200 TPS first: the suite's time budget).

Needs root and ``ip netns`` (the run builds its own namespaces and deletes them); skipped otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.tools.geo.phases import STALL_SLACK_BLOCKS
from node.tools.geo.topology import leftovers, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.campaign]

ROOT = Path(__file__).resolve().parents[2]
WHY_NOT = unavailable()


@pytest.mark.skipif(WHY_NOT is not None, reason=f"geo needs network namespaces: {WHY_NOT}")
def test_commits_at_50ms_rtt_and_a_healed_partition_resumes(tmp_path: Path) -> None:
    out = tmp_path / "geo.json"
    before = set(leftovers())
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "geo", "--rtt-ms", "50", "--jitter-ms", "5", "--duration", "5",
         "--rate", "200", "--partition", "4", "--isolate", "kh", "--json", str(out), "--dir", str(tmp_path / "net")],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    (phase,) = result["rtt"]
    assert phase["rtt_ms"] == 50 and phase["committed"] > 0 and phase["head"]["agree"]
    (episode,) = result["partition"]["episodes"]
    # No quorum anywhere: stalled. Heights at the cut are polled (every 0.25 s), so besides the block in
    # flight one more may land between the last poll and the cut: the tool's own slack, not a tighter one
    # (CI on 0f5c75e saw 2 and failed a run whose own verdict was OK).
    assert not episode["quorum_kept"] and episode["advance_anywhere"] <= STALL_SLACK_BLOCKS
    assert episode["resume_s"] is not None and episode["caught_up_s"] is not None  # and resumed after the heal
    assert result["checks"]["forks"] == 0 and result["checks"]["accepted_lost"] == 0
    assert set(leftovers()) <= before  # its namespaces are gone
