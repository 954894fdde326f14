"""The testnet a chaos campaign runs on, and the moves that act on its processes.

Four validators and an observer on loopback, each its own OS process, with fast block and round
timeouts (so a short campaign sees many heights) and ``[testing] fault_injection`` on. The set of
*live* nodes is what the load thread and the probes may talk to: a node is taken out of it before a
signal reaches it and put back only once it answers ``/v1/status`` again, so a stopped node is never
blamed for an error the campaign caused itself.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from pathlib import Path

from node.api.client import ClientError, NodeClient
from node.tools.testnet import TestnetNode, free_port_base, init_testnet, start_node, write_manifest
from node.tools.testnet_control import stop, wait_healthy

FAST_BLOCK = {"batch_wait_ms": 20, "max_block_interval_ms": 500}
FAST_CONSENSUS = {"propose_timeout_ms": 1000, "prevote_timeout_ms": 300, "precommit_timeout_ms": 300,
                  "timeout_delta_ms": 200}
ACCOUNTS = 200
"""Funded bench accounts the load pays between (and whose balances the money check sums)."""
BYZANTINE_NODE = "wing"
STOP_TIMEOUT_S = 15.0


class ChaosNet:
    """The campaign's nodes, their processes, and which of them are live."""

    def __init__(self, directory: Path, byzantine_mode: str) -> None:
        self.dir = directory
        self.byzantine_mode = byzantine_mode
        self.byzantine = BYZANTINE_NODE if byzantine_mode else None
        self.nodes: list[TestnetNode] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.live: set[str] = set()
        self._live_lock = threading.Lock()  # the load and poller threads read it while perturbations write

    # ---- setup and teardown ----

    def write(self) -> None:
        """Genesis, keys and configs for 4 validators + 1 observer, on free ports."""
        n = 5
        api, p2p = free_port_base(n), free_port_base(n)
        while abs(api - p2p) < n:
            p2p = free_port_base(n)
        self.nodes = init_testnet(self.dir, validators=4, observers=1, base_port=api, p2p_base_port=p2p,
                                  extra_accounts=ACCOUNTS, block=FAST_BLOCK)
        for node in self.nodes:
            with node.config.open("a") as f:
                f.write("\n[consensus]\n" + "".join(f"{k} = {v}\n" for k, v in FAST_CONSENSUS.items()))
                f.write("\n[testing]\nfault_injection = true\n")
                if node.name == self.byzantine:
                    f.write(f'byzantine = "{self.byzantine_mode}"\n')

    def start_all(self) -> None:
        for node in self.nodes:
            self._start(node)
        wait_healthy(self.nodes, self.procs, self.dir)
        self.live = {n.name for n in self.nodes}

    def close(self, remove: bool) -> None:
        """Stop every node (a paused one is resumed first, or SIGTERM would wait on it) and, if asked,
        delete the directory."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
        stop(self.procs.values())
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- who is who ----

    def node(self, name: str) -> TestnetNode:
        return next(n for n in self.nodes if n.name == name)

    def honest_validators(self) -> list[str]:
        return [n.name for n in self.nodes if n.role == "validator" and n.name != self.byzantine]

    def observers(self) -> list[str]:
        return [n.name for n in self.nodes if n.role == "observer"]

    def client(self, node: TestnetNode, timeout: float = 2.0) -> NodeClient:
        return NodeClient(node.api_url, timeout=timeout)

    def live_nodes(self) -> list[TestnetNode]:
        with self._live_lock:
            return [n for n in self.nodes if n.name in self.live]

    def honest_live_nodes(self) -> list[TestnetNode]:
        """Where the load and the status probes go: a Byzantine node's answers prove nothing."""
        return [n for n in self.live_nodes() if n.name != self.byzantine]

    def set_live(self, name: str, up: bool) -> None:
        with self._live_lock:
            (self.live.add if up else self.live.discard)(name)

    def heights(self) -> dict[str, int]:
        """The committed height of every live node that answers."""
        out = {}
        for n in self.live_nodes():
            try:
                out[n.name] = int(self.client(n, 1.0).status()["height"])
            except (ClientError, KeyError, ValueError):
                pass
        return out

    def max_height(self) -> int:
        return max(self.heights().values(), default=0)

    # ---- process moves ----

    def _start(self, node: TestnetNode) -> None:
        self.procs[node.name] = start_node(self.dir, node)
        write_manifest(self.dir, self.nodes, {k: p.pid for k, p in self.procs.items() if p.poll() is None})

    def send(self, name: str, sig: int) -> None:
        """Take ``name`` out of the live set, then send ``sig``; for SIGKILL/SIGTERM wait for the exit
        (a SIGTERM that hangs becomes a SIGKILL)."""
        proc = self.procs[name]
        self.set_live(name, False)
        if proc.poll() is None:
            proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.wait_exit(name)

    def wait_exit(self, name: str) -> None:
        proc = self.procs[name]
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def resume(self, name: str) -> None:
        """SIGCONT a paused node; the caller marks it live (its process never went away, no health wait)."""
        self.procs[name].send_signal(signal.SIGCONT)

    def restart(self, names: list[str]) -> None:
        for name in names:
            self._start(self.node(name))
        nodes = [self.node(n) for n in names]
        wait_healthy(nodes, {n: self.procs[n] for n in names}, self.dir, timeout=60)
        for name in names:
            self.set_live(name, True)
