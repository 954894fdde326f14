"""The API's bound on open connections, on an in-process node (real LevelDB, real sockets on
127.0.0.1): past ``max_connections`` a new connection gets a JSON 503 and is closed; once a
connection closes, new ones are served again."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

from node.api.app import build_app
from node.api.listener import api_runner, listen
from node.assembly import Node
from node.config import load_config
from node.tools.testnet import init_testnet
from tests.integration.conftest import free_port

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def exchange(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, bytes]:
    """Open a keep-alive connection, ask /healthz, return the status and body (connection left open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split()[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return reader, writer, status, await reader.readexactly(length)


def test_connections_past_the_limit_get_503_and_the_node_serves_again_once_one_closes(tmp_path: Path) -> None:
    nodes = init_testnet(tmp_path / "net", base_port=free_port(), p2p_base_port=free_port())
    config = load_config(nodes[0].config)
    config = dataclasses.replace(config, api=dataclasses.replace(config.api, max_connections=2))

    async def scenario() -> tuple[list[int], dict, int, int]:
        node = Node(config)
        runner = api_runner(build_app(node), config.api)
        await runner.setup()
        server = await listen(runner, config.api, lambda reason: node.metrics.api_connections_refused.labels(reason).inc())
        try:
            first = await exchange(config.api.port)
            second = await exchange(config.api.port)
            third = await exchange(config.api.port)
            closed = await third[0].read() == b""  # refused connections are closed after the answer
            first[1].close()
            await first[1].wait_closed()
            await asyncio.sleep(0.1)  # the server notices the close
            fourth = await exchange(config.api.port)
            for conn in (second, fourth):
                conn[1].close()
                await conn[1].wait_closed()
            refused = int(node.metrics.api_connections_refused.labels("total")._value.get())
            return [first[2], second[2], third[2], fourth[2]], json.loads(third[3]), closed, refused
        finally:
            server.close()
            await runner.cleanup()
            node.close()

    statuses, refusal, closed, refused = asyncio.run(scenario())
    assert statuses == [200, 200, 503, 200]
    assert refusal["error"]["code"] == "too_many_connections"
    assert closed and refused == 1
