"""``bakong testnet up --detach`` / ``down`` as an operator uses them, including a node that was
killed and restarted by hand with the restart command ``testnet.json`` gives for it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.api.client import ClientError, NodeClient
from tests.integration.conftest import ROOT, free_port_range

pytestmark = pytest.mark.integration


def bakong(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_down_stops_a_node_restarted_by_hand_with_its_restart_command(tmp_path: Path) -> None:
    net = tmp_path / "net"
    up = bakong("testnet", "up", "--dir", str(net), "--validators", "2", "--observers", "0", "--detach",
                "--api-port", str(free_port_range(2)), "--p2p-port", str(free_port_range(2)))
    assert up.returncode == 0, up.stdout + up.stderr
    manifest = json.loads((net / "testnet.json").read_text())
    first, second = manifest["nodes"]
    restarted = None
    try:
        os.kill(first["pid"], signal.SIGKILL)
        restarted = subprocess.Popen(shlex.split(first["restart"]), cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                if NodeClient(first["api_url"]).healthy():
                    break
            except ClientError:
                pass
            assert time.monotonic() < deadline and restarted.poll() is None, "restarted node never healthy"
            time.sleep(0.1)

        down = bakong("testnet", "down", "--dir", str(net))
        assert down.returncode == 0, down.stdout + down.stderr
        assert "stopped 2 node(s)" in down.stdout
        assert restarted.wait(timeout=15) == 0  # a clean SIGTERM shutdown
        assert not alive(second["pid"])
    finally:
        if restarted is not None and restarted.poll() is None:
            restarted.kill()
        bakong("testnet", "down", "--dir", str(net))
