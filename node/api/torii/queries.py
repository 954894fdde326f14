"""QueryService_v1 (Find, FetchCommits, Healthcheck): Iroha 1.6's query API over the node's ledger.

``query_handlers(node)`` gives the generic handler the Torii server registers (node.api.torii.server).
Requests arrive as raw bytes (``request_deserializer`` is the identity): a query's signature and hash
are over its payload exactly as the client serialized it (``node.api.torii.query_auth``).

- Find: authenticate, then answer from one published state (``node.api.torii.iroha_answers``), on
  the node's query worker threads as the HTTP API's signed queries are: off the event loop that
  carries consensus. Every answer carries ``query_hash``, the hex sha3_256 of the payload.
- FetchCommits: a signed BlocksQuery (signed over its meta), whose creator needs ``can_get_blocks``;
  then every block committed after the call, as ``Block_v1``, for as long as the client listens. A
  refusal is one ``BlockErrorResponse`` and the end of the stream. At most ``MAX_BLOCK_STREAMS`` open
  per node (further calls: RESOURCE_EXHAUSTED); a slow reader misses no block (it is caught up by
  height from the chain, the node's per-listener queue only wakes it).
- Healthcheck: readiness (node.runtime.health), whether it is catching up, memory, last height.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any, Protocol, TypeVar

import grpc

from node.api.torii.iroha_answers import IrohaAnswers, Refusal, stateful
from node.api.torii.iroha_render import block_message, iroha_height
from node.api.torii.query_auth import check_signatory, parse_blocks_query, parse_query
from node.clock import now_ms
from node.intake.pending import PendingPool
from node.ledger.batches import batch_of
from node.ledger.chain import Ledger
from node.ledger.iroha_proto import qry_responses_pb2
from node.ledger.permissions import has_permission
from node.ledger.records import get_account
from node.ledger.transactions import Transaction
from node.metrics import NodeMetrics
from node.runtime.health import Check

SERVICE = "iroha.protocol.QueryService_v1"
MAX_BLOCK_STREAMS = 64
"""FetchCommits streams open at once on one node; each holds a queue and a task."""
STATEFUL_INVALID = qry_responses_pb2.ErrorResponse.STATEFUL_INVALID
INTERNAL = 1
"""Iroha's code for a query that could not be executed (an internal error)."""

log = logging.getLogger("bakong.torii")
T = TypeVar("T")


class QueryHost(Protocol):
    """What the query service uses of the node (``node.assembly.Node``)."""

    @property
    def ledger(self) -> Ledger: ...
    @property
    def query_worker(self) -> Executor: ...
    @property
    def block_listeners(self) -> set[asyncio.Queue[dict[str, Any]]]: ...
    @property
    def metrics(self) -> NodeMetrics: ...
    @property
    def pending(self) -> PendingPool | None: ...
    def health_checks(self) -> list[Check]: ...
    def sync_status(self) -> dict[str, Any] | None: ...


def answer_query(node: QueryHost, request: bytes, now: int) -> qry_responses_pb2.QueryResponse:
    """A Find request's answer (runs on a query worker thread)."""
    query_hash = ""
    try:
        part, payload, key = parse_query(request, now)
        query_hash = part.query_hash
        chain = node.ledger.published()  # one state for the signatory check and every read of the answer
        creator = payload.meta.creator_account_id
        check_signatory(chain, creator, key)
        answer = IrohaAnswers(chain, creator, partial(waiting_for, node)).answer(payload)
    except Refusal as refusal:
        answer = refusal.response()
    except Exception:  # our bug: log it, answer as Iroha does for a query it could not execute
        log.exception("torii: query could not be executed")
        answer = stateful(INTERNAL, "the query could not be executed; see the node log").response()
    answer.query_hash = query_hash
    return answer


def waiting_for(node: QueryHost, creator: str) -> list[Transaction]:
    """What waits for signatures on this node (pending multisig) that ``creator`` created, with every
    other member of a batch it has a member in: Iroha lists a pending batch to each of its creators."""
    pool = node.pending
    if pool is None:
        return []
    waiting = list(pool.waiting())
    theirs = {meta.reduced_hashes for tx in waiting if tx.creator == creator and (meta := batch_of(tx)) is not None}
    return [tx for tx in waiting if tx.creator == creator
            or ((meta := batch_of(tx)) is not None and meta.reduced_hashes in theirs)]


def open_block_stream(node: QueryHost, request: bytes, now: int) -> int:
    """Authenticate a BlocksQuery; the height of the head it starts after (worker thread)."""
    _part, meta, key = parse_blocks_query(request, now)
    chain = node.ledger.published()
    check_signatory(chain, meta.creator_account_id, key)
    if not has_permission(chain.world, get_account(chain.world, meta.creator_account_id), "can_get_blocks"):
        raise stateful(2, "user must have at least one of the permissions: can_get_blocks")
    return chain.head.height


def block_response(node: QueryHost, height: int) -> qry_responses_pb2.BlockQueryResponse | None:
    """The committed block at our ``height`` as FetchCommits sends it (worker thread)."""
    block = node.ledger.block(height)
    if block is None:
        return None
    out = qry_responses_pb2.BlockQueryResponse()
    out.block_response.block.CopyFrom(block_message(block, node.ledger.certificate(height)))
    return out


def memory_bytes() -> int:
    """This process's resident memory (Linux ``/proc/self/statm``), else its peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def query_handlers(node: QueryHost) -> grpc.GenericRpcHandler:
    """The QueryService_v1 methods, named as Iroha 1.6 names them, answering from ``node``."""
    open_streams = 0

    async def on_worker(work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(node.query_worker, work)

    async def find(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> qry_responses_pb2.QueryResponse:
        now = now_ms()
        answer = await on_worker(lambda: answer_query(node, request, now))
        node.metrics.queries.labels("refused" if answer.HasField("error_response") else "answered").inc()
        return answer

    async def fetch_commits(
        request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[qry_responses_pb2.BlockQueryResponse]:
        nonlocal open_streams
        if open_streams >= MAX_BLOCK_STREAMS:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many block streams open on this node")
        open_streams += 1
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        node.block_listeners.add(queue)  # before reading the head: no block falls between the two
        try:
            now = now_ms()
            try:
                sent = await on_worker(lambda: open_block_stream(node, request, now))
            except Refusal as refusal:
                # Iroha's words for a stateful refusal; a stateless one says what was wrong.
                message = "stateful invalid" if refusal.reason == STATEFUL_INVALID else refusal.message
                yield qry_responses_pb2.BlockQueryResponse(
                    block_error_response=qry_responses_pb2.BlockErrorResponse(message=message))
                return
            while True:
                summary = await queue.get()
                # Every height up to the one announced, from the chain: a reader slower than the
                # node's per-listener queue (which drops when full) still gets every block.
                while sent < summary["height"]:
                    height = sent + 1
                    response = await on_worker(partial(block_response, node, height))
                    if response is None:
                        break
                    sent = height
                    yield response
        finally:
            node.block_listeners.discard(queue)
            open_streams -= 1

    async def healthcheck(
        request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> qry_responses_pb2.HealthcheckData:
        sync = node.sync_status()
        return qry_responses_pb2.HealthcheckData(
            is_healthy=all(check.ok for check in node.health_checks()),
            is_syncing=bool(sync and sync["catching_up"]),
            memory_consumption=memory_bytes(),
            last_block_height=iroha_height(node.ledger.published().head.height))

    def raw(data: bytes) -> bytes:
        return data

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Find": grpc.unary_unary_rpc_method_handler(
                find, request_deserializer=raw, response_serializer=qry_responses_pb2.QueryResponse.SerializeToString
            ),
            "FetchCommits": grpc.unary_stream_rpc_method_handler(
                fetch_commits,
                request_deserializer=raw,
                response_serializer=qry_responses_pb2.BlockQueryResponse.SerializeToString,
            ),
            "Healthcheck": grpc.unary_unary_rpc_method_handler(
                healthcheck,
                request_deserializer=raw,
                response_serializer=qry_responses_pb2.HealthcheckData.SerializeToString,
            ),
        },
    )
