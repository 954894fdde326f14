"""``bakong testnet up`` / ``down``: run a local network of node processes and stop it again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from node.api.client import NodeClient
from node.assembly import PID_FILE
from node.config import ConfigError, load_config
from node.tools.testnet import TestnetNode, init_testnet, load_nodes, load_pids, start_node, write_manifest


class TestnetError(RuntimeError):
    code = "testnet_error"


@dataclass(frozen=True)
class Shape:
    """A testnet's sizes and where its ports start (``init_testnet`` numbers them up from there)."""

    validators: int
    observers: int
    api_port: int
    p2p_port: int

    def describe(self) -> str:
        return (f"{self.validators} validators + {self.observers} observers "
                f"(API port {self.api_port}, p2p port {self.p2p_port})")


DEFAULT_SHAPE = Shape(validators=4, observers=1, api_port=8100, p2p_port=7100)


def existing_shape(directory: Path) -> Shape | None:
    """The network ``directory`` holds, read from its ``testnet.json`` (None: it holds none)."""
    if not (directory / "testnet.json").exists():
        return None
    nodes = load_nodes(directory)
    return Shape(validators=sum(n.role == "validator" for n in nodes),
                 observers=sum(n.role == "observer" for n in nodes),
                 api_port=int(nodes[0].api_url.rsplit(":", 1)[1]),
                 p2p_port=int(nodes[0].p2p_address.rsplit(":", 1)[1]))


def resolve_shape(directory: Path, *, validators: int | None = None, observers: int | None = None,
                  api_port: int | None = None, p2p_port: int | None = None) -> Shape:
    """The network ``up`` starts in ``directory``: the one it holds, or a new one of the flags given
    (defaults for the rest). A flag that contradicts the existing network is refused: starting the old
    network under a line that names the sizes asked for misleads the operator (issue 16)."""
    asked = {k: v for k, v in (("validators", validators), ("observers", observers), ("api_port", api_port),
                               ("p2p_port", p2p_port)) if v is not None}
    existing = existing_shape(directory)
    if existing is None:
        return replace(DEFAULT_SHAPE, **asked)
    differs = [f"--{k.replace('_', '-')} {v}" for k, v in asked.items() if getattr(existing, k) != v]
    if differs:
        raise TestnetError(f"{directory} holds a network of {existing.describe()}; asked for {', '.join(differs)}: "
                           "leave those flags out to start it as it is, or use another --dir")
    return existing


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
    """Create the network's files if missing, start every node, wait until all are healthy. An existing
    network must match the sizes and ports asked for (``resolve_shape``)."""
    shape = resolve_shape(directory, validators=validators, observers=observers, api_port=api_port,
                          p2p_port=p2p_port)
    if not (directory / "testnet.json").exists():
        init_testnet(directory, validators=shape.validators, observers=shape.observers, base_port=shape.api_port,
                     p2p_base_port=shape.p2p_port)
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
            print(f"  {n.name:8} {n.role:9} api {n.api_url:24} p2p {n.p2p_address:16} torii {n.torii or '-':16} "
                  f"pid {procs[n.name].pid}")
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
    """Running, not merely unreaped: a node that exited but whose parent (a supervisor, a test, a shell
    script holding it) has not waited for it yet is a zombie, which signal 0 still reaches; waiting for
    it to go would always run into the timeout."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): signal 0 is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # the state field follows the parenthesised name


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # it exited on its own in between


def _is_node_process(pid: int, node: TestnetNode) -> bool:
    """True if ``pid`` runs this node (its command line names the node's config): a pid from a stale
    manifest that the system has since given to another program is left alone."""
    try:
        return str(node.config.resolve()).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _node_pids(node: TestnetNode, listed: int | None) -> set[int]:
    """The node's processes: the one ``testnet.json`` lists and the one its pid file names (a node
    restarted by hand with its restart command is only in the latter)."""
    candidates = {listed} if listed else set()
    try:
        candidates.add(int((load_config(node.config).data_dir / PID_FILE).read_text()))
    except (OSError, ValueError, ConfigError):
        pass
    return {pid for pid in candidates if _is_node_process(pid, node)}


def down(directory: Path, timeout: float = 10.0) -> int:
    """Stop every node of the testnet (SIGTERM, then SIGKILL after ``timeout``), however it was started."""
    if not (directory / "testnet.json").exists():
        raise TestnetError(f"no testnet in {directory}")
    listed = load_pids(directory)
    pids = {pid for node in load_nodes(directory) for pid in _node_pids(node, listed.get(node.name))}
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    write_manifest(directory, load_nodes(directory), {})
    return len(pids)
