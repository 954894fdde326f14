"""The Torii gRPC server: CommandService_v1 and QueryService_v1 on ``[torii] listen``, in the node's loop.

grpc.aio runs on the node's own event loop (uvloop included: checked when this was written, grpcio
1.85), so handlers share the ledger, mempool and status hub with the HTTP API without locks. Requests
up to ``[api] max_body_bytes`` are read (gRPC's default is 4 MiB), the same bound as an HTTP submit.

gRPC sets SO_REUSEPORT on its listening sockets by default: two nodes configured with one port would
both bind it and share its clients without a word. It is turned off, so a taken port is a start-up
error (``ToriiBindError``, exit status 69 like the HTTP API's), not a silent split.
"""

from __future__ import annotations

import errno
import logging
from typing import Protocol

import grpc
from grpc import aio

from node.api.torii.commands import CommandHost, command_handlers
from node.api.torii.queries import QueryHost, query_handlers
from node.config import ConfigError, ToriiConfig

log = logging.getLogger("bakong.torii")
STOP_GRACE_S = 1.0
"""On shutdown, calls under way get this long to finish; streams are then cancelled."""


class ToriiHost(CommandHost, QueryHost, Protocol):
    """What Torii uses of the node (``node.assembly.Node``): what its two services use."""


class ToriiBindError(OSError):
    """Torii cannot listen on its address: taken by another process, or not an address of this host."""

    code = "torii_address_unavailable"

    def __init__(self, address: str) -> None:
        # EADDRINUSE: the node's exit classification (node.assembly.node_failure) and the test fixtures
        # that retry on fresh ports read it as the HTTP API's bind failure.
        super().__init__(errno.EADDRINUSE, f"Torii cannot listen on {address}: address already in use, or not "
                                           "an address of this host ([torii] listen)")
        self.message = self.strerror


def _credentials(config: ToriiConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    try:
        pair = (config.tls_key.read_bytes(), config.tls_cert.read_bytes())
    except OSError as exc:
        raise ConfigError(f"torii.tls_cert / torii.tls_key cannot be read: {exc}") from None
    return grpc.ssl_server_credentials([pair])


def address(config: ToriiConfig) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"{host}:{config.port}"


async def start_torii(node: ToriiHost) -> aio.Server:
    """Build, bind and start Torii for ``node``; ``server.bound_port`` (our attribute) is the port it
    listens on (``[torii] listen`` with port 0 picks one: tests)."""
    config = node.config.torii
    limit = node.config.api.max_body_bytes
    # Bounded concurrency: HTTP/2 multiplexes, so one connection could otherwise start calls (and queue
    # query work for the worker threads) without end; past max_calls grpc answers RESOURCE_EXHAUSTED.
    server = aio.server(options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", limit),
                                 ("grpc.max_send_message_length", limit),
                                 ("grpc.max_concurrent_streams", config.max_calls_per_connection)],
                        maximum_concurrent_rpcs=config.max_calls)
    server.add_generic_rpc_handlers((command_handlers(node), query_handlers(node)))
    where = address(config)
    credentials = _credentials(config)
    try:
        port = (server.add_secure_port(where, credentials) if credentials is not None
                else server.add_insecure_port(where))
    except RuntimeError:  # grpc's "Failed to bind to address"; its detail goes to stderr only
        port = 0
    if port == 0:
        raise ToriiBindError(where)
    await server.start()
    server.bound_port = port  # type: ignore[attr-defined]
    log.info("Torii (Iroha 1 gRPC) serving on %s://%s:%d", "grpcs" if credentials else "grpc", config.host, port)
    return server


def bound_port(server: aio.Server) -> int:
    port: int = server.bound_port  # type: ignore[attr-defined]
    return port


async def stop_torii(server: aio.Server) -> None:
    """Stop accepting calls; let those under way finish for ``STOP_GRACE_S``, then cancel the rest."""
    await server.stop(STOP_GRACE_S)
