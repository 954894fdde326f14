"""Torii's concurrency bound ([torii] max_calls): a client that keeps calls open cannot make the node
queue more without end. Past the bound a new call of any method fails at once with RESOURCE_EXHAUSTED
(a typed answer the client can retry on), and a freed place serves again. Real in-process node (LevelDB
in a temp dir), real gRPC."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import grpc
import nacl.signing
import pytest

from node.api.torii.server import bound_port, start_torii, stop_torii
from node.assembly import Node
from node.config import load_config
from node.keyfile import read_key
from node.ledger.iroha_proto import commands_pb2, endpoint_pb2, transaction_pb2
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


def test_a_list_at_max_batch_is_taken_and_what_the_full_mempool_cannot_keep_is_resource_exhausted(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """[api] max_batch 3 (a list of exactly 3 is taken), a mempool of 2: the third is not kept, and the
    client is told so with the count and the reason, while the first two are queued."""
    root = tmp_path_factory.mktemp("torii-full") / "net"
    nodes = init_testnet(root, validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    config = load_config(nodes[0].config)
    n = Node(dataclasses.replace(config, torii=dataclasses.replace(config.torii, port=0),
                                 api=dataclasses.replace(config.api, max_batch=3),
                                 mempool=dataclasses.replace(config.mempool, max_txs=2)))
    try:
        seed = read_key(root / "keys" / f"{ADMIN}.key").seed
        key = nacl.signing.SigningKey(seed)
        txs = []
        for i in range(3):
            tx = transaction_pb2.Transaction()
            reduced = tx.payload.reduced_payload
            reduced.creator_account_id, reduced.created_time, reduced.quorum = ADMIN, int(time.time() * 1000) + i, 1
            reduced.commands.append(commands_pb2.Command(add_asset_quantity=commands_pb2.AddAssetQuantity(
                asset_id="khr#nbc", amount="1.00")))
            tx.signatures.add(public_key="ed0120" + key.verify_key.encode().hex(),
                              signature=key.sign(tx.payload.SerializeToString()).signature.hex())
            txs.append(tx)

        async def scenario() -> tuple[Any, list[str]]:
            server = await start_torii(n)
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{bound_port(server)}") as channel:
                    list_torii = channel.unary_unary("/iroha.protocol.CommandService_v1/ListTorii",
                                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await list_torii(endpoint_pb2.TxList(transactions=txs).SerializeToString(), timeout=5)
                    status = channel.unary_unary("/iroha.protocol.CommandService_v1/Status",
                                                 request_serializer=lambda b: b,
                                                 response_deserializer=endpoint_pb2.ToriiResponse.FromString)
                    names = []
                    for tx in txs:
                        tx_hash = hashlib.sha3_256(tx.payload.SerializeToString()).hexdigest()
                        answer = await status(endpoint_pb2.TxStatusRequest(tx_hash=tx_hash).SerializeToString())
                        names.append(endpoint_pb2.TxStatus.Name(answer.tx_status))
                    return refused.value, names
            finally:
                await stop_torii(server)

        refused, names = asyncio.run(scenario())
        assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.details().startswith("1 of 3 transactions not kept: mempool_full: ")
        assert names == ["STATELESS_VALIDATION_SUCCESS", "STATELESS_VALIDATION_SUCCESS", "NOT_RECEIVED"]
    finally:
        n.close()
