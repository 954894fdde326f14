"""The fault campaign, short: ``bakong chaos --duration 20 --seed 1`` on a real 4+1 testnet under load.

Seed 1 draws, in 20 s, a validator pause, a restart of every node, a validator kill and a node killed
inside a block commit (the other kinds come later in its schedule). The campaign must end with no fork, no committed transaction lost or
duplicated, equal state roots and every recovery within 10 s. The same, shorter on load, with validator
wing Byzantine (``--byzantine mixed``) for the whole campaign.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node import config as cfg
from node.api.app import build_app

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.campaign
def test_short_chaos_campaign_keeps_every_invariant(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "chaos", "--duration", "20", "--seed", "1", "--json", str(out),
         "--dir", str(tmp_path / "net")],
        cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert out.exists(), proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    summary = proc.stdout[-3000:]
    assert r["perturbations"] >= 3, summary  # seed 1 schedules 5 in 20 s; a slow machine may fit fewer
    assert r["forks"] == 0, summary
    assert r["lost_committed"] == 0, summary
    assert r["duplicated_committed"] == 0, summary
    assert r["unresolved"] == 0, summary
    assert r["lost_uncommitted"] == 0, summary  # accepted, then lost with a node's mempool
    assert r["state_roots_equal"], summary
    assert r["money_conserved"] and r["negative_balances"] == 0, summary
    assert r["commit_crashes_missed"] == 0, summary
    assert r["max_recovery_s"] is not None and r["max_recovery_s"] <= 10, summary
    assert r["committed"] > 500, summary
    assert proc.returncode == 0, summary + proc.stderr[-2000:]


@pytest.mark.parametrize("enabled", [False, True])
def test_isolate_endpoint_exists_only_with_fault_injection(enabled: bool, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from node.metrics import NodeMetrics

    node = SimpleNamespace(config=SimpleNamespace(api=cfg.ApiConfig(), testing=cfg.TestingConfig(fault_injection=enabled),
                                                  open_api=cfg.OpenApiConfig(), data_dir=tmp_path),
                           metrics=NodeMetrics())
    app = build_app(node)  # type: ignore[arg-type]
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert ("/v1/testing/isolate" in paths) is enabled
    assert ("/v1/testing/crash-at-commit" in paths) is enabled


@pytest.mark.campaign
def test_short_chaos_campaign_with_a_byzantine_validator_keeps_every_invariant(tmp_path: Path) -> None:
    """``--byzantine mixed``: wing runs the whole repertoire (rotating every 4 heights) while the honest
    nodes are paused, killed, isolated and restarted. Nothing may be lost or forked, the chain must
    advance, and the evidence must name wing only."""
    out = tmp_path / "chaos.json"
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "chaos", "--duration", "35", "--seed", "2", "--rate", "100",
         "--byzantine", "mixed", "--json", str(out), "--dir", str(tmp_path / "net")],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.exists(), proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    summary = proc.stdout[-3000:]
    assert r["byzantine"] == "mixed" and r["byzantine_node"] == "wing", summary
    assert len(r["byzantine_counters"]) >= 6, summary  # most of the 9 behaviours did something
    assert r["perturbations"] >= 4, summary
    assert r["forks"] == 0 and r["state_roots_equal"], summary
    assert r["lost_committed"] == 0 and r["duplicated_committed"] == 0, summary
    assert r["unresolved"] == 0 and r["lost_uncommitted"] == 0, summary
    assert r["money_conserved"] and r["negative_balances"] == 0, summary
    assert r["heights_advanced"] and r["final_height"] >= r["start_height"] + 30, summary
    assert r["evidence_unreadable"] == [], summary
    assert r["evidence_naming_honest"] == 0 and r["evidence_by_validator"].get("wing", 0) > 0, summary
    assert r["max_recovery_s"] is not None and r["max_recovery_s"] <= 10, summary
    assert r["committed"] > 1000, summary
    assert proc.returncode == 0, summary + proc.stderr[-2000:]
