"""The countries: one Linux network namespace each, wired to a hub namespace by a veth pair.

Layout (``10.213.0.0/16`` exists only inside namespaces this module creates; the host's own interfaces,
addresses and routes are never touched, and nothing is created in the host's namespace)::

    hub  (<run>-hub)  harness, relay, load client;  10.213.0.(10+i)/32 on lo: node i's public address
      |- veth "kh" 10.213.1.1/24 <-> eth0 in <run>-kh (Cambodia): nbc 10.213.1.2, aclb 10.213.1.3
      |- veth "th" 10.213.2.1/24 <-> eth0 in <run>-th (Thailand): abaa 10.213.2.2
      |- veth "la" 10.213.3.1/24 <-> eth0 in <run>-la (Laos):     wing 10.213.3.2
      '- veth "vn" 10.213.4.1/24 <-> eth0 in <run>-vn (Vietnam):  ftb  10.213.4.2 (observer)

A country's default route is its hub veth, so a node dialing any public address reaches the relay,
which knows the caller's country from its source subnet. The hub reaches every node's private address
(API and p2p) directly. Rules: every namespace is named ``bkgeo<run>-<code>``; ``teardown`` (and
``cleanup_leftovers`` for a run that died) kills the processes inside them and deletes them, which
deletes their veths too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

PREFIX = "bkgeo"
NET = "10.213"
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"


class TopologyError(RuntimeError):
    code = "geo_topology"


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    nodes: tuple[str, ...]


COUNTRIES = (
    Country("kh", "Cambodia", ("nbc", "aclb")),
    Country("th", "Thailand", ("abaa",)),
    Country("la", "Laos", ("wing",)),
    Country("vn", "Vietnam", ("ftb",)),
)
"""Cambodia holds the central bank and one bank (two of the four validators); the observer is in Vietnam."""


@dataclass(frozen=True)
class Placement:
    """Where one node lives: its country's namespace, the address it listens on there, and the public
    address (the relay's, in the hub) that the genesis peer list gives for it."""

    node: str
    country: str
    namespace: str
    private_ip: str
    public_ip: str


def unavailable() -> str | None:
    """Why namespaces cannot be used here (not root, no ``ip``, ``ip netns add`` fails), or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and veth pairs)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"{PREFIX}probe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise TopologyError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Topology:
    """The namespaces and veths of one run."""

    def __init__(self, countries: tuple[Country, ...] = COUNTRIES, run_id: str | None = None) -> None:
        self.countries = countries
        self.run = run_id or secrets.token_hex(2)
        self.hub = f"{PREFIX}{self.run}-hub"
        self.placements: dict[str, Placement] = {}
        public = 10
        for c, country in enumerate(countries, start=1):
            for h, node in enumerate(country.nodes, start=2):
                self.placements[node] = Placement(node, country.code, self.namespace(country.code),
                                                  f"{NET}.{c}.{h}", f"{NET}.0.{public}")
                public += 1
        self.created: list[str] = []

    def namespace(self, code: str) -> str:
        return f"{PREFIX}{self.run}-{code}"

    def subnets(self) -> dict[str, str]:
        """Country code -> its subnet, for the relay to tell a caller's country."""
        return {country.code: f"{NET}.{c}.0/24" for c, country in enumerate(self.countries, start=1)}

    def country(self, code: str) -> Country:
        return next(c for c in self.countries if c.code == code)

    def build(self) -> None:
        """Create every namespace, veth, address and route; on any failure undo what was made."""
        try:
            self._add_namespace(self.hub)
            _ip("-n", self.hub, "link", "set", "lo", "up")
            for c, country in enumerate(self.countries, start=1):
                ns = self.namespace(country.code)
                self._add_namespace(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", self.hub, "link", "add", country.code, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("-n", self.hub, "addr", "add", f"{NET}.{c}.1/24", "dev", country.code)
                for node in country.nodes:
                    _ip("-n", ns, "addr", "add", f"{self.placements[node].private_ip}/24", "dev", "eth0")
                _ip("-n", self.hub, "link", "set", country.code, "up")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "route", "add", "default", "via", f"{NET}.{c}.1")
            for p in self.placements.values():
                _ip("-n", self.hub, "addr", "add", f"{p.public_ip}/32", "dev", "lo")
        except BaseException:
            self.teardown()
            raise

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self.created.append(name)

    def teardown(self) -> None:
        """Kill what runs inside our namespaces (never this process), then delete them."""
        for ns in reversed(self.created):
            remove_namespace(ns)
        self.created.clear()


def namespace_pids(ns: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split() if p.isdigit() and int(p) != os.getpid()]


def remove_namespace(ns: str) -> None:
    pids = namespace_pids(ns)
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = namespace_pids(ns)
        if not pids:
            break
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def leftovers() -> list[str]:
    """Namespaces a geo run created and did not delete (it was killed)."""
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.startswith(PREFIX)]


def cleanup_leftovers() -> list[str]:
    names = leftovers()
    for ns in names:
        remove_namespace(ns)
    return names


_libc = ctypes.CDLL(None, use_errno=True)


def enter(ns: str) -> int:
    """Move this thread (and every thread or process it starts later) into namespace ``ns``; returns a
    descriptor of the namespace it left, for ``leave``."""
    previous = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    _setns(os.path.join(NETNS_DIR, ns))
    return previous


def leave(previous: int) -> None:
    try:
        if _libc.setns(previous, CLONE_NEWNET) != 0:
            raise TopologyError(f"setns back failed: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(previous)


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise TopologyError(f"setns {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
