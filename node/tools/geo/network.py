"""The geo testnet: a 4+1 testnet whose nodes live in country namespaces and reach each other only
through the relay.

The genesis peer list (shared by every node, covered by the genesis hash) gives each node's *public*
address, which is the relay's in the hub; each node's config makes it listen on its *private* address
in its own namespace (p2p and API). So no node needs a hook: the relay is where every node believes
its peers are. Every node uses the same ports (its address is its own), so runs never collide with
other testnets on this machine's loopback.

The relay runs as its own process in the hub (it forwards every byte twice; the load client must not
share its core), driven by one JSON line per command on its stdin, answered by one on its stdout.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from node.tools.geo.topology import Topology
from node.tools.testnet import TestnetNode, init_testnet, node_command, write_manifest
from node.tools.testnet_control import stop, wait_healthy

API_PORT = 8100
P2P_PORT = 7100
REPO = Path(__file__).resolve().parents[3]


OPERATOR_TOKEN = secrets.token_urlsafe(24)
"""The campaign reads /v1/status and /v1/blocks/ws (operator routes) from the host, which the nodes in
their namespaces do not see as loopback: every node gets this token, and the campaign's session sends it."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["BAKONG_OPERATOR_TOKEN"] = OPERATOR_TOKEN
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def write_testnet(directory: Path, topo: Topology, accounts: int) -> list[TestnetNode]:
    """``init_testnet``'s files, then every address moved into the topology: genesis peers at their
    public (relay) address, each config listening on the node's private address."""
    names = list(topo.placements)
    nodes = init_testnet(directory, validators=4, observers=1, base_port=API_PORT, p2p_base_port=P2P_PORT,
                         extra_accounts=accounts)
    if [n.name for n in nodes] != names:
        raise ValueError(f"the topology places {names}, the testnet has {[n.name for n in nodes]}")
    genesis_path = directory / "genesis.json"
    genesis = json.loads(genesis_path.read_text())
    moved = []
    for i, node in enumerate(nodes):
        p = topo.placements[node.name]
        genesis["peers"][i]["address"] = f"{p.public_ip}:{P2P_PORT}"
        text = node.config.read_text()
        text = text.replace(f'listen = "127.0.0.1:{API_PORT + i}"', f'listen = "{p.private_ip}:{API_PORT}"')
        text = text.replace(f'listen = "127.0.0.1:{P2P_PORT + i}"', f'listen = "{p.private_ip}:{P2P_PORT}"')
        node.config.write_text(text)
        moved.append(TestnetNode(node.name, node.role, node.config, f"http://{p.private_ip}:{API_PORT}",
                                 f"{p.public_ip}:{P2P_PORT}"))
    genesis_path.write_text(json.dumps(genesis, indent=1) + "\n")
    write_manifest(directory, moved, {})
    return moved


def relay_spec(topo: Topology) -> dict[str, Any]:
    return {"subnets": topo.subnets(),
            "routes": [{"listen": [p.public_ip, P2P_PORT], "target": [p.private_ip, P2P_PORT], "country": p.country}
                       for p in topo.placements.values()]}


class GeoNet:
    """The node processes (each in its country's namespace) and the relay process (in the hub)."""

    def __init__(self, directory: Path, topo: Topology, nodes: list[TestnetNode]) -> None:
        self.dir = directory
        self.topo = topo
        self.nodes = nodes
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.relay: subprocess.Popen[str] | None = None

    def start_relay(self) -> None:
        spec = self.dir / "relay.json"
        spec.write_text(json.dumps(relay_spec(self.topo), indent=1) + "\n")
        log = (self.dir / "logs")
        log.mkdir(exist_ok=True)
        with open(log / "relay.log", "ab") as err:
            self.relay = subprocess.Popen([sys.executable, "-m", "node.tools.geo.relay_process", str(spec)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                          env=_env(), start_new_session=True)
        self.command({"op": "ping"})

    def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Send one command to the relay and return its answer."""
        relay = self.relay
        if relay is None or relay.stdin is None or relay.stdout is None:
            raise RuntimeError("the relay is not running")
        relay.stdin.write(json.dumps(cmd) + "\n")
        relay.stdin.flush()
        line = relay.stdout.readline()
        if not line:
            raise RuntimeError(f"the relay exited (code {relay.poll()}); see {self.dir / 'logs' / 'relay.log'}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"relay refused {cmd}: {answer}")
        return answer

    def start_nodes(self) -> None:
        logs = self.dir / "logs"
        for node in self.nodes:
            ns = self.topo.placements[node.name].namespace
            with open(logs / f"{node.name}.log", "ab") as log:
                # ip netns exec execs the command, so the pid is the node's own.
                self.procs[node.name] = subprocess.Popen(["ip", "netns", "exec", ns, *node_command(node.config)],
                                                         stdout=log, stderr=subprocess.STDOUT, env=_env(),
                                                         start_new_session=True)
        write_manifest(self.dir, self.nodes, {k: p.pid for k, p in self.procs.items()})
        wait_healthy(self.nodes, self.procs, self.dir, timeout=90)

    def close(self) -> None:
        stop(self.procs.values())
        if self.relay is not None and self.relay.poll() is None:
            if self.relay.stdin is not None:
                self.relay.stdin.close()
            try:
                self.relay.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()
