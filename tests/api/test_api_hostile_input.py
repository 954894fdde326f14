"""Hostile input against the HTTP API of a real in-process node (real LevelDB, real aiohttp server on
127.0.0.1, an aiohttp client): random and mutated bodies, wrong content types, deep nesting, huge
strings, random paths and methods, every endpoint. The node must never answer 500, every refusal must
be JSON naming an error code, and the node must keep serving. Plus one test per API limit: body size,
batch size and WebSocket subscribers.

It is served over HTTPS (``[api] tls_cert``/``tls_key``, a throwaway certificate): issue 16 asks that
hostile input keeps being refused cleanly with TLS on; the routes and parser behind TLS are the same
as over plain HTTP, which the connection-limit and integration tests use.

The server runs on an event loop in a background thread for the whole module (starting a node per
hypothesis example would be slow); each request is a coroutine run on that loop and awaited from the
sync test. ``HOSTILE_INPUTS`` counts every request the fuzz tests sent; it is printed at the end
(``pytest -s``). ``API_FUZZ_EXAMPLES=N`` overrides the profile's example count for a long run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
import yarl
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from node.api.app import build_app
from node.api.listener import tls_context
from node.api.open_api import OPEN_API_PATHS
from node.api.open_api_tokens import create_token
from node.assembly import Node
from node.config import ApiConfig, NodeConfig, OpenApiConfig, load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.queries import GetAccountAssets, sign_query
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import init_testnet
from tests.api.tls import client_context, self_signed
from tests.integration.conftest import free_port

MAX_BODY = 64 * 1024
MAX_BATCH = 20
MAX_WEBSOCKETS = 3
FUZZ = (settings(max_examples=int(os.environ["API_FUZZ_EXAMPLES"])) if os.environ.get("API_FUZZ_EXAMPLES")
        else settings())
HOSTILE_INPUTS = {"count": 0, "open_api": 0}


@dataclasses.dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class LiveApi:
    """A node's API served on a background event loop; ``request`` is callable from sync code."""

    def __init__(self, config: NodeConfig, client_tls: ssl.SSLContext) -> None:
        self.config = config
        self.client_tls = client_tls
        self.base = f"https://127.0.0.1:{config.api.port}"
        self.bearer: str | None = None  # an Open API token: sent to those paths, so the fuzz reaches their bodies
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api-under-test", daemon=True)
        self.thread.start()
        self.run(self._start())

    def run(self, coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.node = Node(self.config)  # no consensus runs: the mempool only fills, nothing commits
        self.runner = web.AppRunner(build_app(self.node), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.config.api.port, ssl_context=tls_context(self.config.api)).start()
        # Raw bytes on the wire test aiohttp's HTTP parser, which TLS does not change; over TLS the
        # client cannot half-close to say "that was all", so those go to a plain twin of the site.
        self.plain_port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.plain_port).start()
        self.session = self.new_session()

    def new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                     connector=aiohttp.TCPConnector(ssl=self.client_tls))

    async def _request(self, method: str, path: str, data: bytes | None,
                       headers: dict[str, str] | None) -> Answer:
        url = yarl.URL(self.base + path, encoded=True)
        async with self.session.request(method, url, data=data, headers=headers) as resp:
            return Answer(resp.status, resp.content_type, await resp.read(), dict(resp.headers))

    def request(self, method: str, path: str, data: bytes | None = None,
                content_type: str | None = None) -> Answer:
        headers = {} if content_type is None else {"Content-Type": content_type}
        if self.bearer and path in OPEN_API_PATHS:
            headers["Authorization"] = f"Bearer {self.bearer}"
        return self.run(self._request(method, path, data, headers or None))

    def post_json(self, path: str, doc: Any) -> Answer:
        return self.request("POST", path, json.dumps(doc).encode(), "application/json")

    async def _close(self) -> None:
        await self.session.close()
        await self.runner.cleanup()
        self.node.close()

    def close(self) -> None:
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclasses.dataclass
class World:
    api: LiveApi
    keys_dir: Path

    def tx_hex(self, memo: str = "") -> str:
        payload = TxPayload(self.api.node.chain_id, "alice@aclb", int(time.time() * 1000), 1,
                            (c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", memo, "1.00"),))
        return build_transaction(payload, read_key(self.keys_dir / "alice@aclb.key")).encode().hex()

    def query_hex(self, counter: int = 1) -> str:
        query = GetAccountAssets("alice@aclb", 10, None)
        signed = sign_query(self.api.node.chain_id, "alice@aclb", int(time.time() * 1000), counter, query,
                            read_key(self.keys_dir / "alice@aclb.key"))
        return signed.encode().hex()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("hostile") / "net"
    nodes = init_testnet(root, validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    loaded = load_config(nodes[0].config)
    cert, key = self_signed(root.parent / "tls")
    limits = ApiConfig(loaded.api.host, loaded.api.port, max_body_bytes=MAX_BODY, max_batch=MAX_BATCH,
                       max_websockets=MAX_WEBSOCKETS, tls_cert=cert, tls_key=key)
    # The Open API's rate limit is tested in tests/api/test_open_api.py; here every fuzzed body must be read.
    config = dataclasses.replace(loaded, api=limits, open_api=OpenApiConfig(rate_per_s=1_000_000, burst=1_000_000))
    api = LiveApi(config, client_context(cert))
    api.bearer, _ = create_token(config.data_dir, "fuzz", 1)
    w = World(api, root / "keys")
    try:
        yield w
        # Still serving after everything: healthy, and a fresh valid transaction is accepted.
        assert api.request("GET", "/healthz").status == 200
        fresh = api.post_json("/v1/transactions", {"transaction": w.tx_hex("after the fuzz")})
        assert fresh.status == 202, fresh.body
        print(f"\nhostile HTTP inputs tried: {HOSTILE_INPUTS['count']} ({HOSTILE_INPUTS['open_api']} to the Open "
              "API's paths); 0 answered 500")
    finally:
        api.close()


# ---- the contract every answer must keep ----

def check(answer: Answer, method: str, path: str) -> None:
    HOSTILE_INPUTS["count"] += 1
    HOSTILE_INPUTS["open_api"] += path in OPEN_API_PATHS
    where = f"{method} {path[:120]} -> {answer.status} {answer.body[:300]!r}"
    assert answer.status != 500, where
    assert answer.status < 500 or answer.status == 503, where
    if answer.status >= 400 and method != "HEAD":
        assert answer.content_type == "application/json", where
        body = answer.json()
        if path in OPEN_API_PATHS and method == "POST":  # the Bakong Open API's envelope, its code a number
            assert set(body) == {"responseCode", "responseMessage", "errorCode", "data"}, where
            assert body["responseCode"] == 1 and isinstance(body["errorCode"], int) and body["data"] is None, where
        elif "error" in body:
            assert isinstance(body["error"]["code"], str) and body["error"]["code"], where
            assert isinstance(body["error"]["message"], str), where
        else:
            # A single submitted transaction refused on its merits gets its status record, which
            # names the reason in error_code (the shape clients already read).
            assert path == "/v1/transactions" and method == "POST", where
            assert body["status"] in ("STATELESS_VALIDATION_FAILED", "REJECTED") and body["error_code"], where
        if answer.status == 503:
            assert answer.headers.get("Retry-After"), where


def assert_serving(api: LiveApi) -> None:
    health = api.request("GET", "/healthz")
    assert health.status == 200 and health.json()["ok"] is True


# ---- strategies ----

POST_PATHS = ["/v1/transactions", "/v1/queries", "/v1/khqr/payment", *OPEN_API_PATHS]
CONTENT_TYPES = ["application/json", "application/msgpack", "text/plain", "application/octet-stream",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "application/json; charset=latin-1",
                 "application/msgpack; charset=utf-8", "*/*", "application/../json"]
BODY_KEYS = ["transaction", "transactions", "query", "queries", "md5", "hash", "amount", "currency",
             "accountId", "qr", "sourceInfo", "email"]

scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=50)
           | st.binary(max_size=50).map(bytes.hex))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25)


def nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "dict":
        return '{"a":' * depth + "1" + "}" * depth
    return '{"transactions":' + "[" * depth + '"00"' + "]" * depth + "}"


deep_bodies = st.builds(nested, st.sampled_from([2, 100, 999, 1000, 5000, 10_000, 100_000]),
                        st.sampled_from(["list", "dict", "in_field"])).map(str.encode)
huge_strings = st.builds(lambda key, n, ch: json.dumps({key: ch * n}).encode(), st.sampled_from(BODY_KEYS),
                         st.sampled_from([10_000, 30_000, MAX_BODY // 2 - 20, MAX_BODY - 40]),
                         st.sampled_from(["0", "a", "zz", "\u00e9", "\\"]))
shaped_json = st.builds(lambda key, value: json.dumps({key: value}).encode(), st.sampled_from(BODY_KEYS),
                        json_values)
wrong_typed = st.builds(lambda d: json.dumps(d).encode(),
                        st.fixed_dictionaries({}, optional=dict.fromkeys(BODY_KEYS, json_values)))
msgpack_bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    st.lists(st.binary(max_size=300), max_size=30).map(lambda v: msgpack.packb(v, use_bin_type=True)),
    st.sampled_from([2, 1000, 100_000]).map(lambda n: b"\x91" * n + b"\xc0"),
)
any_body = st.one_of(st.binary(max_size=4096), json_values.map(lambda v: json.dumps(v).encode()), shaped_json,
                     wrong_typed, deep_bodies, huge_strings, msgpack_bodies)
content_types = st.one_of(st.sampled_from(CONTENT_TYPES), st.none(),
                          st.text(max_size=30).filter(lambda t: t.isprintable()))


def flip(data: bytes, positions: list[int]) -> bytes:
    out = bytearray(data)
    for p in positions:
        out[(p // 8) % len(out)] ^= 1 << (p % 8)
    return bytes(out)


mutations = st.one_of(
    st.lists(st.integers(0, 1 << 20), min_size=1, max_size=8).map(lambda ps: ("flip", ps)),
    st.integers(0, 400).map(lambda n: ("truncate", n)),
    st.binary(min_size=1, max_size=64).map(lambda b: ("append", b)),
    st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=16)).map(lambda t: ("splice", t)),
)


def mutate(data: bytes, mutation: tuple[str, Any]) -> bytes:
    kind, arg = mutation
    if kind == "flip":
        return flip(data, arg)
    if kind == "truncate":
        return data[: arg % len(data)]
    if kind == "append":
        return data + arg
    at, chunk = arg
    at %= len(data)
    return data[:at] + chunk + data[at + len(chunk):]


# ---- fuzz tests ----

@FUZZ
@given(path=st.sampled_from(POST_PATHS), body=any_body, content_type=content_types)
def test_post_endpoints_answer_any_body_with_a_clear_error_never_500(world: World, path: str, body: bytes,
                                                                      content_type: str | None) -> None:
    check(world.api.request("POST", path, body, content_type), "POST", path)


@FUZZ
@given(path=st.sampled_from(POST_PATHS), body=msgpack_bodies)
def test_msgpack_garbage_is_refused_as_bad_msgpack_or_bad_request(world: World, path: str,
                                                                   body: bytes) -> None:
    answer = world.api.request("POST", path, body, "application/msgpack")
    check(answer, "POST", path)
    assert answer.status in (202, 400, 403, 404, 409, 413, 503)


@FUZZ
@given(target=st.sampled_from(["tx", "txs", "query", "tx_msgpack"]), mutation=mutations)
def test_mutated_valid_transactions_and_queries_are_refused_cleanly(world: World, target: str,
                                                                     mutation: tuple[str, Any]) -> None:
    if target == "query":
        raw = bytes.fromhex(world.query_hex())
        answer = world.api.post_json("/v1/queries", {"query": mutate(raw, mutation).hex()})
        path = "/v1/queries"
    elif target == "tx_msgpack":
        raw = bytes.fromhex(world.tx_hex("msgpack"))
        answer = world.api.request("POST", "/v1/transactions", msgpack.packb(mutate(raw, mutation)),
                                   "application/msgpack")
        path = "/v1/transactions"
    else:
        raw = bytes.fromhex(world.tx_hex(target))
        bad = mutate(raw, mutation).hex()
        doc = {"transaction": bad} if target == "tx" else {"transactions": [world.tx_hex("ok"), bad]}
        answer = world.api.post_json("/v1/transactions", doc)
        path = "/v1/transactions"
    check(answer, "POST", path)
    if target == "txs" and answer.status == 202:
        assert len(answer.json()["results"]) == 2


def test_a_slow_query_does_not_hold_up_the_event_loop(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Queries are answered on their own threads: while one is still running, the node serves others."""
    node, api = world.api.node, world.api
    running, release = threading.Event(), threading.Event()
    answer = node.queries.answer

    def slow_answer(query: Any, now: int) -> Any:
        running.set()
        release.wait(30)  # on the event loop this would freeze the node until released
        return answer(query, now)

    monkeypatch.setattr(node.queries, "answer", slow_answer)
    body = json.dumps({"query": world.query_hex(counter=7)}).encode()
    slow = asyncio.run_coroutine_threadsafe(
        api._request("POST", "/v1/queries", body, {"Content-Type": "application/json"}), api.loop)
    try:
        assert running.wait(10)
        status = api.run(api._request("GET", "/v1/status", None, None), timeout=10)
        assert status.status == 200 and status.json()["chain_id"] == node.chain_id
    finally:
        release.set()
    done = slow.result(30)
    assert done.status == 200 and done.json()["type"] == "GetAccountAssets"


GET_PATHS = ["/v1/status", "/healthz", "/metrics", "/v1/evidence", "/v1/transactions/{seg}",
             "/v1/transactions/{seg}/ws", "/v1/blocks/ws", "/v1/{seg}", "/{seg}", "/v1/transactions",
             "/v1/queries", "/v1/transactions/{seg}/{seg}"]
PRE_ENCODED = ["%00", "%2e%2e", "%2F", "%zz", "%"]  # sent as they are; every other segment is percent-encoded
segments = st.one_of(st.text(max_size=80), st.binary(max_size=32).map(bytes.hex),
                     st.binary(min_size=32, max_size=32).map(bytes.hex),
                     st.sampled_from(["..", ".", "a" * 3000, "0" * 64, "g" * 64, "0" * 63, "ＡＢ",
                                      *PRE_ENCODED]))


def in_path(segment: str) -> str:
    return segment if segment in PRE_ENCODED else urllib.parse.quote(segment, safe="")


@FUZZ
@given(template=st.sampled_from(GET_PATHS), segment=segments,
       method=st.sampled_from(["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
       body=st.none() | st.binary(max_size=256))
def test_every_endpoint_with_random_paths_and_methods_answers_json_never_500(
        world: World, template: str, segment: str, method: str, body: bytes | None) -> None:
    path = template.replace("{seg}", in_path(segment))
    check(world.api.request(method, path, body), method, path)


@FUZZ
@given(segment=segments)
def test_transaction_websocket_with_random_hashes_never_500(world: World, segment: str) -> None:
    async def attempt() -> Answer:
        url = yarl.URL(f"{world.api.base}/v1/transactions/{in_path(segment)}/ws", encoded=True)
        try:
            async with world.api.session.ws_connect(url) as ws:
                first = await ws.receive_json(timeout=10)
                assert first["status"] == "NOT_RECEIVED"
                return Answer(101, "application/json", b"{}", {})
        except aiohttp.WSServerHandshakeError as exc:
            return Answer(exc.status, "application/json", b'{"error": {"code": "x", "message": ""}}', {})

    answer = world.api.run(attempt())
    check(answer, "GET", "/v1/transactions/{hash}/ws")
    assert answer.status in (101, 400, 404), answer
    if answer.status != 101:  # the handshake refusal itself is JSON with a code
        plain = world.api.request("GET", f"/v1/transactions/{in_path(segment)}/ws")
        check(plain, "GET", "/v1/transactions/{hash}/ws")


async def raw_exchange(api: LiveApi, data: bytes, half_close: bool = True) -> bytes:
    """Send raw bytes on a fresh plain TCP connection, half-close, and read whatever the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.plain_port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()
        return await asyncio.wait_for(reader.read(65536), timeout=10)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


http_garbage = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda method, target, junk: method + b" " + target + b" HTTP/1.1\r\n" + junk + b"\r\n\r\n",
              st.sampled_from([b"GET", b"POST", b"BREW", b"", b"G\x00T"]),
              st.sampled_from([b"/healthz", b"/v1/transactions", b"*", b"http://x/", b"/" + b"a" * 9000,
                               b""]),
              st.binary(max_size=300)),
    st.builds(lambda n: b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(n).encode()
              + b"\r\nContent-Type: application/json\r\n\r\n{\"transaction\":", st.integers(0, 2**70)),
    st.builds(lambda size: b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * size + b"\r\n\r\n",
              st.sampled_from([10, 9000, 70_000])),
    st.just(b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nxx\r\n0\r\n\r\n"),
)


@FUZZ
@given(data=http_garbage)
def test_malformed_http_on_the_wire_is_refused_and_the_node_keeps_serving(world: World, data: bytes) -> None:
    """Below the routes: bytes that are not (quite) HTTP. aiohttp's parser answers 4xx in plain text
    before our middleware runs, or just closes; never 500, and the next client is served."""
    reply = world.api.run(raw_exchange(world.api, data))
    HOSTILE_INPUTS["count"] += 1
    status_line = reply.split(b"\r\n", 1)[0].split(b" ")
    if reply:
        assert status_line[0] in (b"HTTP/1.0", b"HTTP/1.1"), reply[:300]
        assert not status_line[1].startswith(b"5") or status_line[1] == b"503", reply[:300]
    assert_serving(world.api)


def test_a_url_longer_than_the_http_line_limit_is_a_400_and_the_node_keeps_serving(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    request = b"GET /v1/transactions/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    with caplog.at_level(logging.INFO, logger="aiohttp.server"):
        reply = world.api.run(raw_exchange(world.api, request, half_close=False))
    assert reply.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", reply[:200]
    # The node log gets one warning line for it, not an ERROR with a traceback.
    logged = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert logged and all(r.levelno == logging.WARNING and r.exc_info is None for r in logged), logged
    assert "refused malformed HTTP (400)" in logged[0].getMessage()
    assert_serving(world.api)


def test_deeply_nested_json_is_bad_json_not_500(world: World) -> None:
    for path in POST_PATHS:
        for kind in ("list", "dict", "in_field"):
            answer = world.api.request("POST", path, nested(10_000, kind).encode(), "application/json")
            check(answer, "POST", path)
            assert answer.status == 400
    assert_serving(world.api)


def test_text_plain_and_form_bodies_are_read_as_json_or_refused(world: World) -> None:
    body = json.dumps({"transaction": world.tx_hex("plain")}).encode()
    ok = world.api.request("POST", "/v1/transactions", body, "text/plain")
    check(ok, "POST", "/v1/transactions")
    assert ok.status == 202
    form = world.api.request("POST", "/v1/transactions", b"transaction=00",
                             "application/x-www-form-urlencoded")
    check(form, "POST", "/v1/transactions")
    assert (form.status, form.json()["error"]["code"]) == (400, "bad_json")


def test_the_node_keeps_serving_after_the_fuzz(world: World) -> None:
    assert_serving(world.api)
    status = world.api.request("GET", "/v1/status")
    assert status.status == 200 and status.json()["height"] == 0


# ---- limits ----

def test_body_over_max_body_bytes_is_413_body_too_large(world: World) -> None:
    huge = json.dumps({"transaction": "00" * MAX_BODY}).encode()
    for path, content_type, body in (("/v1/transactions", "application/json", huge),
                                     ("/v1/queries", "application/json", huge),
                                     ("/v1/transactions", "application/msgpack",
                                      msgpack.packb(b"\x00" * MAX_BODY))):
        answer = world.api.request("POST", path, body, content_type)
        check(answer, "POST", path)
        assert (answer.status, answer.json()["error"]["code"]) == (413, "body_too_large"), answer.body
    just_under = json.dumps({"transaction": "00" * ((MAX_BODY - 40) // 2)}).encode()
    assert len(just_under) <= MAX_BODY
    # Just under the limit: read in full, then judged on its content.
    assert world.api.request("POST", "/v1/transactions", just_under, "application/json").status == 400
    assert_serving(world.api)


def test_batch_over_max_batch_is_413_batch_too_large(world: World) -> None:
    txs = [world.tx_hex(f"batch {i}") for i in range(MAX_BATCH + 1)]
    over = world.api.post_json("/v1/transactions", {"transactions": txs})
    assert (over.status, over.json()["error"]["code"]) == (413, "batch_too_large")
    packed = world.api.request("POST", "/v1/transactions", msgpack.packb([bytes.fromhex(t) for t in txs]),
                               "application/msgpack")
    assert (packed.status, packed.json()["error"]["code"]) == (413, "batch_too_large")
    assert world.api.node.mempool.pending_for("alice@aclb") is not None
    at_limit = world.api.post_json("/v1/transactions", {"transactions": txs[:MAX_BATCH]})
    assert at_limit.status == 202
    assert [r["status"] for r in at_limit.json()["results"]] == ["STATELESS_VALIDATION_SUCCESS"] * MAX_BATCH


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13"}


def test_websocket_subscribers_over_max_websockets_get_503_too_many_subscribers(world: World) -> None:
    hashes = [f"{i:064x}" for i in range(MAX_WEBSOCKETS + 1)]

    async def scenario() -> tuple[list[dict[str, Any]], int, dict[str, Any], str | None, dict[str, Any]]:
        session = world.api.session
        base = world.api.base
        open_ws = []
        try:
            for h in hashes[:MAX_WEBSOCKETS]:
                ws = await session.ws_connect(f"{base}/v1/transactions/{h}/ws")
                open_ws.append(ws)
                await ws.receive_json(timeout=10)
            firsts = [{"open": not ws.closed} for ws in open_ws]
            async with session.get(f"{base}/v1/transactions/{hashes[-1]}/ws", headers=UPGRADE) as resp:
                refused_status, refused_body = resp.status, await resp.json()
                retry = resp.headers.get("Retry-After")
            blocks = await session.get(f"{base}/v1/blocks/ws", headers=UPGRADE)
            assert blocks.status == 503 and (await blocks.json())["error"]["code"] == "too_many_subscribers"
            blocks.release()
            await open_ws.pop().close()
            for _ in range(100):  # the server unsubscribes once it sees the close
                if world.api.node.hub.subscriber_count < MAX_WEBSOCKETS:
                    break
                await asyncio.sleep(0.02)
            async with session.ws_connect(f"{base}/v1/transactions/{hashes[-1]}/ws") as ws:
                again = await ws.receive_json(timeout=10)
            return firsts, refused_status, refused_body, retry, again
        finally:
            for ws in open_ws:
                await ws.close()

    firsts, status, body, retry, again = world.api.run(scenario())
    assert firsts == [{"open": True}] * MAX_WEBSOCKETS
    assert (status, body["error"]["code"], retry) == (503, "too_many_subscribers", "1")
    assert again == {"hash": hashes[-1], "status": "NOT_RECEIVED"}
    assert_serving(world.api)


def test_a_captured_signed_query_cannot_be_asked_again_but_a_fresh_one_can(world: World) -> None:
    """Issue 14, low finding: a signed query was replayable for its whole 5-minute window."""
    captured = world.query_hex(counter=424242)
    first = world.api.post_json("/v1/queries", {"query": captured})
    assert first.status == 200, first.body
    replay = world.api.post_json("/v1/queries", {"query": captured})
    assert replay.status == 409 and replay.json()["error"]["code"] == "query_replayed"
    fresh = world.api.post_json("/v1/queries", {"query": world.query_hex(counter=424243)})
    assert fresh.status == 200 and fresh.json() == first.json()
