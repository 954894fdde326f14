"""Fixtures that start real node processes on loopback (127.0.0.1 only)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.api.client import ClientError, NodeClient
from node.config import load_config
from node.keyfile import read_key
from node.tools.testnet import TestnetNode, free_port_base, init_testnet, start_node

ROOT = Path(__file__).resolve().parents[2]
# Short heartbeat and round timeouts so a multi-node test sees many heights and rounds in seconds.
FAST_BLOCK = {"batch_wait_ms": 20, "max_block_interval_ms": 500}
FAST_CONSENSUS = {"propose_timeout_ms": 1000, "prevote_timeout_ms": 300, "precommit_timeout_ms": 300,
                  "timeout_delta_ms": 200}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(count: int) -> int:
    return free_port_base(count)


def add_consensus_section(config: Path, timeouts: dict[str, int]) -> None:
    """Append a [consensus] table to a node config that init_testnet wrote (it ends with [block])."""
    with config.open("a") as f:
        f.write("\n[consensus]\n" + "".join(f"{k} = {v}\n" for k, v in timeouts.items()))


class NodeExited(RuntimeError):
    def __init__(self, name: str, code: int, log: str) -> None:
        super().__init__(f"node {name} exited with {code}:\n{log}")
        self.log = log


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
        self.start_all([node])

    def start_all(self, nodes: list[TestnetNode] | None = None, timeout: float = 30.0) -> None:
        """Start several nodes at once (so they boot in parallel), then wait until each is healthy."""
        todo = self.nodes if nodes is None else nodes
        for node in todo:
            self.procs[node.name] = start_node(self.dir, node)
        deadline = time.monotonic() + timeout
        for node in todo:
            self._wait_ready(node, deadline, timeout)

    def _wait_ready(self, node: TestnetNode, deadline: float, timeout: float) -> None:
        # Ready means *this* process answers: on a busy machine another node may hold the port, and
        # its /healthz must not pass for ours (ours then exits with "address already in use").
        expected = read_key(load_config(node.config).key_path).public_key.hex()
        client = NodeClient(node.api_url)
        while True:
            proc = self.procs[node.name]
            if proc.poll() is not None:
                raise NodeExited(node.name, proc.returncode, self.log(node.name)[-2000:])
            try:
                if client.healthy() and client.status()["public_key"] == expected:
                    return
            except ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.name} not healthy in {timeout} s")
            time.sleep(0.05)

    def node(self, name: str) -> TestnetNode:
        return next(n for n in self.nodes if n.name == name)

    def log(self, name: str) -> str:
        return (self.dir / "logs" / f"{name}.log").read_text(errors="replace")

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


def lowest_key_validator(genesis: Path, validators: list[str]) -> str:
    """Of ``validators``, the one whose node key sorts lowest in ``genesis``: the one whose key a second
    process can share and be heard. The transport keeps, of two connections to one peer, the one dialed by
    the lower key, so only for this validator do its peers keep the connections its own processes dial,
    and take each process's newest in turn. A second process with any other validator's key loses, at
    every peer whose key is lower, to the connection that peer dials to the original's address; with the
    highest key it can be refused by everyone, never sync and never be heard (the twin and copied-key
    tests' CI flakes: docs/health.md, "Signing safety")."""
    peers: list[dict[str, str]] = json.loads(genesis.read_text())["peers"]
    return min((p["public_key"], p["name"]) for p in peers if p["name"] in validators)[1]


@pytest.fixture
def single_node(tmp_path: Path) -> Iterator[RunningNet]:
    for attempt in range(3):  # a free port can be taken before the node binds it (CI saw it): fresh ports
        api, p2p = free_port(), free_port()
        nodes = init_testnet(tmp_path / "net", validators=1, base_port=api, p2p_base_port=p2p,
                             block={"batch_wait_ms": 20, "max_block_interval_ms": 500})
        net = RunningNet(tmp_path / "net", nodes)
        try:
            net.start(nodes[0])
            break
        except NodeExited as exc:
            net.stop_all()
            if "address already in use" not in exc.log or attempt == 2:
                raise
            shutil.rmtree(tmp_path / "net")
    try:
        yield net
    finally:
        net.stop_all()


def start_network(directory: Path, validators: int = 4, observers: int = 1,
                  configure: Callable[[TestnetNode], None] | None = None) -> RunningNet:
    """A loopback network of separate node processes with fast timeouts, every node healthy. Ports
    are checked free before the nodes bind them, so another test run can take one in between: then
    the network is made again on fresh ports."""
    count = validators + observers
    for attempt in range(3):
        nodes = init_testnet(directory, validators=validators, observers=observers,
                             base_port=free_port_range(count), p2p_base_port=free_port_range(count),
                             block=FAST_BLOCK)
        for node in nodes:
            add_consensus_section(node.config, FAST_CONSENSUS)
            if configure is not None:
                configure(node)
        net = RunningNet(directory, nodes)
        try:
            net.start_all()
            return net
        except NodeExited as exc:
            net.stop_all()
            if "address already in use" not in exc.log or attempt == 2:
                raise
            shutil.rmtree(directory)
        except BaseException:
            net.stop_all()
            raise
    raise AssertionError("unreachable")


@pytest.fixture
def network(tmp_path: Path) -> Iterator[RunningNet]:
    """4 validators (nbc, aclb, abaa, wing) + 1 observer (ftb), each its own process; for tests that
    kill nodes or change the peer set."""
    net = start_network(tmp_path / "net")
    try:
        yield net
    finally:
        net.stop_all()


@pytest.fixture(scope="module")
def shared_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNet]:
    """The same 4 + 1 network, shared by a module's tests that leave every node running."""
    net = start_network(tmp_path_factory.mktemp("shared") / "net")
    try:
        yield net
    finally:
        net.stop_all()
