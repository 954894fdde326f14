"""Request counts and latency for the metrics, by route template, method and status.

The route label is the template a request matched (``/v1/transactions/{hash}``), never the raw path:
every hash, and every path a scanner invents, would otherwise become a series of its own. Requests
that match no route share ``unmatched``; methods outside HTTP's usual few share ``other``. So the
label values are bounded by the routes the app declares.

It runs outermost, around ``errors_as_json``, so it sees the status the client got, 500s included.
WebSocket streams are counted (status 101) but not timed: their duration is the subscription's, not
the server's latency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from node.metrics import NodeMetrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_template(request: web.Request) -> str:
    """The template of the route ``request`` matched, or ``unmatched`` (404, 405)."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED
    return resource.canonical


def observe_requests(metrics: NodeMetrics) -> Middleware:
    """An aiohttp middleware counting and timing every request into ``metrics``."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a redirect or an error errors_as_json let through
            _record(metrics, request, exc.status, started)
            raise
        except asyncio.CancelledError:  # the client went away: no answer to count
            raise
        _record(metrics, request, response.status, started)
        return response

    return observe


def _record(metrics: NodeMetrics, request: web.Request, status: int, started: float) -> None:
    route = route_template(request)
    method = request.method if request.method in METHODS else "other"
    metrics.api_requests.labels(route, method, str(status)).inc()
    if status != 101:  # a WebSocket's lifetime is not a latency
        metrics.api_seconds.labels(route, method).observe(time.perf_counter() - started)
