"""The HTTP API (aiohttp): submit transactions, follow their status, signed queries, node status.

Every error is JSON ``{"error": {"code": "...", "message": "..."}}`` with a 4xx status; a 500 would be
our bug, and even then the client gets JSON and the node keeps serving. Transactions and queries
travel as their canonical bytes: hex strings inside JSON, or raw msgpack with
``Content-Type: application/msgpack`` for clients that want speed.

Routes:
  POST /v1/transactions            {"transactions": [hex, ...]} or {"transaction": hex}
  GET  /v1/transactions/{hash}     current status
  GET  /v1/transactions/{hash}/ws  WebSocket: current status, then each change until final
  POST /v1/queries                 {"query": hex}
  POST /v1/khqr/payment            {"khqr", "from", "amount"?}: the payment to sign (node.api.khqr_payment)
  GET  /v1/chain                   chain id, height, version: what a client needs to sign (public)
  GET  /healthz                    liveness: the process serves (public)
  GET  /readyz                     readiness: 200, or 503 naming each failing check (public)
  GET  /v1/status  /metrics  /v1/evidence  /v1/blocks/ws   operator routes (node.api.operator)
  POST /v1/testing/isolate         {"isolated": bool}; only with [testing] fault_injection = true
  POST /v1/testing/crash-at-commit {"point": "before_write"|"during_write"|"after_write"}; idem
  POST /v1/admin/backup           {"name": ...}: an online backup under data_dir/backups/ (operator)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, Protocol

import msgpack
from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from consensus import codec
from consensus.crypto import KeyPair
from consensus.evidence import Evidence
from node.api.backup import admin_backup
from node.api.khqr_payment import khqr_payment
from node.api.observe import observe_requests
from node.api.open_api import register_open_api
from node.api.operator import operator_guard
from node.api.query_replay import AnsweredQueries
from node.api.shares import Refusal, Seats
from node.api.submission import StorageUnavailable, submit
from node.api.tx_status import status_of
from node.clock import now_ms
from node.config import NodeConfig
from node.intake import statuses as st
from node.intake.admission import Admission, Verdict
from node.intake.journal import IntakeJournal
from node.intake.mempool import AccountLimit, Mempool, MempoolFull
from node.intake.statuses import StatusHub
from node.ledger.chain import Ledger
from node.ledger.errors import LedgerError, QueryError, StatelessError
from node.ledger.genesis import Genesis
from node.ledger.queries import QueryService, decode_query
from node.metrics import NodeMetrics
from node.runtime.health import Check
from node.version import VERSION
from storage import keys
from storage.db import COMMIT_STAGES

log = logging.getLogger("bakong.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TestingFaults(Protocol):
    """The faults seam's switches the /v1/testing routes reach (``node.runtime.faults.Faults``)."""

    def isolate(self, isolated: bool) -> bool: ...
    def crash_at_commit(self, point: str) -> None: ...


class ApiHost(Protocol):
    """What the API uses of the node (``node.assembly.Node``): the ledger it answers from, the intake it
    admits through, what it shows of the network and consensus as plain views."""

    @property
    def config(self) -> NodeConfig: ...
    @property
    def key(self) -> KeyPair: ...
    @property
    def genesis(self) -> Genesis: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def mempool(self) -> Mempool: ...
    @property
    def admission(self) -> Admission: ...
    @property
    def journal(self) -> IntakeJournal: ...
    @property
    def hub(self) -> StatusHub: ...
    @property
    def metrics(self) -> NodeMetrics: ...
    @property
    def queries(self) -> QueryService: ...
    @property
    def query_worker(self) -> Executor: ...
    @property
    def answered_queries(self) -> AnsweredQueries: ...
    @property
    def tx_arrived(self) -> asyncio.Event: ...
    @property
    def block_listeners(self) -> set[asyncio.Queue[dict[str, Any]]]: ...
    @property
    def started_ms(self) -> int: ...
    @property
    def faults(self) -> TestingFaults | None: ...

    @property
    def chain_id(self) -> str: ...
    def gossip(self, tx_bytes: bytes) -> None: ...
    def peers_status(self) -> list[dict[str, Any]]: ...
    def p2p_status(self) -> dict[str, Any] | None: ...
    def consensus_status(self) -> dict[str, Any] | None: ...
    def sync_status(self) -> dict[str, Any] | None: ...
    def health_checks(self) -> list[Check]: ...
    def chain_role(self) -> str: ...
    def signing_status(self) -> dict[str, Any] | None: ...
    def storage_written(self, error: str | None) -> None: ...
    @property
    def last_block_ms(self) -> int: ...


NODE_KEY: web.AppKey[ApiHost] = web.AppKey("node", ApiHost)
STREAM_SEATS_KEY: web.AppKey[Seats] = web.AppKey("stream_seats", Seats)
"""Status and block streams open, in total and per client address (``[api] max_websockets``,
``max_websockets_per_client``): one client holding all of its share cannot take another's."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception:  # our bug: log it, answer JSON, keep serving
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the node log")


def _hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"{what} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ApiError(400, "bad_hex", f"{what} is not valid hex") from None


async def _body_items(request: web.Request, single: str, many: str) -> tuple[list[bytes], bool]:
    """The encoded items of a request and whether it was a batch."""
    raw = await request.read()
    if request.content_type == "application/msgpack":
        try:
            value = msgpack.unpackb(raw, raw=False)
        except Exception:  # noqa: BLE001 (our bug: log it, answer JSON, keep serving)
            raise ApiError(400, "bad_msgpack", "body is not valid msgpack") from None
        if isinstance(value, bytes):
            return [value], False
        if isinstance(value, list) and all(isinstance(v, bytes) for v in value):
            return value, True
        raise ApiError(400, "bad_request", "msgpack body must be one encoded item (bin) or an array of them")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "body is not valid JSON") from None
    except RecursionError:  # e.g. 10,000 nested lists: the decoder gives up; the client gets a clear 400
        raise ApiError(400, "bad_json", "body JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "body must be a JSON object")
    if single in body:
        return [_hex_bytes(body[single], single)], False
    if many in body and isinstance(body[many], list):
        return [_hex_bytes(v, many) for v in body[many]], True
    raise ApiError(400, "bad_request", f'body needs "{single}" or "{many}"')


# A single submission's outcome as an HTTP status (a batch answers 202 with one result per item). A resent
# final transaction answers 200 with its recorded status (idempotent submission; 202 until its block is
# published), so a retrying client never reads "failed" for a paid payment.
_SINGLE_STATUS = {Verdict.QUEUED: 202, Verdict.ALREADY_QUEUED: 202, Verdict.INVALID: 400, Verdict.REPLAY: 200,
                  Verdict.ACCOUNT_LIMIT: AccountLimit.http_status, Verdict.POOL_FULL: MempoolFull.http_status,
                  Verdict.OVER_BUDGET: 429, Verdict.PENDING: 202, Verdict.COLLECTED: 202}


async def submit_transactions(request: web.Request) -> web.Response:
    """HTTP only: parse, then ``node.api.submission.submit`` (admit slice by slice, gossip, journal
    before answering: "accepted" must survive a crash), answer."""
    node = request.app[NODE_KEY]
    items, batch = await _body_items(request, "transaction", "transactions")
    if len(items) > node.config.api.max_batch:
        raise ApiError(413, "batch_too_large", f"at most {node.config.api.max_batch} transactions per request")
    if not items:
        raise ApiError(400, "bad_request", "no transactions in the request")
    try:
        outcomes = await submit(node, items)
    except StorageUnavailable:
        raise ApiError(503, "storage_unavailable", "the node cannot record transactions now; retry shortly",
                       {"Retry-After": "1"}) from None
    if batch:
        return web.json_response({"results": [o.as_json() for o in outcomes]}, status=202)
    outcome = outcomes[0]
    status = _SINGLE_STATUS[outcome.verdict]
    if outcome.verdict is Verdict.REPLAY and outcome.record is None:
        status = 202
    if status in (429, 503):  # the pool or this creator's share is full: nothing was kept; retry later
        raise ApiError(status, outcome.error_code or "mempool_full", outcome.message or "", {"Retry-After": "1"})
    return web.json_response(outcome.as_json(), status=status)


def _hash_param(request: web.Request) -> bytes:
    value = request.match_info["hash"]
    if len(value) != 64:
        raise ApiError(400, "bad_hash", "a transaction hash is 64 hex characters")
    return _hex_bytes(value, "hash")


async def transaction_status(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    return web.json_response(status_of(node, _hash_param(request)))


_STREAM_REFUSALS = {Refusal.TOTAL: "too many streams open on the node; retry shortly",
                     Refusal.PER_CLIENT: "this client has too many streams open; close some or retry shortly"}


def _take_stream_seat(request: web.Request) -> str:
    """Take a stream seat for the request's client (its address), or refuse it with 503."""
    client = request.remote or "unknown"
    refused = request.app[STREAM_SEATS_KEY].take(client)
    if refused is not None:
        request.app[NODE_KEY].metrics.api_streams_refused.labels(refused).inc()
        raise ApiError(503, "too_many_subscribers", _STREAM_REFUSALS[refused], {"Retry-After": "1"})
    return client


async def transaction_stream(request: web.Request) -> web.StreamResponse:
    tx_hash = _hash_param(request)
    client = _take_stream_seat(request)
    try:
        return await _follow_transaction(request, tx_hash)
    finally:
        request.app[STREAM_SEATS_KEY].give_back(client)


async def _follow_transaction(request: web.Request, tx_hash: bytes) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    queue = node.hub.subscribe(tx_hash)
    try:
        current = status_of(node, tx_hash)
        await ws.send_json(current)
        status = current["status"]
        while status not in st.FINAL and not ws.closed:
            getter = asyncio.ensure_future(queue.get())
            closer = asyncio.ensure_future(ws.receive())
            done, _ = await asyncio.wait({getter, closer}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if closer in done:
                getter.cancel()
                msg = closer.result()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                    break
                continue
            closer.cancel()
            if getter in done:
                update = getter.result()
            else:
                getter.cancel()
                update = status_of(node, tx_hash)  # belt and braces: re-read in case a publish was missed
                if update["status"] == status:
                    continue
            await ws.send_json(update)
            status = update["status"]
    finally:
        node.hub.unsubscribe(tx_hash, queue)
        await ws.close()
    return ws


async def block_stream(request: web.Request) -> web.StreamResponse:
    """WebSocket: a summary of every block this node commits from now on (height, hash, tx hashes,
    rejected hashes, commit time): for monitoring and the load benchmark. The API is meant for the
    bank's own network, like /metrics; queries that reveal account data stay signed."""
    client = _take_stream_seat(request)
    try:
        return await _follow_blocks(request)
    finally:
        request.app[STREAM_SEATS_KEY].give_back(client)


async def _follow_blocks(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    node.block_listeners.add(queue)
    try:
        closer = asyncio.ensure_future(ws.receive())
        while not ws.closed:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
            if closer in done:
                getter.cancel()
                break
            await ws.send_json(getter.result())
        closer.cancel()
    finally:
        node.block_listeners.discard(queue)
        await ws.close()
    return ws


async def run_query(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    items, batch = await _body_items(request, "query", "queries")
    if batch:
        raise ApiError(400, "bad_request", "send one query per request")
    try:
        query = decode_query(items[0])
        now = now_ms()
        if not node.answered_queries.first_time(items[0], query.created_ms, now):
            node.metrics.queries.labels("refused").inc()
            raise ApiError(409, "query_replayed", "this signed query was already answered; sign a new one "
                                                 "(another counter or created_ms)")
        answer = await asyncio.get_running_loop().run_in_executor(node.query_worker, node.queries.answer,
                                                                  query, now)
    except StatelessError as exc:
        node.metrics.queries.labels("refused").inc()
        raise ApiError(400, exc.code, exc.message) from None
    except QueryError as exc:
        node.metrics.queries.labels("refused").inc()
        raise ApiError(exc.http_status, exc.code, exc.message) from None
    except (LedgerError, codec.CodecError) as exc:
        raise ApiError(400, getattr(exc, "code", "bad_request"), str(exc)) from None
    node.metrics.queries.labels("answered").inc()
    return web.json_response(answer)


async def node_status(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    head = node.ledger.published().head  # the head transaction statuses and queries answer from
    sync = node.sync_status()
    checks = node.health_checks()
    now = now_ms()
    return web.json_response({
        "chain_id": node.chain_id,
        "node": node.config.name,
        "version": VERSION,
        "public_key": node.key.public_key.hex(),
        "role": node.config.role,
        "chain_role": node.chain_role(),
        "height": head.height,
        "latest_block_ms": node.last_block_ms,
        "latest_block_age_ms": max(0, now - node.last_block_ms) if node.last_block_ms else None,
        "catching_up": bool(sync and sync["catching_up"]),
        "ready": all(c.ok for c in checks),
        "checks": [c.as_json() for c in checks],
        "signing": node.signing_status(),
        "block_hash": head.block_hash.hex(),
        "state_root": head.state_root.hex(),
        "peers": node.peers_status(),
        "consensus": node.consensus_status(),
        "sync": node.sync_status(),
        "p2p": node.p2p_status(),
        "mempool_size": len(node.mempool),
        "mempool_bytes": node.mempool.size_bytes,
        "uptime_s": (now_ms() - node.started_ms) // 1000,
    })


async def evidence(request: web.Request) -> web.Response:
    """Equivocation evidence this node recorded: which validator signed what twice."""
    node = request.app[NODE_KEY]
    names = {p.public_key: p.name for p in node.genesis.peers}
    out = []
    for _key, raw in node.ledger.store.scan(keys.EVIDENCE):
        ev = Evidence.decode_stored(raw)
        out.append({"validator": ev.validator.hex(), "name": names.get(ev.validator), "height": ev.height,
                    "round": ev.round, "kind": ev.kind.name.lower(), "evidence": raw.hex()})
    return web.json_response({"evidence": out})


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "bad_json", "body is not valid JSON") from None


async def testing_isolate(request: web.Request) -> web.Response:
    """Fault injection (only with ``[testing] fault_injection = true``): {"isolated": true|false}."""
    node = request.app[NODE_KEY]
    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("isolated"), bool):
        raise ApiError(400, "bad_request", 'body must be {"isolated": true|false}')
    if node.faults is None:
        raise ApiError(409, "no_network", "this node has no p2p network")
    return web.json_response({"isolated": node.faults.isolate(body["isolated"])})


async def testing_crash_at_commit(request: web.Request) -> web.Response:
    """Fault injection (only with ``[testing] fault_injection = true``): {"point": "before_write" |
    "during_write" | "after_write"} makes the next block commit SIGKILL this process at that point."""
    node = request.app[NODE_KEY]
    body = await _json_body(request)
    point = body.get("point") if isinstance(body, dict) else None
    if point not in COMMIT_STAGES:
        raise ApiError(400, "bad_request", f"body must be {{\"point\": one of {', '.join(COMMIT_STAGES)}}}")
    if node.faults is None:
        raise ApiError(409, "no_faults", "fault injection is not wired on this node")
    node.faults.crash_at_commit(point)
    return web.json_response({"armed": point})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: this process answers (its event loop runs). Whether it can do its job: /readyz."""
    node = request.app[NODE_KEY]
    return web.json_response({"ok": True, "height": node.ledger.head.height})


async def readyz(request: web.Request) -> web.Response:
    """Readiness (``node.runtime.health``): 200 when every check passes, else 503 with the failing ones
    named first in ``failing``."""
    node = request.app[NODE_KEY]
    checks = node.health_checks()
    failing = [c.name for c in checks if not c.ok]
    return web.json_response({"ready": not failing, "failing": failing, "height": node.ledger.head.height,
                              "checks": [c.as_json() for c in checks]}, status=503 if failing else 200)


async def chain_info(request: web.Request) -> web.Response:
    """What a client needs before it signs: the chain id (public; no peer or consensus detail)."""
    node = request.app[NODE_KEY]
    return web.json_response({"chain_id": node.chain_id, "height": node.ledger.published().head.height,
                              "version": VERSION})


async def metrics(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    body = generate_latest(node.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _OneLineClientErrors(logging.Filter):
    """aiohttp logs every malformed request (bad request line, URL or header too long, bad chunking) at
    ERROR with a traceback, before our middleware runs. That is the client's fault, not ours: keep one
    WARNING line without the traceback, so a hostile client cannot fill the node log with them."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            reason = (exc.message or "").strip().splitlines()
            record.msg = f"{record.getMessage()}: refused malformed HTTP ({exc.code}): {reason[0] if reason else ''}"
            record.args = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


_CLIENT_ERROR_FILTER = _OneLineClientErrors()


def build_app(node: ApiHost) -> web.Application:
    logging.getLogger("aiohttp.server").addFilter(_CLIENT_ERROR_FILTER)  # idempotent: a set of filters
    app = web.Application(client_max_size=node.config.api.max_body_bytes,
                          middlewares=[observe_requests(node.metrics), errors_as_json,
                                       operator_guard(node.config.api)])
    app[NODE_KEY] = node
    app[STREAM_SEATS_KEY] = Seats(node.config.api.max_websockets, node.config.api.max_websockets_per_client)
    app.router.add_post("/v1/transactions", submit_transactions)
    app.router.add_get("/v1/transactions/{hash}", transaction_status)
    app.router.add_get("/v1/transactions/{hash}/ws", transaction_stream)
    app.router.add_post("/v1/queries", run_query)
    app.router.add_get("/v1/status", node_status)
    app.router.add_get("/v1/evidence", evidence)
    app.router.add_get("/v1/blocks/ws", block_stream)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/v1/chain", chain_info)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/v1/admin/backup", admin_backup(node))  # operator route: node.api.backup
    register_open_api(app, node)  # /v1/check_transaction_by_md5, ...: node.api.open_api
    app.router.add_post("/v1/khqr/payment", khqr_payment)  # prepares a KHQR payment to sign: node.api.khqr_payment
    if node.config.testing.fault_injection:
        app.router.add_post("/v1/testing/isolate", testing_isolate)
        app.router.add_post("/v1/testing/crash-at-commit", testing_crash_at_commit)
    return app
