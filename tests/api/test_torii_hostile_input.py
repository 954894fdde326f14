"""Hostile input to Torii (issue 18; the standards' "bad input gets a typed error"): every method of
CommandService_v1 and QueryService_v1 gets random bytes, truncations and byte flips of valid messages,
valid messages with absurd field values, and oversized ones. A refusal is a typed answer (a status,
an ErrorResponse, or a gRPC status code naming the client's fault); never INTERNAL or UNKNOWN (our bug),
and the node keeps answering afterwards. Real in-process node (LevelDB in a temp dir), real gRPC."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import nacl.signing
import pytest

from node.api.torii.server import bound_port, start_torii, stop_torii
from node.assembly import Node
from node.config import load_config
from node.keyfile import read_key
from node.ledger.iroha_proto import commands_pb2, endpoint_pb2, queries_pb2, transaction_pb2
from node.tools.testnet import init_testnet
from tests.integration.conftest import free_port

ADMIN = "admin@nbc"
METHODS = [("CommandService_v1", "Torii", False), ("CommandService_v1", "ListTorii", False),
           ("CommandService_v1", "Status", False), ("CommandService_v1", "StatusStream", True),
           ("QueryService_v1", "Find", False), ("QueryService_v1", "FetchCommits", True),
           ("QueryService_v1", "Healthcheck", False)]
CLIENT_FAULTS = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
                 grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.PERMISSION_DENIED,
                 grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND,
                 grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.CANCELLED}
"""What a client may be answered for its own bad input (a stream cut by our deadline is DEADLINE_EXCEEDED)."""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, bytes]]:
    root = tmp_path_factory.mktemp("torii-fuzz") / "net"
    nodes = init_testnet(root, validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    config = load_config(nodes[0].config)
    n = Node(dataclasses.replace(config, torii=dataclasses.replace(config.torii, port=0, not_received_ms=50)))
    try:
        yield n, read_key(root / "keys" / f"{ADMIN}.key").seed
    finally:
        n.close()


def valid_messages(seed: bytes) -> dict[str, bytes]:
    """One well-formed request per method, to mutate."""
    key = nacl.signing.SigningKey(seed)
    tx = transaction_pb2.Transaction()
    reduced = tx.payload.reduced_payload
    reduced.creator_account_id, reduced.created_time, reduced.quorum = ADMIN, int(time.time() * 1000), 1
    reduced.commands.append(commands_pb2.Command(add_asset_quantity=commands_pb2.AddAssetQuantity(
        asset_id="khr#nbc", amount="1.00")))
    tx.signatures.add(public_key="ed0120" + key.verify_key.encode().hex(),
                      signature=key.sign(tx.payload.SerializeToString()).signature.hex())
    query = queries_pb2.Query()
    query.payload.meta.creator_account_id, query.payload.meta.created_time = ADMIN, int(time.time() * 1000)
    query.payload.meta.query_counter = 1
    query.payload.get_account.account_id = ADMIN
    query.signature.public_key = "ed0120" + key.verify_key.encode().hex()
    query.signature.signature = key.sign(query.payload.SerializeToString()).signature.hex()
    blocks = queries_pb2.BlocksQuery()
    blocks.meta.CopyFrom(query.payload.meta)
    blocks.signature.public_key = query.signature.public_key
    blocks.signature.signature = key.sign(blocks.meta.SerializeToString()).signature.hex()
    status = endpoint_pb2.TxStatusRequest(tx_hash="ab" * 32).SerializeToString()
    return {"Torii": tx.SerializeToString(),
            "ListTorii": endpoint_pb2.TxList(transactions=[tx, tx]).SerializeToString(),
            "Status": status, "StatusStream": status, "Find": query.SerializeToString(),
            "FetchCommits": blocks.SerializeToString(), "Healthcheck": b""}


def hostile_variants(good: bytes, rng: random.Random) -> Iterator[bytes]:
    yield b""
    yield b"\xff" * 64
    yield good + b"\x00"
    yield good * 3
    for _ in range(25):
        yield bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
    for _ in range(25):
        if good:
            cut = rng.randint(0, len(good) - 1)
            yield good[:cut]
            flipped = bytearray(good)
            for _ in range(rng.randint(1, 4)):
                flipped[rng.randrange(len(flipped))] = rng.getrandbits(8)
            yield bytes(flipped)
    yield b"\x0a" + b"\xff\xff\xff\xff\x0f" + b"x" * 10  # a length prefix of 4 GiB
    yield b"\x0a\x80" * 5000  # deeply nested lengths


def test_every_torii_method_answers_hostile_bytes_with_typed_refusals(node: tuple[Node, bytes],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    n, seed = node
    rng = random.Random(18)
    codes: Counter[str] = Counter()
    tried = 0

    async def scenario() -> None:
        nonlocal tried
        server = await start_torii(n)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{bound_port(server)}") as channel:
                for service, method, streaming in METHODS:
                    path = f"/iroha.protocol.{service}/{method}"
                    for data in hostile_variants(valid_messages(seed)[method], rng):
                        tried += 1
                        try:
                            if streaming:
                                call = channel.unary_stream(path, request_serializer=lambda b: b,
                                                            response_deserializer=lambda b: b)
                                async for _answer in call(data, timeout=0.5):
                                    pass
                            else:
                                await channel.unary_unary(path, request_serializer=lambda b: b,
                                                          response_deserializer=lambda b: b)(data, timeout=5)
                            codes["OK"] += 1
                        except grpc.aio.AioRpcError as exc:
                            codes[exc.code().name] += 1
                            assert exc.code() in CLIENT_FAULTS, f"{method} answered {exc.code()} to {data[:40]!r}: " \
                                                                f"{exc.details()}"
                # still serving, and still right, after all that
                answer = await channel.unary_unary("/iroha.protocol.QueryService_v1/Healthcheck",
                                                   request_serializer=lambda b: b,
                                                   response_deserializer=lambda b: b)(b"", timeout=5)
                assert isinstance(answer, bytes)
        finally:
            await stop_torii(server)

    asyncio.run(scenario())
    print(f"\nTorii hostile input: {tried} requests over {len(METHODS)} methods; answers: {dict(codes)}")
    assert tried > 400 and "INTERNAL" not in codes and "UNKNOWN" not in codes
    # a client's garbage is not our error: no traceback per request in the node's log
    assert [r.getMessage()[:120] for r in caplog.records if r.levelno >= logging.ERROR] == []
