"""Torii's concurrency bound ([torii] max_calls): a client that keeps calls open cannot make the node
queue more without end. Past the bound a new call of any method fails at once with RESOURCE_EXHAUSTED
(a typed answer the client can retry on), and a freed place serves again. Real in-process node (LevelDB
in a temp dir), real gRPC."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import grpc
import pytest

from node.api.torii.server import bound_port, start_torii, stop_torii
from node.assembly import Node
from node.config import load_config
from node.keyfile import read_key
from node.tools.testnet import init_testnet
from tests.api.test_torii_hostile_input import ADMIN, valid_messages
from tests.integration.conftest import free_port

MAX_CALLS = 3


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, bytes]]:
    root = tmp_path_factory.mktemp("torii-limits") / "net"
    nodes = init_testnet(root, validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    config = load_config(nodes[0].config)
    n = Node(dataclasses.replace(config, torii=dataclasses.replace(config.torii, port=0, max_calls=MAX_CALLS)))
    try:
        yield n, read_key(root / "keys" / f"{ADMIN}.key").seed
    finally:
        n.close()


def test_calls_past_max_calls_are_refused_at_once_and_a_freed_place_serves_again(node: tuple[Node, bytes]) -> None:
    n, seed = node
    messages = valid_messages(seed)
    identity = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}

    async def scenario() -> None:
        server = await start_torii(n)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{bound_port(server)}") as channel:
                fetch = channel.unary_stream("/iroha.protocol.QueryService_v1/FetchCommits", **identity)
                health = channel.unary_unary("/iroha.protocol.QueryService_v1/Healthcheck", **identity)
                find = channel.unary_unary("/iroha.protocol.QueryService_v1/Find", **identity)
                assert isinstance(await health(b"", timeout=5), bytes)
                streams = [fetch(messages["FetchCommits"], timeout=30) for _ in range(MAX_CALLS)]
                waiters = [asyncio.ensure_future(s.read()) for s in streams]  # each waits for a new block
                await asyncio.sleep(0.5)
                assert not any(w.done() for w in waiters)
                for call in (health(b"", timeout=5), find(messages["Find"], timeout=5)):
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await call
                    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                streams[0].cancel()
                await asyncio.sleep(0.3)
                assert isinstance(await find(messages["Find"], timeout=5), bytes)  # a place was freed
                for s in streams[1:]:
                    s.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
        finally:
            await stop_torii(server)

    asyncio.run(scenario())
