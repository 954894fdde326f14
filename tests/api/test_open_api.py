"""The Bakong Open API-compatible service (issue 17, point 4) on a real in-process node: a testnet's
genesis, real LevelDB, blocks of real payments committed on the node's own ledger, the node's own
aiohttp app (``build_app``) on a loopback test server, tokens made by ``bakong api-token``.

What a merchant's system sees: a KHQR's md5 unpaid then paid (the first payment and a count when paid
twice), look-ups by full and short hash, the list endpoints and their limit of 50, the account check,
a deep link, and every refusal as the real service's envelope: errorCode 6 and nothing else without a
valid token (missing, wrong, expired, revoked while the node runs), 429 with ``Retry-After`` past a
token's rate, errorCode 5 for a body it cannot read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import json
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from node.api.app import build_app
from node.api.listener import api_runner, listen
from node.api.open_api import register_open_api
from node.api.open_api_tokens import create_token, read_tokens, revoke_token, tokens_path
from node.assembly import Node
from node.cli import main as bakong
from node.config import NodeConfig, OpenApiConfig, load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.chain import Ledger
from node.ledger.khqr import encode_khqr, khqr_md5
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.tools.testnet import init_testnet
from tests.api.tls import self_signed
from tests.integration.conftest import free_port

ENVELOPE = {"responseCode", "responseMessage", "errorCode", "data"}
MERCHANT = "bob@abaa"
CUSTOMER = "alice@aclb"


@dataclasses.dataclass
class World:
    node: Node
    keys: Path
    token: str
    qr: str
    md5: str
    paid: Transaction
    twice: Transaction
    rejected: Transaction
    clock: int = 0

    def tx(self, *commands: c.Command) -> Transaction:
        self.clock += 1
        payload = TxPayload(self.node.chain_id, CUSTOMER, int(time.time() * 1000) + self.clock, 1, commands)
        return build_transaction(payload, read_key(self.keys / f"{CUSTOMER}.key"))

    def commit(self, *txs: Transaction) -> None:
        ledger: Ledger = self.node.ledger
        block, execution = ledger.build_block(list(txs), int(time.time() * 1000) + self.clock,
                                              self.node.key.public_key)
        ledger.commit(block, execution, b"")


def pay(qr_md5: str, amount: str, description: str = "coffee", reference: str = "") -> c.TransferWithReference:
    return c.TransferWithReference(CUSTOMER, MERCHANT, "khr#nbc", description, amount, qr_md5, reference)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("open-api") / "net"
    nodes = init_testnet(root, validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    node = Node(load_config(nodes[0].config))  # no consensus runs: the test commits blocks itself
    token, _ = create_token(node.config.data_dir, "shop", 30)
    qr = encode_khqr(account_id=MERCHANT, merchant_name="Bob Coffee", merchant_city="Phnom Penh", currency="KHR",
                     amount_minor=150050, expires_ms=int(time.time() * 1000) + 3_600_000)
    w = World(node, root / "keys", token, qr, khqr_md5(qr), None, None, None)  # type: ignore[arg-type]
    w.paid = w.tx(pay(w.md5, "1500.50", reference="INV-1"))
    w.commit(w.paid)
    w.twice = w.tx(pay(w.md5, "1500.50", "paid again"))
    w.rejected = w.tx(c.TransferAsset(CUSTOMER, MERCHANT, "khr#nbc", "too much", "999999999.00"))
    w.commit(w.twice, w.rejected)
    try:
        yield w
    finally:
        node.close()


def call(app: web.Application, requests: list[tuple[str, Any, str | None]]) -> list[tuple[int, Any, dict[str, str]]]:
    """POST each (path, body, token) to ``app`` on a loopback test server; (status, JSON, headers) each."""
    async def scenario() -> list[tuple[int, Any, dict[str, str]]]:
        async with TestClient(TestServer(app)) as client:
            out = []
            for path, body, token in requests:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                async with client.post(path, data=data, headers={**headers, "Content-Type": "application/json"}) as r:
                    out.append((r.status, await r.json(content_type=None), dict(r.headers)))
            return out
    return asyncio.run(scenario())


def ask(world: World, path: str, body: Any, token: str | None = "default") -> tuple[int, Any]:
    status, answer, _ = call(build_app(world.node), [(path, body, world.token if token == "default" else token)])[0]
    assert set(answer) == ENVELOPE, answer
    return status, answer


def test_md5_of_a_qr_unpaid_then_paid_twice_shows_the_first_payment_and_the_count(world: World) -> None:
    status, unknown = ask(world, "/v1/check_transaction_by_md5", {"md5": "0" * 32})
    assert (status, unknown["responseCode"], unknown["errorCode"], unknown["data"]) == (200, 1, 1, None)
    status, found = ask(world, "/v1/check_transaction_by_md5", {"md5": world.md5.upper()})
    assert (status, found["responseCode"], found["errorCode"]) == (200, 0, None)
    data = found["data"]
    assert data["hash"] == world.paid.hash.hex() and data["count"] == 2
    assert (data["fromAccountId"], data["toAccountId"], data["currency"]) == (CUSTOMER, MERCHANT, "KHR")
    assert data["amount"] == 1500.5 and isinstance(data["amount"], float)
    assert data["description"] == "coffee" and data["externalRef"] == "INV-1" and data["md5"] == world.md5
    assert data["createdDateMs"] == world.paid.payload.created_ms and data["acknowledgedDateMs"] > 0


def test_full_and_short_hash_find_the_payment_and_a_rejected_one_is_failed(world: World) -> None:
    status, found = ask(world, "/v1/check_transaction_by_hash", {"hash": world.twice.hash.hex()})
    assert status == 200 and found["data"]["hash"] == world.twice.hash.hex()
    assert found["data"]["description"] == "paid again" and found["data"]["amount"] == 1500.5
    _, failed = ask(world, "/v1/check_transaction_by_hash", {"hash": world.rejected.hash.hex()})
    assert (failed["responseCode"], failed["errorCode"], failed["data"]) == (1, 3, None)
    _, missing = ask(world, "/v1/check_transaction_by_hash", {"hash": "ab" * 32})
    assert (missing["responseCode"], missing["errorCode"]) == (1, 1)
    short = world.paid.hash.hex()[:8]
    _, by_short = ask(world, "/v1/check_transaction_by_short_hash", {"hash": short, "amount": 1500.5, "currency": "KHR"})
    assert by_short["responseCode"] == 0 and by_short["data"]["hash"] == world.paid.hash.hex()
    _, other_amount = ask(world, "/v1/check_transaction_by_short_hash", {"hash": short, "amount": 1500, "currency": "KHR"})
    assert other_amount["errorCode"] == 1
    _, other_currency = ask(world, "/v1/check_transaction_by_short_hash",
                            {"hash": short, "amount": 1500.5, "currency": "USD"})
    assert other_currency["errorCode"] == 1
    status, too_precise = ask(world, "/v1/check_transaction_by_short_hash",
                              {"hash": short, "amount": 1500.505, "currency": "KHR"})
    assert (status, too_precise["errorCode"]) == (400, 5) and "decimals" in too_precise["responseMessage"]


def test_list_endpoints_answer_per_item_and_take_at_most_50(world: World) -> None:
    md5s = [world.md5, "1" * 32, "not-an-md5"]
    _, listed = ask(world, "/v1/check_transaction_by_md5_list", md5s)
    assert listed["responseCode"] == 0
    assert [(i["md5"], i["status"]) for i in listed["data"]] == [(world.md5, "SUCCESS"), ("1" * 32, "NOT_FOUND"),
                                                                  ("not-an-md5", "INVALID")]
    assert listed["data"][0]["data"]["hash"] == world.paid.hash.hex() and listed["data"][1]["data"] is None
    hashes = [world.paid.hash.hex(), world.rejected.hash.hex(), "cd" * 32, "xyz"]
    _, by_hash = ask(world, "/v1/check_transaction_by_hash_list", hashes)
    assert [i["status"] for i in by_hash["data"]] == ["SUCCESS", "FAILED", "NOT_FOUND", "INVALID"]
    status, fifty = ask(world, "/v1/check_transaction_by_md5_list", [world.md5] * 50)
    assert status == 200 and len(fifty["data"]) == 50
    for path in ("/v1/check_transaction_by_md5_list", "/v1/check_transaction_by_hash_list"):
        status, over = ask(world, path, ["0" * 32] * 51)
        assert (status, over["responseCode"], over["errorCode"], over["data"]) == (400, 1, 5, None)
        assert "at most 50" in over["responseMessage"]


def test_account_check_deeplink_and_renew_token(world: World) -> None:
    _, exists = ask(world, "/v1/check_bakong_account", {"accountId": MERCHANT})
    assert (exists["responseCode"], exists["data"]) == (0, {"bakongAccountExists": True})
    _, absent = ask(world, "/v1/check_bakong_account", {"accountId": "nobody@abaa"})
    assert (absent["responseCode"], absent["errorCode"]) == (1, 11)
    _, invalid = ask(world, "/v1/check_bakong_account", {"accountId": "no-bank"})
    assert invalid["errorCode"] == 12
    _, link = ask(world, "/v1/generate_deeplink_by_qr",
                  {"qr": world.qr, "sourceInfo": {"appName": "Shop", "appDeepLinkCallback": "https://shop.example/cb"}})
    assert link["responseCode"] == 0 and link["data"]["shortLink"].startswith("bakong://khqr?qr=00020101021")
    status, bad_qr = ask(world, "/v1/generate_deeplink_by_qr", {"qr": world.qr[:-1] + ("1" if world.qr[-1] == "0" else "0"), "sourceInfo": {}})
    assert (status, bad_qr["errorCode"]) == (400, 5) and "63" in bad_qr["responseMessage"]
    _, renew = ask(world, "/v1/renew_token", {"email": "shop@example.com"}, token=None)
    assert renew["errorCode"] == 10 and "bakong api-token create" in renew["responseMessage"]


def test_unreadable_bodies_get_error_code_5_never_500(world: World) -> None:
    for body in (b"", b"{", b"\xff\xfe", b"[]", b'"md5"', b'{"md5": 5}', b'{"md5": null}', b"[" * 5000,
                 b'{"md5": "' + b"a" * 40 + b'"}'):
        status, answer = ask(world, "/v1/check_transaction_by_md5", body)
        assert (status, answer["responseCode"], answer["errorCode"], answer["data"]) == (400, 1, 5, None), body


def unauthorized(answer: tuple[int, Any, dict[str, str]]) -> bool:
    status, body, headers = answer
    return (status == 401 and body == {"responseCode": 1, "responseMessage": "Unauthorized.", "errorCode": 6,
                                       "data": None} and headers.get("WWW-Authenticate") == "Bearer")


def test_missing_wrong_expired_and_revoked_tokens_get_error_code_6_and_nothing_else(world: World) -> None:
    data_dir = world.node.config.data_dir
    expired, _ = create_token(data_dir, "old-shop", 1, now_ms=int(time.time() * 1000) - 2 * 86_400_000)
    doomed, _ = create_token(data_dir, "doomed", 1)
    ask_md5 = ("/v1/check_transaction_by_md5", {"md5": world.md5})
    app = build_app(world.node)

    async def scenario() -> list[tuple[int, Any, dict[str, str]]]:
        async with TestClient(TestServer(app)) as client:
            async def post(token: str | None, header: str | None = None) -> tuple[int, Any, dict[str, str]]:
                auth = header if header is not None else f"Bearer {token}" if token else None
                async with client.post(ask_md5[0], json=ask_md5[1],
                                       headers={"Authorization": auth} if auth else {}) as r:
                    return r.status, await r.json(), dict(r.headers)
            answers = [await post(None), await post("bkn_wrong"), await post(expired),
                       await post(None, f"Basic {world.token}"), await post(world.token[:-1])]
            before = await post(doomed)
            revoke_token(data_dir, "doomed")  # the running app re-reads the file on its next request
            return [*answers, await post(doomed), before, await post(world.token)]

    *refused, before, still = asyncio.run(scenario())
    assert all(unauthorized(a) for a in refused), refused
    assert before[0] == 200 and before[1]["data"]["hash"] == world.paid.hash.hex()
    assert still[0] == 200 and still[1]["responseCode"] == 0
    for path in ("/v1/check_transaction_by_md5_list", "/v1/check_bakong_account", "/v1/generate_deeplink_by_qr",
                 "/v1/check_transaction_by_hash", "/v1/check_transaction_by_short_hash",
                 "/v1/check_transaction_by_hash_list"):
        assert unauthorized(call(build_app(world.node), [(path, {}, "bkn_wrong")])[0]), path


@dataclasses.dataclass
class Host:
    """Just what ``register_open_api`` reads of a node, with its own [open_api] limits."""

    config: NodeConfig
    ledger: Ledger
    query_worker: Executor


def test_a_token_past_its_rate_gets_429_with_retry_after_and_others_are_not_held_up(world: World) -> None:
    config = dataclasses.replace(world.node.config, open_api=OpenApiConfig(rate_per_s=1, burst=3))
    app = web.Application()
    with ThreadPoolExecutor(1) as worker:
        register_open_api(app, Host(config, world.node.ledger, worker))
        other, _ = create_token(config.data_dir, "other-shop", 1)
        body = {"md5": world.md5}
        answers = call(app, [("/v1/check_transaction_by_md5", body, world.token)] * 6
                       + [("/v1/check_transaction_by_md5", body, other)])
    # A burst of 3, then one a second: of the next three (sent within far less than 3 s), one at least
    # is refused, whatever the machine's speed.
    statuses = [a[0] for a in answers]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:6] and statuses[6] == 200, statuses
    _, limited, headers = answers[statuses.index(429)]
    assert limited["errorCode"] == 429 and limited["data"] is None and headers["Retry-After"] == "1"


def test_api_token_cli_prints_the_token_once_and_keeps_only_its_hash(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert bakong(["api-token", "create", "--data-dir", str(tmp_path), "--name", "cafe", "--days", "7"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("bkn_") and len(token) == 47
    stored = tokens_path(tmp_path)
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600 and token not in stored.read_text()
    [record] = read_tokens(stored)
    assert record.name == "cafe" and record.expires_ms - record.created_ms == 7 * 86_400_000
    assert bakong(["api-token", "list", "--data-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("cafe\t") and "valid" in listed and token not in listed
    assert bakong(["api-token", "create", "--data-dir", str(tmp_path), "--name", "cafe"]) == 1
    assert "error: token_exists:" in capsys.readouterr().err
    assert bakong(["api-token", "revoke", "--data-dir", str(tmp_path), "cafe"]) == 0
    assert read_tokens(stored) == []
    assert bakong(["api-token", "revoke", "--data-dir", str(tmp_path), "cafe"]) == 1
    assert "error: unknown_token:" in capsys.readouterr().err


def test_the_bakong_khqr_package_sees_its_qr_unpaid_then_paid_through_our_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17, point 5: the public package, its base URL pointed at our node (HTTPS with a throwaway
    certificate, trusted through SSL_CERT_FILE as the package uses Python's default SSL context),
    generates a merchant's KHQR offline, finds it unpaid, and after ``bakong pay --khqr`` (submitted to
    the same node; the test commits the block, standing in for consensus) reports it paid with the
    right amount and accounts."""
    khqr_package = pytest.importorskip("bakong_khqr")
    nodes = init_testnet(tmp_path / "net", validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    cert, key = self_signed(tmp_path / "tls")
    loaded = load_config(nodes[0].config)
    config = dataclasses.replace(loaded, api=dataclasses.replace(loaded.api, port=free_port(), tls_cert=cert,
                                                                 tls_key=key))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    node = Node(config)
    token, _ = create_token(config.data_dir, "bob-coffee", 1)
    base = f"https://127.0.0.1:{config.api.port}"

    def client(bearer: str) -> Any:
        khqr = khqr_package.KHQR(bearer)
        khqr._KHQR__bakong_api = base + "/v1"  # the package hard-codes the production URL
        return khqr

    merchant = client(token)
    qr = merchant.create_qr(account_id=MERCHANT, merchant_name="Bob Coffee", merchant_city="Phnom Penh",
                            amount=1500, currency="KHR", bill_number="INV-9")
    md5 = merchant.generate_md5(qr)

    async def scenario() -> dict[str, Any]:
        runner = api_runner(build_app(node), config.api)
        await runner.setup()
        server = await listen(runner, config.api, lambda reason: None)
        seen: dict[str, Any] = {}
        try:
            seen["before"] = await asyncio.to_thread(merchant.check_payment, md5)
            seen["pay"] = await asyncio.to_thread(bakong, ["pay", "--khqr", str(qr), "--from", CUSTOMER, "--key",
                                                           str(tmp_path / "net" / "keys" / f"{CUSTOMER}.key"),
                                                           "--node", base, "--no-wait"])
            txs = node.mempool.peek(10)
            block, execution = node.ledger.build_block(txs, int(time.time() * 1000), node.key.public_key)
            node.ledger.commit(block, execution, b"")
            seen["tx"] = [tx.hash.hex() for tx in txs]
            seen["after"] = await asyncio.to_thread(merchant.check_payment, md5)
            seen["payment"] = await asyncio.to_thread(merchant.get_payment, md5)
            seen["bulk"] = await asyncio.to_thread(merchant.check_bulk_payments, [md5, "0" * 32])
            seen["stranger"] = await asyncio.to_thread(client("bkn_not-a-token").get_payment, md5)
        finally:
            server.close()
            await runner.cleanup()
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        node.close()
    print(f"\nbakong-khqr {importlib.metadata.version('bakong-khqr')} against our node: md5 {md5}: {seen['before']} -> bakong pay exit "
          f"{seen['pay']} -> {seen['after']}; get_payment {seen['payment']}; check_bulk_payments {seen['bulk']}")
    assert seen["before"] == "UNPAID"
    assert seen["pay"] == 0 and len(seen["tx"]) == 1, capsys.readouterr()
    assert seen["after"] == "PAID"
    payment = seen["payment"]
    assert (payment["hash"], payment["fromAccountId"], payment["toAccountId"]) == (seen["tx"][0], CUSTOMER, MERCHANT)
    assert (payment["amount"], payment["currency"], payment["externalRef"], payment["count"]) == (1500, "KHR", "INV-9", 1)
    assert seen["bulk"] == [md5]
    assert seen["stranger"] is None  # refused (401, errorCode 6): the package reads that as "not paid"
