"""``bakong testnet up`` / ``down``: run a local network of node processes and stop it again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from node.client import NodeClient
from node.testnet import TestnetNode, init_testnet, load_nodes, load_pids, start_node, write_manifest


class TestnetError(RuntimeError):
    code = "testnet_error"


def wait_healthy(nodes: list[TestnetNode], procs: dict[str, subprocess.Popen[bytes]], directory: Path,
                 timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending:
        for n in list(pending):
            proc = procs.get(n.name)
            if proc is not None and proc.poll() is not None:
                tail = (directory / "logs" / f"{n.name}.log").read_text()[-800:]
                raise TestnetError(f"node {n.name} exited with code {proc.returncode}:\n{tail}")
            if NodeClient(n.api_url, timeout=2).healthy():
                pending.remove(n)
        if pending and time.monotonic() > deadline:
            raise TestnetError(f"nodes not healthy after {timeout:.0f} s: {', '.join(n.name for n in pending)}")
        time.sleep(0.1)


def up(directory: Path, *, validators: int, observers: int, api_port: int, p2p_port: int,
       quiet: bool = False) -> tuple[list[TestnetNode], dict[str, subprocess.Popen[bytes]]]:
    """Create the network's files if missing, start every node, wait until all are healthy."""
    if not (directory / "testnet.json").exists():
        init_testnet(directory, validators=validators, observers=observers, base_port=api_port, p2p_base_port=p2p_port)
    nodes = load_nodes(directory)
    running = {name for name, pid in load_pids(directory).items() if _alive(pid)}
    if running:
        raise TestnetError(f"nodes already running in {directory}: {', '.join(sorted(running))} (bakong testnet down)")
    procs = {n.name: start_node(directory, n) for n in nodes}
    write_manifest(directory, nodes, {name: p.pid for name, p in procs.items()})
    try:
        wait_healthy(nodes, procs, directory)
    except BaseException:
        stop(procs.values())
        raise
    if not quiet:
        for n in nodes:
            print(f"  {n.name:8} {n.role:9} api {n.api_url:24} p2p {n.p2p_address:16} pid {procs[n.name].pid}")
    return nodes, procs


def stop(procs: object, timeout: float = 10.0) -> None:
    items = list(procs)  # type: ignore[call-overload]
    for p in items:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in items:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def down(directory: Path, timeout: float = 10.0) -> int:
    """Stop every node listed in ``testnet.json`` (SIGTERM, then SIGKILL after ``timeout``)."""
    if not (directory / "testnet.json").exists():
        raise TestnetError(f"no testnet in {directory}")
    pids = {name: pid for name, pid in load_pids(directory).items() if _alive(pid)}
    for pid in pids.values():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids.values():
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    write_manifest(directory, load_nodes(directory), {})
    return len(pids)
