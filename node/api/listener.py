"""The API's listening socket: connection seats per client and in total, and a deadline for each
request's head, in front of aiohttp.

aiohttp bounds header lines and fields (8,190 bytes, 128 headers) and we bound bodies, batches and
streams, but a connection that sends nothing costs a descriptor and a task until someone closes it.
So, for every accepted connection:

- it takes a seat (``node.api.shares``): at most ``max_connections`` open, at most
  ``max_connections_per_client`` from one source address, so one client holding idle sockets locks
  out only itself. Without a seat it is answered one canned JSON 503 ``too_many_connections`` with
  Retry-After, without reading the request, half-closed, and drained for a moment before the close:
  closing a socket with unread input makes the kernel send a reset, which could destroy the answer
  before the client reads it;
- its first request's head must arrive within ``header_timeout_ms`` of the accept, or it is closed;
  after that aiohttp's keep-alive timer (``keepalive_timeout_ms``, armed after each answer) closes it
  when the next request's head is not complete in time, whether the client is silent or slow;
- the process may hold enough descriptors for all of it: the soft RLIMIT_NOFILE is raised toward the
  hard one, and when even that is too low the connection total shrinks to fit (logged). Running out
  of descriptors would make accept() fail, and clients get resets instead of answers.

Transports are typed as ``asyncio.Transport`` but never checked with isinstance: uvloop's are not
subclasses of asyncio's, and the node runs on uvloop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import ssl
from collections.abc import Callable
from typing import cast

from aiohttp import web

from node.api.shares import Refusal, Seats
from node.config import ApiConfig, ConfigError

log = logging.getLogger("bakong.api")

_MESSAGES = {
    Refusal.TOTAL: "the node has too many open connections; retry shortly",
    Refusal.PER_CLIENT: "this client has too many open connections to the node; close some or retry shortly",
}


def _refusal(reason: Refusal) -> bytes:
    body = json.dumps({"error": {"code": "too_many_connections", "message": _MESSAGES[reason]}}).encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


REFUSALS = {reason: _refusal(reason) for reason in _MESSAGES}
LINGER_S = 2.0
"""How long a refused connection is drained after its answer, so its unread request cannot turn the
close into a reset."""
MAX_LINGERING = 256
MAX_LINGERING_PER_CLIENT = 16
"""Refused connections drained at once, in all and per client; past it a refusal is closed at once (its
client may then see a reset): a client that never hangs up cannot take the drain from others."""
DESCRIPTOR_RESERVE = 512
"""Descriptors kept for everything but API connections: LevelDB tables, p2p links, journal, logs."""
MIN_CONNECTIONS = 64


def api_runner(app: web.Application, api: ApiConfig, access_log: bool = False) -> web.AppRunner:
    """The runner the node serves ``app`` with: an access log only when asked (``[log] access_log``: a
    line per request), no signal handling (the node's), and the keep-alive deadline of ``api``
    (aiohttp's default is an hour)."""
    return web.AppRunner(app, access_log=logging.getLogger("aiohttp.access") if access_log else None,
                         handle_signals=False, keepalive_timeout=api.keepalive_timeout_ms / 1000)


def connection_ceiling(wanted: int) -> int:
    """How many API connections this process can hold, at most ``wanted``; raises the soft descriptor
    limit toward the hard one first if ``wanted`` needs it."""
    need = wanted + DESCRIPTOR_RESERVE + MAX_LINGERING
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, raised, exc)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    fits = max(MIN_CONNECTIONS, soft - DESCRIPTOR_RESERVE - MAX_LINGERING)
    log.warning("open-file limit %d (hard %d) leaves room for %d API connections, not max_connections = %d; "
                "raise the limit (ulimit -n, LimitNOFILE=) to serve more", soft, hard, fits, wanted)
    return fits


class _Refused(asyncio.Protocol):
    """Answers the canned 503, reads nothing it keeps, closes once the client has or LINGER_S passed."""

    def __init__(self, answer: bytes, lingering: Seats, client: str) -> None:
        self._answer, self._lingering, self._client = answer, lingering, client
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)
        stream.write(self._answer)
        if not stream.can_write_eof() or self._lingering.take(self._client) is not None:
            stream.close()
            return
        stream.write_eof()
        self._timer = asyncio.get_running_loop().call_later(LINGER_S, stream.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is drained, not read

    def eof_received(self) -> bool:
        return False  # the client is done too: the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._lingering.give_back(self._client)


class _Seated(asyncio.Protocol):
    """An accepted connection: aiohttp's protocol inside, the seat given back when it closes, closed
    if the first request's head is late."""

    def __init__(self, inner: asyncio.Protocol, seats: Seats, client: str, header_timeout_s: float,
                 on_closed_early: Callable[[Refusal], None]) -> None:
        self._inner, self._seats, self._client = inner, seats, client
        self._header_timeout_s, self._on_closed_early = header_timeout_s, on_closed_early
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._header_timeout_s, self._head_late, transport)
        self._inner.connection_made(transport)

    def _head_late(self, transport: asyncio.BaseTransport) -> None:
        self._timer = None
        self._on_closed_early(Refusal.HEADER_TIMEOUT)
        transport.close()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            # The head ends at the first empty line; aiohttp's parser also takes a bare LF, so look for
            # either ending. Nothing precedes the first head, so no body can fake one.
            seen = self._tail + data
            if b"\n\n" in seen or b"\n\r\n" in seen:
                self._timer.cancel()
                self._timer = None
            else:
                self._tail = seen[-2:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._seats.give_back(self._client)
        self._inner.connection_lost(exc)


async def listen(runner: web.AppRunner, api: ApiConfig, on_refused: Callable[[Refusal], None]) -> asyncio.Server:
    """Serve ``runner`` (already set up; see ``api_runner``) on ``api.host:api.port`` with the seats and
    deadlines of ``api``. ``on_refused`` hears of every connection refused or closed early, and why."""
    assert runner.server is not None, "runner.setup() first"
    server: web.Server = runner.server  # a local the nested class sees narrowed
    seats = Seats(connection_ceiling(api.max_connections), api.max_connections_per_client)
    lingering = Seats(MAX_LINGERING, MAX_LINGERING_PER_CLIENT)
    header_timeout_s = api.header_timeout_ms / 1000

    class _Accepted(asyncio.Protocol):
        """The protocol object the loop gets before the peer is known: it becomes seated or refused."""

        def __init__(self) -> None:
            self._chosen: asyncio.Protocol | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
            refused = seats.take(client)
            if refused is not None:
                on_refused(refused)
                self._chosen = _Refused(REFUSALS[refused], lingering, client)
            else:
                self._chosen = _Seated(server(), seats, client, header_timeout_s, on_refused)
            transport.set_protocol(self._chosen)
            self._chosen.connection_made(transport)

    tls = tls_context(api)
    return await asyncio.get_running_loop().create_server(
        _Accepted, host=api.host, port=api.port, reuse_address=True, ssl=tls,
        # A client that opens TLS and stalls the handshake holds no seat yet: give it the head's deadline.
        ssl_handshake_timeout=header_timeout_s if tls is not None else None)


def tls_context(api: ApiConfig) -> ssl.SSLContext | None:
    """HTTPS from ``[api] tls_cert`` and ``tls_key`` (PEM), TLS 1.2 or later; None when not configured.
    A certificate or key that does not load stops the node at start (exit 78), not at the first client."""
    if api.tls_cert is None or api.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(api.tls_cert, api.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"[api] tls_cert {api.tls_cert} / tls_key {api.tls_key} do not load: {exc}") from None
    return context


class TlsConfigError(ConfigError):
    """The configured certificate or key cannot be used."""
