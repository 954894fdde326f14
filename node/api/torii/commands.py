"""CommandService_v1 (Torii, ListTorii, Status, StatusStream): Iroha 1.6's command API over the node.

``command_handlers(node)`` gives the generic handler the Torii server registers (node.api.torii.server).

- Torii / ListTorii: the transaction bytes exactly as received (``request_deserializer`` is the
  identity; ListTorii's ``TxList`` is split into its field-1 entries without re-serializing them, so
  each hash is over the payload the client signed) are wrapped as Iroha transactions
  (``node.ledger.iroha_tx.wrap_iroha``) and go through the path every client submission takes
  (``node.api.submission``). As in Iroha, a refused transaction is not a gRPC error: the call answers
  ``google.protobuf.Empty`` and the client learns the outcome by Status. gRPC errors are kept for what
  leaves nothing to ask about: bytes without a payload to hash (INVALID_ARGUMENT), a full pool or
  signature budget (RESOURCE_EXHAUSTED: nothing was kept, retry) and a journal that cannot be written
  (UNAVAILABLE).
- Status: the current status as a ``ToriiResponse`` (``node.api.torii.statuses``).
- StatusStream: the current status, then each change, until a final one (COMMITTED, REJECTED,
  STATELESS_VALIDATION_FAILED, MST_EXPIRED). A transaction rejected in a block is reported as
  STATEFUL_VALIDATION_FAILED (with the failing command's name, index and Iroha's error number) and
  then REJECTED; a committed one as STATEFUL_VALIDATION_SUCCESS then COMMITTED, as Iroha's stream shows
  them. A hash this node has not seen is waited for ``[torii] not_received_ms`` (the stream may be
  opened before the send), then the stream sends NOT_RECEIVED and ends, as Iroha's does. Streams take
  seats (``node.api.shares``): ``[torii] max_streams`` in all, ``max_streams_per_client`` per source
  address; past them RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import DecodeError

from node.api.shares import Refusal, Seats
from node.api.submission import StorageUnavailable, SubmissionHost, submit
from node.api.torii.statuses import torii_response
from node.api.tx_status import status_of
from node.config import NodeConfig
from node.intake.admission import Verdict
from node.intake.mempool import Mempool
from node.intake.statuses import status_json
from node.ledger.chain import Ledger
from node.ledger.errors import StatelessError
from node.ledger.iroha_proto import endpoint_pb2
from node.ledger.iroha_tx import decode_iroha_transaction, wrap_iroha
from node.ledger.statuses import TxStatus
from node.metrics import NodeMetrics

SERVICE = "iroha.protocol.CommandService_v1"
FINAL_STREAM = frozenset({TxStatus.COMMITTED, TxStatus.REJECTED, TxStatus.STATELESS_VALIDATION_FAILED,
                          "MST_EXPIRED"})
"""Where a StatusStream ends. Iroha's own list is COMMITTED, REJECTED and STATELESS_VALIDATION_FAILED; an
expired multisig transaction is dropped here (it may be signed and sent again as a new call), so its
stream ends too instead of idling until the client gives up."""
RECHECK_S = 2.0
"""A stream re-reads the status this often whatever it heard (belt and braces: a missed publish)."""
_PAYLOAD = 0x0A  # field 1, length-delimited: Transaction.payload and TxList.transactions alike
_RESOURCE_VERDICTS = frozenset({Verdict.POOL_FULL, Verdict.ACCOUNT_LIMIT, Verdict.OVER_BUDGET})


class CommandHost(SubmissionHost, Protocol):
    """What CommandService_v1 uses of the node (``node.assembly.Node``): the submission path, the
    ledger and mempool it reads statuses from, its config and metrics."""

    @property
    def config(self) -> NodeConfig: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def mempool(self) -> Mempool: ...
    @property
    def metrics(self) -> NodeMetrics: ...


class BadWire(ValueError):
    """Bytes that are not the protobuf message a method takes."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise BadWire("a length prefix is cut short or too long")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def field_one(message: bytes) -> list[bytes]:
    """Every field-1 (length-delimited) entry of ``message`` as the bytes on the wire: a TxList's
    transactions, or a Transaction's payload. Any other field is refused: neither message has one."""
    found: list[bytes] = []
    at = 0
    while at < len(message):
        if message[at] != _PAYLOAD:
            raise BadWire(f"field tag {message[at]:#04x}: only field 1 (length-delimited) is expected")
        length, at = _varint(message, at + 1)
        if at + length > len(message):
            raise BadWire("a field runs past the end of the message")
        found.append(message[at:at + length])
        at += length
    return found


def _payload(transaction: bytes) -> bytes | None:
    """The first payload field of a Transaction as sent, or None when the bytes do not show one."""
    at = 0
    try:
        while at < len(transaction):
            tag = transaction[at]
            length, at = _varint(transaction, at + 1)
            if tag & 0x07 != 2 or at + length > len(transaction):
                return None
            if tag == _PAYLOAD:
                return transaction[at:at + length]
            at += length
    except BadWire:
        return None
    return None


def _length_prefix(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def payload_refusal(transaction: bytes) -> tuple[bytes, StatelessError] | None:
    """(Iroha's hash, why) when a transaction's PAYLOAD alone is refused, else None.

    Iroha answers a transaction that fails its stateless checks STATELESS_VALIDATION_FAILED under the
    payload's hash. The hash does not cover the signatures or anything else around the payload, so only
    a refusal of the payload itself may be remembered by hash: whoever saw a valid transaction could
    otherwise send a copy with a broken signature or an extra field and make its owner read "failed".
    The payload is therefore judged alone, as a transaction without signatures."""
    payload = _payload(transaction)
    if payload is None:
        return None
    try:
        decode_iroha_transaction(bytes([_PAYLOAD]) + _length_prefix(len(payload)) + payload)
    except StatelessError as exc:
        return hashlib.sha3_256(payload).digest(), exc
    return None


def responses(node: CommandHost, status: Mapping[str, Any], stream: bool) -> list[endpoint_pb2.ToriiResponse]:
    """What the client is told for ``status``: on a stream, a block's outcome comes as Iroha's two steps
    (stateful validation, then REJECTED or COMMITTED); Status answers the last step only."""
    name = status["status"]
    if name == TxStatus.REJECTED:
        command = None
        index = status.get("command_index")
        if index is not None and status.get("height") is not None:
            tx = node.ledger.transaction_at(int(status["height"]), int(status["index"]))
            command = tx.payload.commands[int(index)]
        final = torii_response(status, command)
        return [torii_response(status, command, "STATEFUL_VALIDATION_FAILED"), final] if stream else [final]
    if name == TxStatus.COMMITTED and stream:
        return [torii_response(status, stage="STATEFUL_VALIDATION_SUCCESS"), torii_response(status)]
    return [torii_response(status)]


def _client(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The caller's source address (its port left out): whose share of the stream seats it takes."""
    peer = context.peer() or "unknown"
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0]
    return peer


def _hash_of(request: endpoint_pb2.TxStatusRequest | None) -> bytes | None:
    if request is None:
        return None
    text = request.tx_hash
    if len(text) != 64:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


_STREAM_REFUSALS = {Refusal.TOTAL: "too many status streams open on the node; retry shortly",
                    Refusal.PER_CLIENT: "this client has too many status streams open; close some or retry shortly"}


def command_handlers(node: CommandHost) -> grpc.GenericRpcHandler:
    """The CommandService_v1 methods, named as Iroha 1.6 names them, serving ``node``."""
    seats = Seats(node.config.torii.max_streams, node.config.torii.max_streams_per_client)
    wait_s = node.config.torii.not_received_ms / 1000

    async def admit(transactions: list[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> empty_pb2.Empty:
        if len(transactions) > node.config.api.max_batch:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"at most {node.config.api.max_batch} transactions per call")
        if not transactions:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no transactions in the call")
        try:
            outcomes = await submit(node, [wrap_iroha(t) for t in transactions])
        except StorageUnavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the node cannot record transactions now; retry shortly")
        for raw, outcome in zip(transactions, outcomes, strict=True):
            if outcome.verdict is Verdict.INVALID and outcome.tx_hash is None:
                remember_undecodable(raw)
        unkept = [o for o in outcomes if o.verdict in _RESOURCE_VERDICTS]
        if unkept:
            first = unkept[0]
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"{len(unkept)} of {len(outcomes)} transactions not kept: {first.error_code}: "
                                f"{first.message}; send them again shortly")
        return empty_pb2.Empty()

    def remember_undecodable(raw: bytes) -> None:
        """Admission knows no hash for bytes that did not decode: remember a refused payload under its
        hash (``payload_refusal``), so the client's Status tells why."""
        refused = payload_refusal(raw)
        if refused is None:
            return
        tx_hash, error = refused
        status = status_json(tx_hash, TxStatus.STATELESS_VALIDATION_FAILED)
        status["error_code"], status["message"] = error.code, error.message
        node.hub.record_failure(tx_hash, status)

    async def torii(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> empty_pb2.Empty:
        if _payload(request) is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "not an iroha.protocol.Transaction with a payload")
        return await admit([request], context)

    async def list_torii(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> empty_pb2.Empty:
        try:
            transactions = field_one(request)
        except BadWire as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not an iroha.protocol.TxList: {exc}")
        return await admit(transactions, context)

    async def status(request: endpoint_pb2.TxStatusRequest | None,
                     context: grpc.aio.ServicerContext[Any, Any]) -> endpoint_pb2.ToriiResponse:
        tx_hash = _hash_of(request)
        if tx_hash is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tx_hash is 64 hex digits")
        assert tx_hash is not None
        return responses(node, status_of(node, tx_hash), stream=False)[-1]

    async def status_stream(request: endpoint_pb2.TxStatusRequest | None,
                            context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[endpoint_pb2.ToriiResponse]:
        tx_hash = _hash_of(request)
        if tx_hash is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tx_hash is 64 hex digits")
        assert tx_hash is not None
        client = _client(context)
        refused = seats.take(client)
        if refused is not None:
            node.metrics.torii_streams_refused.labels(refused).inc()
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, _STREAM_REFUSALS[refused])
        queue = node.hub.subscribe(tx_hash)  # before the first read: a change in between is queued
        try:
            async for response in _follow(node, tx_hash, queue, wait_s):
                yield response
        finally:
            node.hub.unsubscribe(tx_hash, queue)
            seats.give_back(client)

    empty = empty_pb2.Empty.SerializeToString
    request, answer = _status_request, endpoint_pb2.ToriiResponse.SerializeToString
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Torii": grpc.unary_unary_rpc_method_handler(torii, _as_received, empty),
        "ListTorii": grpc.unary_unary_rpc_method_handler(list_torii, _as_received, empty),
        "Status": grpc.unary_unary_rpc_method_handler(status, request, answer),
        "StatusStream": grpc.unary_stream_rpc_method_handler(status_stream, request, answer),
    })


def _status_request(data: bytes) -> endpoint_pb2.TxStatusRequest | None:
    """The request deserializer of Status and StatusStream. Bytes that do not parse become None, which
    the handler refuses with INVALID_ARGUMENT: a deserializer that raised would answer UNKNOWN and log a
    traceback per request (tests/api/test_torii_hostile_input.py)."""
    try:
        return endpoint_pb2.TxStatusRequest.FromString(data)
    except (DecodeError, RecursionError, ValueError):
        return None


def _as_received(data: bytes) -> bytes:
    """The request deserializer of Torii and ListTorii: the bytes themselves (hashes are over them)."""
    return data


async def _follow(node: CommandHost, tx_hash: bytes, queue: asyncio.Queue[dict[str, Any]],
                  wait_s: float) -> AsyncIterator[endpoint_pb2.ToriiResponse]:
    """The responses of one StatusStream: each status change until a final one, or NOT_RECEIVED once
    the hash has been unknown for ``wait_s``."""
    loop = asyncio.get_running_loop()
    current = status_of(node, tx_hash)
    sent: str | None = None
    unknown_since = loop.time()
    while True:
        name = str(current["status"])
        if name == TxStatus.NOT_RECEIVED:
            if sent is not None and sent != TxStatus.NOT_RECEIVED:
                unknown_since, sent = loop.time(), None  # known, then dropped: wait for it again
            if loop.time() - unknown_since >= wait_s:
                yield torii_response(current)
                return
        elif name != sent:
            for response in responses(node, current, stream=True):
                yield response
            sent = name
            if name in FINAL_STREAM:
                return
        timeout = RECHECK_S
        if name == TxStatus.NOT_RECEIVED:
            timeout = min(timeout, max(0.0, unknown_since + wait_s - loop.time()))
        try:
            current = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            current = status_of(node, tx_hash)
