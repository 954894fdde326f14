"""Issue 14, finding 4 and the WebSocket low finding, against a real node process (uvloop, its own
descriptor limit) on loopback: one client's connections or streams cannot lock the others out, a
connection that sends no complete request head is closed, and a node out of connection seats answers
a JSON 503, not a reset.

Clients are told apart by source address: every 127.0.0.0/8 address is local on Linux, so a client
socket bound to 127.0.0.2 is another client than one bound to 127.0.0.3. Limits come from the node's
defaults, or from keys the node has had since before the fix (``max_connections``), so that each test
fails on the code before it for the reason it names.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.tools.testnet import init_testnet
from tests.integration.conftest import RunningNet, free_port

pytestmark = pytest.mark.integration

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BLOCK_STREAM = (b"GET /v1/blocks/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n\r\n")
PATIENCE_S = 60.0  # for a 2-core machine shared with other test runs; the node's own deadlines are ~10 s


@dataclass
class Answer:
    """What one connection got: an HTTP status (None: reset or closed unanswered) and, if any, a body."""

    status: int | None
    headers: dict[str, str]
    body: dict[str, object] | None
    writer: asyncio.StreamWriter | None
    failure: str = ""

    def refusal_code(self) -> object:
        return (self.body or {}).get("error", {}).get("code")  # type: ignore[union-attr]


async def ask(port: int, source: str, request: bytes = HEALTHZ) -> Answer:
    """Connect from ``source``, send ``request``, read the answer's head (and body, unless 101); the
    connection is left open for the caller to hold."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), PATIENCE_S)
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE_S)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        status = int(lines[0].split()[1])
        body = None
        if status != 101:
            body = json.loads(await reader.readexactly(int(headers["content-length"])))
        return Answer(status, headers, body, writer)
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
        if writer is not None:
            writer.close()
        return Answer(None, {}, None, None, f"{type(exc).__name__}: {exc}")


async def ask_many(port: int, source: str, count: int, request: bytes = HEALTHZ) -> list[Answer]:
    answers: list[Answer] = []
    while len(answers) < count:
        chunk = min(50, count - len(answers))
        answers += await asyncio.gather(*(ask(port, source, request) for _ in range(chunk)))
    return answers


def hang_up(answers: list[Answer]) -> None:
    for answer in answers:
        if answer.writer is not None:
            answer.writer.close()


def metric(net: RunningNet, name: str) -> float:
    """The sum of one metric's samples, read from /metrics once the node has seats again."""
    with urllib.request.urlopen(net.nodes[0].api_url + "/metrics", timeout=PATIENCE_S) as reply:
        text = reply.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def start_node(directory: Path, api_keys: dict[str, int]) -> RunningNet:
    nodes = init_testnet(directory, validators=1, base_port=free_port(), p2p_base_port=free_port())
    config = nodes[0].config
    config.write_text(config.read_text().replace("[api]\n", "[api]\n" + "".join(
        f"{key} = {value}\n" for key, value in api_keys.items())))
    net = RunningNet(directory, nodes)
    net.start(nodes[0])
    return net


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RunningNet]:
    net = start_node(tmp_path / "net", {})
    try:
        yield net
    finally:
        net.stop_all()


@pytest.fixture
def small_node(tmp_path: Path) -> Iterator[RunningNet]:
    """A node with 300 connection seats in all (a key older than the fix), to fill in a test."""
    net = start_node(tmp_path / "net", {"max_connections": 300})
    try:
        yield net
    finally:
        net.stop_all()


@pytest.fixture
def quick_deadline_node(tmp_path: Path) -> Iterator[RunningNet]:
    """A node whose request-head deadline is 2 s instead of the default 10 s: the same mechanism, and
    the suite does not wait 10 s twice (its time budget)."""
    net = start_node(tmp_path / "net", {"header_timeout_ms": 2000})
    try:
        yield net
    finally:
        net.stop_all()


def port_of(net: RunningNet) -> int:
    return int(net.nodes[0].api_url.rsplit(":", 1)[1])


def test_a_client_holding_two_thousand_connections_does_not_lock_another_client_out(node: RunningNet) -> None:
    async def scenario() -> tuple[list[Answer], Answer]:
        hog = await ask_many(port_of(node), "127.0.0.2", 2000)  # the finding: ~2,000 sockets from one client
        try:
            return hog, await ask(port_of(node), "127.0.0.3")
        finally:
            hang_up(hog)

    hog, other = asyncio.run(scenario())
    assert other.status == 200, f"another client was not served: {other.failure or other.body}"
    refused = [a for a in hog if a.status != 200]  # past its share: a 503, or a reset once the node drains
    assert any(a.refusal_code() == "too_many_connections" for a in refused)  # 16 of one client's refusals
    assert metric(node, 'bakong_api_connections_refused_total{reason="per_client"}') == len(refused)


def test_a_connection_that_sends_nothing_is_closed_within_the_header_timeout(quick_deadline_node: RunningNet) -> None:
    node = quick_deadline_node
    async def scenario() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(node), local_addr=("127.0.0.2", 0))
        try:
            return await asyncio.wait_for(reader.read(), PATIENCE_S)  # b"": the node closed it
        finally:
            writer.close()

    assert asyncio.run(scenario()) == b""
    assert metric(node, 'bakong_api_connections_refused_total{reason="header_timeout"}') == 1


def test_a_connection_sending_its_head_slowly_is_closed_within_the_header_timeout(quick_deadline_node: RunningNet) -> None:
    node = quick_deadline_node
    async def scenario() -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(node), local_addr=("127.0.0.2", 0))

        async def dribble() -> None:  # one header byte a second, the head never finished
            writer.write(b"GET /healthz HTTP/1.1\r\n")
            while True:
                await asyncio.sleep(1)
                writer.write(b"X")

        dribbling = asyncio.ensure_future(dribble())
        try:
            data = await asyncio.wait_for(reader.read(), PATIENCE_S)
            return f"closed, read {data!r}"
        except ConnectionResetError:
            return "closed, reset"  # the node closed with our dribble unread: a reset is fine here
        finally:
            dribbling.cancel()
            writer.close()

    assert asyncio.run(scenario()).startswith("closed")


def test_past_the_total_limit_a_new_client_gets_a_json_503_not_a_reset(small_node: RunningNet) -> None:
    port = port_of(small_node)

    async def scenario() -> list[Answer]:
        held: list[Answer] = []
        try:
            for k in range(2, 64):  # each address takes what it can, until an address gets nothing
                source = f"127.0.0.{k}"
                while True:
                    answers = await ask_many(port, source, 50)
                    held += answers
                    if all(a.status != 200 for a in answers):
                        return answers  # a client that finds no seat at all
                    if any(a.status != 200 for a in answers):
                        break  # this address's share is used up: the next one
            raise AssertionError("the node never ran out of seats")
        finally:
            hang_up(held)

    newcomer = asyncio.run(scenario())
    for answer in newcomer:
        assert answer.status == 503, f"a new client got no answer: {answer.failure}"
        assert answer.refusal_code() == "too_many_connections"
        assert answer.headers.get("retry-after") == "1"
    assert metric(small_node, 'bakong_api_connections_refused_total{reason="total"}') >= len(newcomer)


def test_a_client_holding_its_stream_share_is_refused_one_more_while_another_client_subscribes(
        node: RunningNet) -> None:
    port = port_of(node)

    async def scenario() -> tuple[Answer, Answer]:
        streams: list[Answer] = []
        try:
            for _ in range(1001):  # at most max_websockets (1,000) could ever be open
                answer = await ask(port, "127.0.0.2", BLOCK_STREAM)
                streams.append(answer)
                if answer.status != 101:
                    break
            other = await ask(port, "127.0.0.3", BLOCK_STREAM)
            streams.append(other)
            return streams[-2], other
        finally:
            hang_up(streams)

    one_more, other = asyncio.run(scenario())
    assert one_more.status == 503 and one_more.refusal_code() == "too_many_subscribers", one_more.failure
    assert one_more.headers.get("retry-after") == "1"
    assert other.status == 101, f"another client could not subscribe: {other.failure or other.body}"
    assert metric(node, 'bakong_api_streams_refused_total{reason="per_client"}') == 1
