"""Authenticated, encrypted node-to-node transport over asyncio TCP.

Wire format, handshake and key schedule are in ``node/p2p/frames.py`` and ``node/p2p/handshake.py``
(and docs/p2p.md); this module owns connections: accepting, dialing with backoff, duplicate resolution,
per-connection send queues, fault injection and counters. Payloads are opaque bytes to it.

API (everything runs on one event loop; call the sync methods from that loop):

``Transport(chain_id, key, is_allowed, on_message, *, max_frame=DEFAULT_MAX_FRAME, on_connect=None,
on_disconnect=None, handshake_timeout=5.0, inbound_handshake_timeout=2.0, max_queue_frames=10_000,
max_queue_bytes=64 MiB, max_pending_handshakes=64, max_pending_per_address=8, backoff_initial=0.2,
backoff_max=10.0)``
  ``is_allowed(public_key) -> bool`` is asked at every handshake (the peer set changes at runtime), on
  both the accepting and the dialing side. ``on_message(peer_public_key, payload)`` is called from the
  event loop for every decrypted frame, in order per peer; it must not block. ``on_connect(key)`` /
  ``on_disconnect(key)`` fire when a peer gains its first / loses its last connection.
``await start(host, port) -> (host, port)``  listen (port 0 picks a free port; ``address`` has it).
``add_peer(public_key, host, port)``  dial and keep the link up: reconnect forever with exponential
  backoff and jitter until ``remove_peer``/``close``. Only ``public_key`` is accepted at that address.
``remove_peer(public_key)``  stop dialing it and close its connection (inbound or outbound). It may
  still connect to us while ``is_allowed`` says yes.
``send(public_key, payload) -> bool``  queue for one peer; False when not connected. Raises
  :class:`PayloadTooLarge` for a payload that cannot fit a frame (our caller's bug, not the peer's).
``broadcast(payload, exclude=None) -> int``  queue for every connected peer; returns how many.
``connected() -> set[bytes]``, ``counters`` (:class:`TransportCounters`), ``await close()``.
``isolated`` (default False): fault injection for tests and chaos runs; while True every inbound and
  outbound payload is silently dropped (``send`` still answers True) and connections stay up.

Policies:
- Send queues are per connection and bounded by ``max_queue_frames`` and ``max_queue_bytes``; when full,
  the *oldest* queued payloads are dropped (counted in ``queue_drops``). Consensus messages are
  superseded by newer ones and the protocol re-sends on timeouts, so the newest matter most; a slow
  peer never blocks the loop or grows our memory.
- Duplicate connections to one peer (both dialed at once, or a restarted peer redialing before we saw
  the old link die) resolve to one: keep the connection dialed by the lower public key; if both were
  dialed by the same side, the newer one wins (the older is probably stale). Both sides apply the same
  rule, so they keep the same connection. When a newer link replaces an older one, the older one's
  unsent queue moves over; a frame already in flight on a closed connection may be lost.
- A duplicate refused while the link we kept goes on delivering means two live processes hold that
  peer's key (a copied key the signing guard cannot see: ``node/p2p/key_clash.py``): counted in
  ``key_clashes`` and logged at WARNING, at most once per key per two minutes.
- Inbound connections in their handshake are unauthenticated (anyone can open them), so they are
  bounded three ways, and one source cannot keep the peer set out (review finding 11: one stranger
  holding all 64 slots made restarted validators take ~50 s to reconnect):
  * one source address holds at most ``max_pending_per_address`` of them; past that its new ones are
    closed on arrival (``refused_connections``);
  * all sources together hold at most ``max_pending_handshakes``, except the addresses we dial
    ourselves (``add_peer``: the other validators), which keep their per-address share even when the
    rest is full, so strangers from many addresses cannot stop the validators reconnecting;
  * an inbound handshake must finish within ``inbound_handshake_timeout`` (never longer than
    ``handshake_timeout``); an honest one takes two round trips, a silent socket loses its slot soon.
  Our own dials use none of these slots. Authenticated links are bounded by the peer set.
- Connections use TCP keepalive (15 s idle, 3 probes 5 s apart) so a vanished host is noticed.
- A peer that misbehaves (garbage, oversized frame, failed decryption, bad handshake) is disconnected,
  logged at info and counted; the transport carries on. An exception raised by our own callbacks or
  code is counted in ``internal_errors`` and passed to the loop's exception handler, so it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final

from consensus.crypto import KeyPair
from node.p2p.errors import FrameError, HandshakeError, PayloadTooLarge, PeerClosed
from node.p2p.frames import (
    AEAD_TAG_BYTES,
    DEFAULT_MAX_FRAME,
    HEADER,
    encode_frame,
    read_frame,
)
from node.p2p.handshake import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    KEY_REFUSAL_CODES,
    Role,
    Session,
    perform_handshake,
)
from node.p2p.key_clash import KeyClashWatch
from node.p2p.link import PeerLink, TransportCounters

log = logging.getLogger("bakong.p2p")

DEFAULT_MAX_QUEUE_FRAMES: Final = 10_000
DEFAULT_MAX_QUEUE_BYTES: Final = 64 * 1024 * 1024
# Inbound connections still in their handshake (unauthenticated: anyone can open them). Past this many,
# a new one is closed at once, so strangers holding sockets open cannot exhaust our file descriptors or
# memory; each pending one ends within the inbound handshake timeout. A peer set is tens of banks.
DEFAULT_MAX_PENDING_HANDSHAKES: Final = 64
# One source address's share of those: a peer needs one at a time (two when it redials while a stale
# attempt is still pending), so a stranger on one address cannot take the pool from everyone else.
DEFAULT_MAX_PENDING_PER_ADDRESS: Final = 8
# An honest inbound handshake is two round trips and two signatures: milliseconds. A socket that says
# nothing is dropped after this, not after the full (outbound) handshake timeout.
DEFAULT_INBOUND_HANDSHAKE_TIMEOUT: Final = 2.0
_CONNECT_TIMEOUT: Final = 5.0


class Transport:
    def __init__(
        self,
        chain_id: str,
        key: KeyPair,
        is_allowed: Callable[[bytes], bool],
        on_message: Callable[[bytes, bytes], None],
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        on_connect: Callable[[bytes], None] | None = None,
        on_disconnect: Callable[[bytes], None] | None = None,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        inbound_handshake_timeout: float = DEFAULT_INBOUND_HANDSHAKE_TIMEOUT,
        max_queue_frames: int = DEFAULT_MAX_QUEUE_FRAMES,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        max_pending_handshakes: int = DEFAULT_MAX_PENDING_HANDSHAKES,
        max_pending_per_address: int = DEFAULT_MAX_PENDING_PER_ADDRESS,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
    ) -> None:
        if max_frame <= AEAD_TAG_BYTES or max_queue_bytes < max_frame or max_queue_frames < 1:
            raise ValueError("max_frame must exceed the AEAD tag and fit in max_queue_bytes")
        if max_pending_handshakes < 1 or max_pending_per_address < 1:
            raise ValueError("the pending-handshake limits must allow at least one")
        self.chain_id = chain_id
        self.max_frame = max_frame
        self.isolated = False
        self.counters = TransportCounters()
        self.key_clashes = KeyClashWatch()
        self._key = key
        self._public_key = key.public_key
        self._is_allowed = is_allowed
        self._on_message = on_message
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._handshake_timeout = handshake_timeout
        self._inbound_handshake_timeout = min(handshake_timeout, inbound_handshake_timeout)
        self._max_queue_frames = max_queue_frames
        self._max_queue_bytes = max_queue_bytes
        self._max_pending_handshakes = max_pending_handshakes
        self._max_pending_per_address = max_pending_per_address
        self._pending_handshakes = 0
        self._pending_by_address: Counter[str] = Counter()
        self._dialed_hosts: dict[bytes, str] = {}  # peer key -> the host we dial it at (add_peer)
        self._backoff = (backoff_initial, backoff_max)
        self._links: dict[bytes, PeerLink] = {}
        self._dialers: dict[bytes, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._closing = False

    # ---- public API ----

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @property
    def address(self) -> tuple[str, int] | None:
        """Where we listen, once ``start`` has returned."""
        return self._address

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port)
        bound = self._server.sockets[0].getsockname()
        self._address = (str(bound[0]), int(bound[1]))
        return self._address

    def add_peer(self, public_key: bytes, host: str, port: int) -> None:
        if self._closing:
            raise RuntimeError("transport is closed")
        if public_key == self._public_key:
            raise ValueError("a node does not dial itself")
        previous = self._dialers.pop(public_key, None)
        if previous is not None:  # a new address for a known peer replaces the old dial loop
            previous.cancel()
        self._dialed_hosts[public_key] = host
        self._dialers[public_key] = self._spawn(self._dial_forever(public_key, host, port))

    def remove_peer(self, public_key: bytes) -> None:
        dialer = self._dialers.pop(public_key, None)
        if dialer is not None:
            dialer.cancel()
        self._dialed_hosts.pop(public_key, None)
        self.key_clashes.forget(public_key)
        link = self._links.get(public_key)
        if link is not None:
            self._drop(link, "removed")

    def send(self, public_key: bytes, payload: bytes) -> bool:
        self._check_payload(payload)
        link = self._links.get(public_key)
        if link is None:
            return False
        if self.isolated:
            self.counters.isolated_drops += 1
            return True
        self.counters.queue_drops += link.push(bytes(payload), self._max_queue_frames, self._max_queue_bytes)
        return True

    def broadcast(self, payload: bytes, exclude: Iterable[bytes] | None = None) -> int:
        skip = set(exclude or ())
        return sum(self.send(key, payload) for key in list(self._links) if key not in skip)

    def connected(self) -> set[bytes]:
        return set(self._links)

    async def close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for dialer in self._dialers.values():
            dialer.cancel()
        self._dialers.clear()
        links = list(self._links.values())
        for link in links:
            self._drop(link, "closing")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for link in links:
            with contextlib.suppress(ConnectionError):
                await link.writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    # ---- connection set-up ----

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio runs this in a task of its own; track it so close() can cancel a pending handshake.
        task = asyncio.current_task()
        if self._closing or task is None:
            writer.close()
            return
        source = _peer_host(writer)
        if not self._may_start_handshake(source):
            self.counters.refused_connections += 1
            writer.close()
            return
        self._tasks.add(task)
        self._pending_handshakes += 1
        self._pending_by_address[source] += 1
        try:
            session = await self._handshake(reader, writer, Role.RESPONDER, None)
            if session is not None:
                self._register(session, reader, writer)
        except asyncio.CancelledError:
            # close() cancelled a pending handshake. End the task normally: on Python 3.11 asyncio's own
            # done-callback for this task calls task.exception(), which raises on a cancelled task and
            # is logged as "Exception in callback" (fixed in 3.12).
            writer.close()
        finally:
            self._pending_handshakes -= 1
            self._pending_by_address[source] -= 1
            if self._pending_by_address[source] <= 0:
                del self._pending_by_address[source]
            self._tasks.discard(task)

    def _may_start_handshake(self, source: str) -> bool:
        """A new inbound connection from ``source`` may start its handshake: it is within its address's
        share, and within the shared pool unless it comes from an address we dial (a validator)."""
        if self._pending_by_address[source] >= self._max_pending_per_address:
            return False
        if self._pending_handshakes < self._max_pending_handshakes:
            return True
        return source in self._dialed_hosts.values()

    async def _dial_forever(self, public_key: bytes, host: str, port: int) -> None:
        failures = 0
        while True:
            link = self._links.get(public_key)
            if link is not None:
                await link.closed.wait()
                # A link that dies young is treated as a failure, so a peer that accepts and then
                # hangs up at once does not make us redial in a tight loop.
                young = time.monotonic() - link.opened_at < self._backoff[1]
                failures = failures + 1 if young else 0
            elif await self._dial_once(public_key, host, port):
                continue
            else:
                failures += 1
            await asyncio.sleep(self._backoff_delay(failures))

    def _backoff_delay(self, failures: int) -> float:
        initial, maximum = self._backoff
        delay = min(maximum, initial * (1 << max(0, min(failures - 1, 30))))
        return delay * random.uniform(0.5, 1.0)  # jitter keeps restarted nodes from redialing in step

    async def _dial_once(self, public_key: bytes, host: str, port: int) -> bool:
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            self.counters.dial_failures += 1
            log.debug("dial %s at %s:%d failed: %s", public_key.hex()[:16], host, port, exc)
            return False
        session = await self._handshake(reader, writer, Role.INITIATOR, public_key)
        return session is not None and self._register(session, reader, writer) is not None

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, role: Role,
                         expected_key: bytes | None) -> Session | None:
        timeout = self._handshake_timeout if role is Role.INITIATOR else self._inbound_handshake_timeout
        try:
            session = await perform_handshake(
                reader, writer, role=role, chain_id=self.chain_id, key=self._key,
                is_allowed=self._is_allowed, expected_key=expected_key, timeout=timeout,
            )
        except HandshakeError as exc:
            self._count_handshake_failure(exc)
            log.info("handshake (%s) with %s failed: %s", role.name.lower(), _peer_name(writer), exc)
            writer.close()
            return None
        except BaseException:  # cancelled (close / remove_peer) or our bug: do not leak the socket
            writer.close()
            raise
        self.counters.handshakes_ok += 1
        return session

    def _count_handshake_failure(self, exc: HandshakeError) -> None:
        self.counters.handshakes_failed += 1
        if exc.code in KEY_REFUSAL_CODES:
            self.counters.refused_keys += 1
        elif exc.code in ("bad_frame", "malformed"):
            self.counters.bad_frames += 1

    def _register(self, session: Session, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> PeerLink | None:
        """Make a handshaken connection the peer's link, unless the duplicate rule keeps another."""
        if self._closing:
            writer.close()
            return None
        if not self._is_allowed(session.peer_key):
            # Removed from the peer set while the handshake was in flight: remove_peer already ran
            # and would never drop a link registered after it.
            self.counters.refused_keys += 1
            log.info("refusing %s: removed from the peer set during the handshake",
                     session.peer_key.hex()[:16])
            writer.close()
            return None
        link = PeerLink(session, reader, writer, session.initiator_key(self._public_key))
        current = self._links.get(link.peer_key)
        if current is not None:
            self.counters.duplicate_connections += 1
            if self._preferred(current, link) is current:
                self.key_clashes.refused(link.peer_key, current.opened_at, _peer_name(writer),
                                         _peer_name(current.writer), time.monotonic())
                writer.close()
                return None
            self.key_clashes.link_lost(link.peer_key)
            link.take_queue_from(current)  # still plaintext, so nothing is lost or nonce-skipped
            self._shutdown(current)  # swapped silently: the peer stays connected throughout
        _enable_keepalive(writer)
        self._links[link.peer_key] = link
        link.tasks = [self._spawn(self._read_loop(link), link), self._spawn(self._write_loop(link), link)]
        if current is None:
            log.info("peer %s up (%s)", link.peer_key.hex()[:16], _peer_name(writer))
            self._call("on_connect", self._on_connect, link.peer_key)
        return link

    def _preferred(self, current: PeerLink, new: PeerLink) -> PeerLink:
        lower = min(self._public_key, new.peer_key)
        if (current.initiator_key == lower) != (new.initiator_key == lower):
            return current if current.initiator_key == lower else new
        return new

    # ---- per-connection loops ----

    async def _read_loop(self, link: PeerLink) -> None:
        try:
            # Checked every frame: a callback may have removed this peer while frames were buffered.
            while not link.closed.is_set():
                body = await read_frame(link.reader, self.max_frame)
                payload = link.session.receiver.open(body)
                self.counters.frames_in += 1
                self.counters.bytes_in += HEADER.size + len(body)
                if self.key_clashes.watching(link.peer_key):
                    self._check_key_clash(link.peer_key)
                if self.isolated:
                    self.counters.isolated_drops += 1
                    continue
                self._call("on_message", self._on_message, link.peer_key, payload)
        except FrameError as exc:
            self.counters.bad_frames += 1
            log.info("dropping %s: bad frame (%s)", link.peer_key.hex()[:16], exc)
        except (PeerClosed, ConnectionError) as exc:
            self._drop(link, f"disconnected ({exc or exc.__class__.__name__})")
            return
        self._drop(link, "read side ended")

    def _check_key_clash(self, key: bytes) -> None:
        clash = self.key_clashes.delivered(key, time.monotonic())
        if clash is None:
            return
        self.counters.key_clashes += 1
        if clash.report:
            log.warning("peer %s: two live processes hold its node key: %d connections with it (the last "
                        "from %s) were refused in the last %.0f s while the link to %s kept delivering. A copied "
                        "key? Find and stop the other process (docs/health.md, \"Signing safety\")",
                        key.hex()[:16], clash.seen, clash.refused_address, self.key_clashes.window_s,
                        clash.kept_address)

    async def _write_loop(self, link: PeerLink) -> None:
        try:
            while True:
                # Encrypt here, in queue order, not in send(): a payload dropped from the queue must
                # never have consumed a nonce, or the receiver's counter would fall out of step.
                body = link.session.sender.seal(await link.next_payload())
                link.writer.write(encode_frame(body))
                self.counters.frames_out += 1
                self.counters.bytes_out += HEADER.size + len(body)
                await link.writer.drain()  # back-pressure per connection, never for the whole loop
        except ConnectionError as exc:
            log.debug("write to %s failed: %s", link.peer_key.hex()[:16], exc)
        self._drop(link, "write side ended")

    # ---- teardown and helpers ----

    def _drop(self, link: PeerLink, reason: str) -> None:
        if self._links.get(link.peer_key) is link:
            del self._links[link.peer_key]
            self.key_clashes.link_lost(link.peer_key)
            # An operator's first question when consensus stalls is "who is gone, and why": INFO.
            log.info("peer %s down: %s", link.peer_key.hex()[:16], reason)
            self._call("on_disconnect", self._on_disconnect, link.peer_key)
        self._shutdown(link)

    def _shutdown(self, link: PeerLink) -> None:
        if link.closed.is_set():
            return
        link.closed.set()
        me = asyncio.current_task()
        for task in link.tasks:
            if task is not me:
                task.cancel()
        link.writer.close()

    def _spawn(self, coro: Coroutine[Any, Any, None], link: PeerLink | None = None) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, link))
        return task

    def _task_done(self, task: asyncio.Task[None], link: PeerLink | None) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        # Peer faults are handled inside the loops, so anything reaching here is our own bug.
        self._report("transport task failed", task.exception())
        if link is not None:
            self._drop(link, "internal error")

    def _call(self, what: str, callback: Callable[..., None] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as exc:  # noqa: BLE001 - a caller's bug must not kill the link; reported below
            self._report(f"{what} callback raised", exc)

    def _report(self, message: str, exc: BaseException | None) -> None:
        self.counters.internal_errors += 1
        asyncio.get_running_loop().call_exception_handler({"message": message, "exception": exc})

    def _check_payload(self, payload: bytes) -> None:
        if len(payload) + AEAD_TAG_BYTES > self.max_frame:
            raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds the frame cap {self.max_frame}")


def _peer_host(writer: asyncio.StreamWriter) -> str:
    """The source address of a connection, the unit of the pending-handshake share."""
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unknown peer"


def _enable_keepalive(writer: asyncio.StreamWriter) -> None:
    """Let the kernel notice a peer host that vanished without a FIN (power loss, partition)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):  # Linux names; elsewhere the system defaults apply
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
