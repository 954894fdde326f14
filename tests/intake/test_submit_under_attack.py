"""Issue 14, findings 1, 3 and 6, through the HTTP submit route of a real in-process node (real LevelDB,
real aiohttp app; no consensus runs, so nothing commits). Signature work is counted by wrapping the
transactions module's ``verify``; nothing is timed."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import node.ledger.transactions as transactions
from consensus.crypto import KeyPair
from node.api.app import build_app
from node.assembly import Node
from node.config import NodeConfig, load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.tools.testnet import CHAIN_ID, init_testnet
from tests.integration.conftest import free_port

ALICE, BOB = "alice@aclb", "bob@abaa"
Answers = list[tuple[int, Any]]


@dataclasses.dataclass
class OneNode:
    config: NodeConfig
    keys: Path

    def key(self, account: str) -> KeyPair:
        return read_key(self.keys / f"{account}.key")

    def submit(self, *bodies: dict[str, Any]) -> tuple[Answers, int]:
        """POST each body to /v1/transactions in turn; the answers and the mempool's size after."""
        async def run() -> tuple[Answers, int]:
            node = Node(self.config)
            client = TestClient(TestServer(build_app(node)))
            await client.start_server()
            try:
                answers = []
                for body in bodies:
                    resp = await client.post("/v1/transactions", json=body)
                    answers.append((resp.status, await resp.json()))
                return answers, len(node.mempool)
            finally:
                await client.close()
                node.close()
        return asyncio.run(run())


@pytest.fixture
def one_node(tmp_path: Path) -> OneNode:
    nodes = init_testnet(tmp_path / "net", validators=1, observers=0, base_port=free_port(),
                         p2p_base_port=free_port())
    config = load_config(nodes[0].config)
    config = dataclasses.replace(config, mempool=dataclasses.replace(config.mempool, max_per_account=5))
    return OneNode(config, tmp_path / "net" / "keys")


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    count = [0]
    real: Callable[[bytes, bytes, bytes], bool] = transactions.verify

    def counting(public_key: bytes, digest: bytes, signature: bytes) -> bool:
        count[0] += 1
        return real(public_key, digest, signature)

    monkeypatch.setattr(transactions, "verify", counting)
    yield count


def stranger(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(name.encode()).digest())


def payload(creator: str = ALICE, memo: str = "rent") -> TxPayload:
    return TxPayload(CHAIN_ID, creator, int(time.time() * 1000), 1,
                     (c.TransferAsset(creator, BOB, "khr#nbc", memo, "1.00"),))


def batch(txs: list[Transaction]) -> dict[str, Any]:
    return {"transactions": [tx.encode().hex() for tx in txs]}


def test_transactions_from_made_up_creators_are_refused_and_never_queued(
        one_node: OneNode, verifications: list[int]) -> None:
    junk = [build_transaction(payload(f"ghost{i}@aclb", f"j{i}"), stranger(f"ghost{i}")) for i in range(20)]
    [(status, body)], queued = one_node.submit(batch(junk))
    assert status == 202
    assert {(r["status"], r.get("error_code")) for r in body["results"]} == {
        ("STATELESS_VALIDATION_FAILED", "no_such_account")}
    assert queued == 0 and verifications[0] == 0


def test_junk_claiming_alices_account_does_not_get_her_payments_refused_429(one_node: OneNode) -> None:
    junk = [build_transaction(payload(ALICE, f"junk{i}"), stranger(f"attacker{i}")) for i in range(10)]
    real = [build_transaction(payload(ALICE, f"real{i}"), one_node.key(ALICE)) for i in range(5)]
    answers, queued = one_node.submit(batch(junk), batch(real))
    assert [r["status"] for r in answers[1][1]["results"]] == ["STATELESS_VALIDATION_SUCCESS"] * 5, answers[1]
    assert {r.get("error_code") for r in answers[0][1]["results"]} == {"not_a_signatory"}
    assert queued == 5


def test_copies_of_a_badly_signed_payment_are_verified_once_across_requests(
        one_node: OneNode, verifications: list[int]) -> None:
    good = build_transaction(payload(), one_node.key(ALICE))
    alice = one_node.key(ALICE)
    bad = Transaction(good.payload, good.payload_bytes, ((alice.public_key, alice.sign(b"not the payload")),),
                      good.hash)
    copies = {"transactions": [bad.encode().hex()] * 100}
    answers, queued = one_node.submit(copies, copies)
    assert {r.get("error_code") for _status, body in answers for r in body["results"]} == {"bad_signature"}
    assert queued == 0
    assert verifications[0] == 1, "one verification for 200 copies in two requests"


def test_copies_signed_by_many_strangers_cost_no_verification(one_node: OneNode, verifications: list[int]) -> None:
    signers = [one_node.key(ALICE)] + [stranger(f"s{i}") for i in range(100)]
    heavy = build_transaction(payload(), *signers)
    [(status, body)], queued = one_node.submit({"transactions": [heavy.encode().hex()] * 50})
    assert status == 202 and {r.get("error_code") for r in body["results"]} == {"not_a_signatory"}
    assert queued == 0 and verifications[0] == 0
