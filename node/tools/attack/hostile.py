"""The attacker's tools, all bound to its own loopback address ``ATTACKER`` (127.0.0.2), so a node that
keeps per-client shares can tell it from the honest clients on 127.0.0.1. Nothing here leaves loopback:
every target is checked to be a 127.0.0.x address first."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import msgpack

ATTACKER = "127.0.0.2"
HONEST_OTHER = "127.0.0.3"
"""A second honest client's address (``ws_slots``: someone other than the attacker subscribes)."""


def loopback(host: str) -> str:
    if not host.startswith("127."):
        raise ValueError(f"attack target {host} is not a loopback address")
    return host


def host_port(url_or_address: str) -> tuple[str, int]:
    """``http://127.0.0.1:8100`` or ``127.0.0.1:7100`` -> (host, port), loopback only."""
    if "://" in url_or_address:
        parts = urlsplit(url_or_address)
        return loopback(parts.hostname or ""), int(parts.port or 80)
    host, port = url_or_address.rsplit(":", 1)
    return loopback(host), int(port)


def post(api_url: str, path: str, body: Any, *, msgpack_body: bool = False, timeout: float = 60.0,
         source: str = ATTACKER) -> tuple[int, Any]:
    """One POST from ``source``; (status, decoded JSON answer). ``(0, reason)`` when it could not be
    delivered (reset, timeout): an attacker does not care, the figures do."""
    host, port = host_port(api_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0))
    data = msgpack.packb(body) if msgpack_body else json.dumps(body).encode()
    ctype = "application/msgpack" if msgpack_body else "application/json"
    try:
        conn.request("POST", path, body=data, headers={"Content-Type": ctype})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw or b"null")
        except ValueError:
            return resp.status, raw[:200].decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return 0, exc.__class__.__name__
    finally:
        conn.close()


def open_idle(host: str, port: int, count: int, source: str = ATTACKER, timeout: float = 2.0) -> list[socket.socket]:
    """Up to ``count`` TCP connections to (host, port) from ``source`` that never send a byte."""
    loopback(host)
    out: list[socket.socket] = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(timeout)
        try:
            s.bind((source, 0))
            s.connect((host, port))
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        out.append(s)
    return out


def closed_by_peer(socks: list[socket.socket]) -> list[socket.socket]:
    """The sockets the other side has closed (readable with nothing to read, or reset)."""
    gone: list[socket.socket] = []
    for i in range(0, len(socks), 500):  # select() takes at most FD_SETSIZE descriptors: poll instead
        chunk = socks[i:i + 500]
        poller = select.poll()
        by_fd = {s.fileno(): s for s in chunk}
        for fd in by_fd:
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        for fd, _ in poller.poll(0):
            s = by_fd[fd]
            try:
                if s.recv(1) == b"":
                    gone.append(s)
            except BlockingIOError:
                pass
            except OSError:
                gone.append(s)
    return gone


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class SlotHog:
    """Keeps ``per_target`` silent connections open to each target from ``source``, re-opening every
    one the target closes, until stopped: how a stranger holds pending-handshake or connection slots."""

    def __init__(self, targets: list[tuple[str, int]], per_target: int, source: str = ATTACKER) -> None:
        self.targets = [(loopback(h), p) for h, p in targets]
        self.per_target = per_target
        self.source = source
        self.opened = 0
        self.closed_by_target = 0
        self._socks: dict[tuple[str, int], list[socket.socket]] = {t: [] for t in self.targets}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for socks in self._socks.values():
            close_all(socks)

    def _run(self) -> None:
        while not self._stop.is_set():
            for target, socks in self._socks.items():
                gone = closed_by_peer(socks)
                if gone:
                    self.closed_by_target += len(gone)
                    close_all(gone)
                    dead = set(map(id, gone))
                    socks[:] = [s for s in socks if id(s) not in dead]
                fresh = open_idle(target[0], target[1], self.per_target - len(socks), self.source, timeout=0.5)
                self.opened += len(fresh)
                socks.extend(fresh)
            time.sleep(0.1)
