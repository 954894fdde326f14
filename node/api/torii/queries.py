"""QueryService_v1 (Find, FetchCommits, Healthcheck): Iroha 1.6's query API over the node's ledger.

Stub first so the Torii server can register it; the answers are filled in next to it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from node.ledger.iroha_proto import qry_responses_pb2

SERVICE = "iroha.protocol.QueryService_v1"


def _not_yet() -> qry_responses_pb2.QueryResponse:
    answer = qry_responses_pb2.QueryResponse()
    answer.error_response.reason = qry_responses_pb2.ErrorResponse.NOT_SUPPORTED
    answer.error_response.message = "not implemented yet"
    return answer


def query_handlers(node: Any) -> grpc.GenericRpcHandler:
    """The QueryService_v1 methods, named as Iroha 1.6 names them, answering from ``node``."""

    async def find(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> qry_responses_pb2.QueryResponse:
        return _not_yet()

    async def fetch_commits(
        request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[qry_responses_pb2.BlockQueryResponse]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not implemented yet")
        yield qry_responses_pb2.BlockQueryResponse()

    async def healthcheck(
        request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> qry_responses_pb2.HealthcheckData:
        return qry_responses_pb2.HealthcheckData()

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
