"""Fixtures that start real node processes on loopback (127.0.0.1 only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.client import NodeClient
from node.keyfile import read_key
from node.testnet import TestnetNode, init_testnet, start_node

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningNet:
    dir: Path
    nodes: list[TestnetNode]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def client(self, name: str | None = None) -> NodeClient:
        node = self.nodes[0] if name is None else next(n for n in self.nodes if n.name == name)
        return NodeClient(node.api_url)

    def key(self, account: str) -> KeyPair:
        return read_key(self.dir / "keys" / f"{account}.key")

    def key_path(self, account: str) -> str:
        return str(self.dir / "keys" / f"{account}.key")

    def start(self, node: TestnetNode) -> None:
        self.procs[node.name] = start_node(self.dir, node)
        client = NodeClient(node.api_url)
        deadline = time.monotonic() + 30
        while not client.healthy():
            proc = self.procs[node.name]
            if proc.poll() is not None:
                log = (self.dir / "logs" / f"{node.name}.log").read_text()[-2000:]
                raise RuntimeError(f"node {node.name} exited with {proc.returncode}:\n{log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.name} not healthy in 30 s")
            time.sleep(0.05)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=15)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            del self.procs[name]

    def cli(self, *args: str, node: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real ``bakong`` CLI against a node."""
        url = self.client(node).url
        env = {**os.environ, "BAKONG_NODE": url, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, env=env,
                              timeout=60)


@pytest.fixture
def single_node(tmp_path: Path) -> Iterator[RunningNet]:
    api, p2p = free_port(), free_port()
    nodes = init_testnet(tmp_path / "net", validators=1, base_port=api, p2p_base_port=p2p,
                         block={"batch_wait_ms": 20, "max_block_interval_ms": 500})
    net = RunningNet(tmp_path / "net", nodes)
    net.start(nodes[0])
    try:
        yield net
    finally:
        net.stop_all()
