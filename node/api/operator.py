"""Operator routes: what only the bank's own operators (and their monitoring) may read.

``/metrics``, ``/v1/status``, ``/v1/evidence``, ``/v1/blocks/ws`` and ``/v1/admin/...`` describe the
node and the network (peer addresses, keys, consensus state, every block as it commits) or act on the
node. Customers' routes (submit, status of a transaction, signed queries, ``/v1/chain``) and the probes
(``/healthz``, ``/readyz``, which a load balancer calls) stay open.

An operator route is served when either holds:

- the client connects from a loopback address and ``[api] operator_loopback`` is true (the default:
  an operator on the host, or a Prometheus or reverse proxy beside the node). Set it to false when a
  reverse proxy on the same host forwards customers' requests, since they would all look local;
- the request carries ``Authorization: Bearer <token>`` with the token of ``[api] operator_token_file``
  or ``BAKONG_OPERATOR_TOKEN`` (compared in constant time).

Otherwise: 401 ``operator_only`` (with ``WWW-Authenticate: Bearer``) when a token is configured,
403 ``operator_only`` when none is (nothing a remote client can present would be accepted).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from node.config import ApiConfig

OPERATOR_PATHS = frozenset({"/metrics", "/v1/status", "/v1/evidence", "/v1/blocks/ws"})
OPERATOR_PREFIXES = ("/v1/admin/", "/v1/testing/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_operator_path(path: str) -> bool:
    return path in OPERATOR_PATHS or path.startswith(OPERATOR_PREFIXES)


def is_loopback(remote: str | None) -> bool:
    try:
        return ipaddress.ip_address(remote or "").is_loopback  # an IPv6 zone ("::1%lo") parses too
    except ValueError:
        return False


def bearer_matches(header: str | None, token: str | None) -> bool:
    if token is None or header is None:
        return False
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def operator_guard(api: ApiConfig) -> Middleware:
    """The middleware enforcing the rule above for ``api``'s settings."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_operator_path(request.path):
            local = api.operator_loopback and is_loopback(request.remote)
            if not local and not bearer_matches(request.headers.get("Authorization"), api.operator_token):
                if api.operator_token is not None:
                    return web.json_response(
                        {"error": {"code": "operator_only", "message": "this route needs the operator token "
                                   "(Authorization: Bearer ...)"}}, status=401, headers={"WWW-Authenticate": "Bearer"})
                return web.json_response(
                    {"error": {"code": "operator_only", "message": "this route is served to the node's own host "
                               "only ([api] operator_loopback); configure an operator token to reach it remotely"}},
                    status=403)
        return await handler(request)

    return guard
