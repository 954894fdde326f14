"""The API's listening socket, with a bound on open connections.

aiohttp bounds bodies and we bound batches and WebSocket subscribers, but nothing bounds how many
connections a client may hold open (each costs a file descriptor and buffers). This listener hands a
new connection to aiohttp only while fewer than ``max_connections`` are open; past that it answers one
JSON 503 ``too_many_connections`` with Retry-After and closes, without reading the request, so the
refusal costs next to nothing and the client still gets a typed error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiohttp import web

_BODY = json.dumps({"error": {"code": "too_many_connections",
                              "message": "the node has too many open connections; retry shortly"}}).encode()
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
           b"Connection: close\r\nContent-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REFUSAL)
        transport.close()


async def listen(runner: web.AppRunner, host: str, port: int, max_connections: int,
                 on_refused: Callable[[], None]) -> asyncio.Server:
    """Serve ``runner`` (already set up) on host:port with at most ``max_connections`` open at once."""
    server = runner.server
    assert server is not None, "runner.setup() first"

    def protocol() -> asyncio.BaseProtocol:
        if len(server.connections) >= max_connections:
            on_refused()
            return _Refuse()
        return server()

    return await asyncio.get_running_loop().create_server(protocol, host, port, reuse_address=True)
