"""A real one-validator node process, driven through its HTTP API and the ``bakong`` CLI."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import aiohttp
import pytest

from consensus.crypto import KeyPair
from node.ledger import commands as c
from node.ledger.queries import GetAccountAssets
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from tests.integration.conftest import RunningNet

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


def tx(net: RunningNet, creator: str, *commands: c.Command, key: KeyPair | None = None) -> Transaction:
    payload = TxPayload(net.client().chain_id, creator, now_ms(), 1, tuple(commands))
    return build_transaction(payload, key or net.key(creator))


def balance(net: RunningNet, account: str, asset: str) -> str:
    assets = net.client().query("admin@nbc", net.key("admin@nbc"), GetAccountAssets(account, 100, None))["assets"]
    return next((a["balance"] for a in assets if a["asset_id"] == asset), "0.00")


def cli_json(result) -> dict:
    assert result.returncode in (0, 2), result.stderr
    return json.loads(result.stdout)


def test_cli_bank_opens_account_central_bank_issues_and_customer_pays(single_node: RunningNet) -> None:
    net = single_node
    newkey = net.cli("keygen", "--out", str(net.dir / "keys" / "kosal@aclb.key"))
    assert newkey.returncode == 0, newkey.stderr
    opened = cli_json(net.cli("tx", "create-account", "--creator", "admin@aclb", "--key", net.key_path("admin@aclb"),
                              "--account", "kosal@aclb", "--public-key", newkey.stdout.strip()))
    assert opened["status"] == "COMMITTED"
    minted = cli_json(net.cli("tx", "mint", "--creator", "admin@nbc", "--key", net.key_path("admin@nbc"),
                              "--asset", "khr#nbc", "--amount", "1000.00"))
    assert minted["status"] == "COMMITTED"
    funded = cli_json(net.cli("tx", "transfer", "--from", "admin@nbc", "--to", "kosal@aclb", "--asset", "khr#nbc",
                              "--amount", "1000.00", "--key", net.key_path("admin@nbc")))
    assert funded["status"] == "COMMITTED"
    paid = cli_json(net.cli("tx", "transfer", "--from", "kosal@aclb", "--to", "bob@abaa", "--asset", "khr#nbc",
                            "--amount", "250.50", "--key", net.key_path("kosal@aclb")))
    assert paid["status"] == "COMMITTED"
    shown = cli_json(net.cli("query", "balance", "kosal@aclb", "--key", net.key_path("kosal@aclb")))
    assert shown["assets"] == [{"asset_id": "khr#nbc", "balance": "749.50"}]
    status = cli_json(net.cli("tx", "status", paid["hash"]))
    assert status["status"] == "COMMITTED" and status["height"] >= 1


def test_cli_failures_are_one_line_with_a_code_and_a_nonzero_exit(single_node: RunningNet) -> None:
    net = single_node
    overdraft = net.cli("tx", "transfer", "--from", "alice@aclb", "--to", "bob@abaa", "--asset", "usd#nbc",
                        "--amount", "5000000.00", "--key", net.key_path("alice@aclb"))
    assert overdraft.returncode == 3  # rejected: not 2, which is argparse's usage error (issue 16)
    assert json.loads(overdraft.stdout)["error_code"] == "insufficient_funds"
    assert overdraft.stderr.startswith("error: insufficient_funds: REJECTED at height ")
    mint = net.cli("tx", "mint", "--creator", "alice@aclb", "--key", net.key_path("alice@aclb"),
                   "--asset", "khr#nbc", "--amount", "1.00")
    assert mint.returncode == 3 and json.loads(mint.stdout)["error_code"] == "permission_denied"
    precision = net.cli("tx", "transfer", "--from", "alice@aclb", "--to", "bob@abaa", "--asset", "khr#nbc",
                        "--amount", "1.005", "--key", net.key_path("alice@aclb"))
    assert json.loads(precision.stdout)["error_code"] == "precision_exceeded"
    bad_amount = net.cli("tx", "transfer", "--from", "alice@aclb", "--to", "bob@abaa", "--asset", "khr#nbc",
                         "--amount", "1e5", "--key", net.key_path("alice@aclb"))
    missing_key = net.cli("tx", "mint", "--creator", "admin@nbc", "--key", "/nonexistent.key", "--asset", "khr#nbc",
                          "--amount", "1")
    for result in (bad_amount, missing_key):
        assert result.returncode == 1
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_a_resend_answers_the_recorded_status_and_a_forged_signature_is_refused_with_its_code(single_node: RunningNet) -> None:
    net = single_node
    client = net.client()
    payment = tx(net, "alice@aclb", c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "", "10.00"))
    assert client.submit(payment)["status"] == "STATELESS_VALIDATION_SUCCESS"
    assert client.wait_final(payment.hash.hex())["status"] == "COMMITTED"
    # Idempotent submission (issue 16): a retrying client learns the payment is paid (200), not "failed".
    code, replay = _raw(net, "POST", "/v1/transactions", json.dumps({"transaction": payment.encode().hex()}).encode())
    assert (code, replay) == (200, client.tx_status(payment.hash.hex()))
    assert replay["status"] == "COMMITTED" and "error_code" not in replay
    forged = tx(net, "bob@abaa", c.TransferAsset("bob@abaa", "alice@aclb", "khr#nbc", "", "1.00"))
    forged = Transaction(forged.payload, forged.payload_bytes, ((forged.signatures[0][0], bytes(64)),), forged.hash)
    refused = client.submit(forged)
    assert (refused["status"], refused["error_code"]) == ("STATELESS_VALIDATION_FAILED", "bad_signature")
    # A refused copy's signatures say nothing about the payload: the hash is not marked failed (else anyone
    # could make bob's genuine payment look failed to him), so polling it still says NOT_RECEIVED.
    assert client.tx_status(forged.hash.hex())["status"] == "NOT_RECEIVED"
    impostor = tx(net, "bob@abaa", c.TransferAsset("bob@abaa", "alice@aclb", "khr#nbc", "", "1.00"), key=KeyPair.generate())
    refused = client.submit(impostor)  # refused at the door now (issue 14), never stored in a block
    assert (refused["status"], refused["error_code"]) == ("STATELESS_VALIDATION_FAILED", "not_a_signatory")
    genuine = build_transaction(forged.payload, net.key("bob@abaa"))  # bob signs the payload himself
    assert genuine.hash == forged.hash
    assert client.submit(genuine)["status"] == "STATELESS_VALIDATION_SUCCESS"
    assert client.wait_final(genuine.hash.hex())["status"] == "COMMITTED"  # the forged copy voided nothing
    assert client.status()["height"] >= 1


def test_batch_of_transfers_commits_and_balances_add_up(single_node: RunningNet) -> None:
    net = single_node
    client = net.client()
    before = balance(net, "dara@aclb", "khr#nbc")
    batch = [tx(net, "alice@aclb", c.TransferAsset("alice@aclb", "dara@aclb", "khr#nbc", f"{i}", "1.25")) for i in range(40)]
    results = client.submit_many(batch)
    assert [r["status"] for r in results] == ["STATELESS_VALIDATION_SUCCESS"] * 40
    finals = [client.wait_final(t.hash.hex())["status"] for t in batch]
    assert finals == ["COMMITTED"] * 40
    assert float(balance(net, "dara@aclb", "khr#nbc")) * 100 == float(before) * 100 + 40 * 125


def test_a_batch_over_several_intake_slices_answers_resends_and_garbage_item_by_item(single_node: RunningNet) -> None:
    # The intake looks hashes up once per slice of 64 (node/api/app.py INTAKE_SLICE): resends of committed
    # transactions in the first and the second slice (each answered with its recorded status), a repeat
    # inside the request and an undecodable item must each get their
    # own answer, in request order, and the new transfers must all commit.
    net = single_node
    client = net.client()
    old = [tx(net, "alice@aclb", c.TransferAsset("alice@aclb", "dara@aclb", "khr#nbc", f"old {i}", "0.01"))
           for i in range(2)]
    client.submit_many(old)
    assert [client.wait_final(t.hash.hex())["status"] for t in old] == ["COMMITTED"] * 2
    new = [tx(net, "alice@aclb", c.TransferAsset("alice@aclb", "dara@aclb", "khr#nbc", f"new {i}", "0.01"))
           for i in range(80)]
    items = [t.encode().hex() for t in new]
    items[0] = old[0].encode().hex()  # replay, first slice
    items[70] = old[1].encode().hex()  # replay, second slice
    items[71] = items[5]  # the same new transaction twice in one request
    items[72] = "9101"  # not a transaction
    body = json.dumps({"transactions": items}).encode()
    status, payload = _raw(net, "POST", "/v1/transactions", body)
    assert status == 202
    results = payload["results"]
    assert len(results) == 80
    assert results[0] == client.tx_status(old[0].hash.hex()) and results[0]["status"] == "COMMITTED"
    assert results[70] == client.tx_status(old[1].hash.hex()) and results[70]["status"] == "COMMITTED"
    assert results[71] == results[5]
    assert results[5]["status"] == "STATELESS_VALIDATION_SUCCESS"
    assert results[72]["status"] == "STATELESS_VALIDATION_FAILED" and results[72]["hash"] is None
    fresh = [t for i, t in enumerate(new) if i not in (0, 70, 71, 72)]
    assert all(results[i]["status"] == "STATELESS_VALIDATION_SUCCESS" for i in range(80) if i not in (0, 70, 72))
    assert [client.wait_final(t.hash.hex())["status"] for t in fresh] == ["COMMITTED"] * len(fresh)
    assert client.tx_status(new[0].hash.hex())["status"] == "NOT_RECEIVED"


def _raw(net: RunningNet, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(net.client().url + path, data=body, method=method,
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/transactions", b"{not json", 400, "bad_json"),
        ("POST", "/v1/transactions", b"[1,2]", 400, "bad_request"),
        ("POST", "/v1/transactions", b'{"transaction": "zz"}', 400, "bad_hex"),
        ("POST", "/v1/transactions", b'{"transaction": "9101"}', 400, "STATELESS_VALIDATION_FAILED"),
        ("GET", "/v1/transactions/abc", None, 400, "bad_hash"),
        ("POST", "/v1/queries", b'{"query": "00"}', 400, "bad_encoding_unexpected_shape"),
        ("GET", "/v1/nowhere", None, 404, "not_found"),
        ("DELETE", "/v1/status", None, 405, "method_not_allowed"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_stable_code(single_node: RunningNet, method: str, path: str,
                                                    body: bytes | None, status: int, code: str) -> None:
    got_status, payload = _raw(single_node, method, path, body)
    assert got_status == status
    found = payload.get("error", {}).get("code") or payload.get("status")
    assert found == code


def test_oversized_body_is_413_and_the_node_keeps_serving(single_node: RunningNet) -> None:
    status, payload = _raw(single_node, "POST", "/v1/transactions", b"x" * (9 * 1024 * 1024))
    assert status == 413 and payload["error"]["code"] == "body_too_large"
    assert single_node.client().healthy()


def test_status_health_and_metrics(single_node: RunningNet) -> None:
    net = single_node
    status = net.client().status()
    for key in ("chain_id", "node", "role", "height", "block_hash", "state_root", "peers", "mempool_size"):
        assert key in status
    assert status["role"] == "validator" and len(status["block_hash"]) == 64
    with urllib.request.urlopen(net.client().url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    assert "bakong_height" in text and "bakong_blocks_committed_total" in text


def test_websocket_streams_status_changes_until_final(single_node: RunningNet) -> None:
    net = single_node
    payment = tx(net, "bob@abaa", c.TransferAsset("bob@abaa", "chenda@wing", "usd#nbc", "", "1.00"))

    async def follow() -> list[str]:
        seen = []
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"{net.client().url}/v1/transactions/{payment.hash.hex()}/ws") as ws:
            first = await ws.receive_json(timeout=10)
            seen.append(first["status"])
            await asyncio.get_running_loop().run_in_executor(None, net.client().submit, payment)
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                seen.append(json.loads(msg.data)["status"])
        return seen

    seen = asyncio.run(asyncio.wait_for(follow(), 30))
    assert seen[0] == "NOT_RECEIVED"
    assert seen[-1] == "COMMITTED"


def test_heartbeat_blocks_when_idle(single_node: RunningNet) -> None:
    client = single_node.client()
    h0 = client.status()["height"]
    time.sleep(1.6)
    assert client.status()["height"] >= h0 + 2  # max_block_interval_ms = 500 in the fixture


def test_block_stream_reports_committed_blocks_with_their_transactions(single_node: RunningNet) -> None:
    net = single_node
    payment = tx(net, "dara@aclb", c.TransferAsset("dara@aclb", "bob@abaa", "khr#nbc", "", "2.00"))

    async def follow() -> list[dict]:
        blocks = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{net.client().url}/v1/blocks/ws") as ws:
            await asyncio.get_running_loop().run_in_executor(None, net.client().submit, payment)
            async for msg in ws:
                blocks.append(json.loads(msg.data))
                if payment.hash.hex() in blocks[-1]["txs"]:
                    break
        return blocks

    blocks = asyncio.run(asyncio.wait_for(follow(), 30))
    heights = [b["height"] for b in blocks]
    assert heights == sorted(heights) and blocks[-1]["rejected"] == []
    assert net.client().tx_status(payment.hash.hex())["height"] == blocks[-1]["height"]
