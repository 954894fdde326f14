"""The README's quick start runs ``bakong testnet run`` (./scripts/testnet): its scripted workload must
pass step by step. A one-validator network keeps it short; the full 4+1 run is the same code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.tools.testnet import free_port_base

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_start_demo_passes_every_step_and_a_resent_payment_is_not_paid_twice(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "testnet", "run", "--dir", str(tmp_path / "net"), "--validators", "1",
         "--observers", "0", "--transfers", "10", "--api-port", str(free_port_base(1)),
         "--p2p-port", str(free_port_base(1))],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0 and "UNEXPECTED" not in out, out[-3000:] + proc.stderr[-2000:]
    assert "[ok ] the same signed QR payment is resent (a retry)" in out
    assert "[ok ] a payment with a forged signature" in out and "10/10 final" in out
    assert "[ok ] chenda@wing pays bob@abaa's KHQR" in out  # issue 17: a merchant's QR, paid,
    assert "-> paid 12000 KHR by chenda@wing" in out  # checked by md5 through the Open API,
    assert "-> khqr_expired (tag 99" in out  # and an expired one refused
    # issue 18: an FX swap as an atomic batch commits both legs, and one with a failing leg moves nothing
    assert "[ok ] alice swaps 41000.00 KHR for bob's 10.00 USD (atomic batch)" in out
    assert "[ok ] a swap whose USD leg overdraws moves neither leg" in out
    assert "both REJECTED at height" in out and "(batch_member_failed, insufficient_funds)" in out
