"""``POST /v1/khqr/payment`` (issue 17 point 2, "the same through the API"): a bank's app sends the KHQR
and the payer, gets the payment to sign, signs it and submits it as any transaction. In-process node
(real LevelDB), the node's own app and listener."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from node.keyfile import read_key
from node.ledger.commands import command_from_json
from node.ledger.khqr import encode_khqr, khqr_md5
from node.ledger.transactions import TxPayload, build_transaction
from tests.api.test_operator_routes import Served, node_config


def qr(amount_minor: int | None = 12000, expires_in_ms: int = 600_000, currency: str = "KHR") -> str:
    now = int(time.time() * 1000)
    return encode_khqr(account_id="bob@abaa", merchant_name="Bob Coffee", merchant_city="Phnom Penh",
                       currency=currency, amount_minor=amount_minor, bill_number="INV-7", created_ms=now - 3_600_000,
                       expires_ms=None if amount_minor is None else now + expires_in_ms)


async def post(served: Served, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    async with served.session.post(served.base + "/v1/khqr/payment", data=data,
                                   headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.json()


def test_a_dynamic_khqr_becomes_a_payment_the_app_signs_and_the_node_accepts(tmp_path: Path) -> None:
    text = qr()

    async def scenario() -> tuple[dict[str, Any], int, dict[str, Any]]:
        async with Served(node_config(tmp_path)) as served:
            status, answer = await post(served, {"khqr": text, "from": "alice@aclb"})
            assert status == 200, answer
            commands = tuple(command_from_json(x) for x in answer["commands"])
            payload = TxPayload(served.node.chain_id, answer["creator"], int(time.time() * 1000), 1, commands)
            tx = build_transaction(payload, read_key(tmp_path / "net" / "keys" / "alice@aclb.key"))
            async with served.session.post(served.base + "/v1/transactions",
                                           json={"transaction": tx.encode().hex()}) as resp:
                return answer, resp.status, await resp.json()

    answer, submitted, accepted = asyncio.run(scenario())
    [command] = answer["commands"]
    assert command["type"] == "TransferWithReference"
    assert (command["src_account_id"], command["dest_account_id"], command["asset_id"], command["amount"]) == (
        "alice@aclb", "bob@abaa", "khr#nbc", "12000")
    assert command["qr_md5"] == khqr_md5(text) == answer["md5"] and command["reference"] == "INV-7"
    assert answer["qr"]["amount"] == "12000" and answer["qr"]["currency"] == "KHR" and answer["qr"]["dynamic"]
    assert submitted == 202 and accepted["status"] == "STATELESS_VALIDATION_SUCCESS", accepted


def broken_crc(text: str) -> str:
    """The QR with its CRC's last digit changed (always changed: a fixed "0" was the CRC itself 1 time in 16)."""
    return text[:-1] + ("1" if text[-1] == "0" else "0")


def test_expired_static_mismatched_and_malformed_requests_get_typed_400s(tmp_path: Path) -> None:
    async def scenario() -> list[tuple[int, Any]]:
        async with Served(node_config(tmp_path)) as served:
            return [
                await post(served, {"khqr": qr(expires_in_ms=-60_000), "from": "alice@aclb"}),
                await post(served, {"khqr": qr(amount_minor=None), "from": "alice@aclb"}),
                await post(served, {"khqr": qr(amount_minor=None), "from": "alice@aclb", "amount": "500"}),
                await post(served, {"khqr": qr(), "from": "alice@aclb", "amount": "13000"}),
                await post(served, {"khqr": qr(), "from": "alice@aclb", "amount": "12000.5"}),
                await post(served, {"khqr": broken_crc(qr()), "from": "alice@aclb"}),
                await post(served, {"khqr": qr(), "from": "Not An Account"}),
                await post(served, {"khqr": 12, "from": "alice@aclb"}),
                await post(served, None, raw=b"{not json"),
                await post(served, None, raw=b"[" * 5000),
                await post(served, ["khqr"]),
            ]

    answers = asyncio.run(scenario())
    codes = [(status, body.get("error", {}).get("code")) for status, body in answers]
    assert codes[0] == (400, "khqr_expired") and answers[0][1]["error"]["tag"].startswith("99")
    assert codes[1] == (400, "amount_required")
    assert answers[2][0] == 200 and answers[2][1]["commands"][0]["amount"] == "500"
    assert codes[3] == (400, "amount_mismatch")
    assert codes[4] == (400, "khqr_too_many_decimals")
    assert codes[5] == (400, "khqr_bad_crc") and answers[5][1]["error"]["tag"] == "63"
    assert codes[6][0] == 400 and codes[6][1]
    assert codes[7:] == [(400, "bad_request"), (400, "bad_json"), (400, "bad_request"), (400, "bad_request")]
