"""The mempool's bounds and the API's answer when it is full, on an in-process node (real LevelDB)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from node.api.app import build_app
from node.assembly import Node
from node.config import MempoolConfig, load_config
from node.intake.mempool import AccountLimit, Mempool, MempoolFull
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.genesis import load_genesis
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import init_testnet
from tests.integration.conftest import free_port
from tests.ledger_world import KHR, Chain


def test_mempool_deduplicates_and_refuses_past_its_count_bound(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    txs = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00")) for i in range(3)]
    pool = Mempool(max_txs=2, max_bytes=10_000)
    assert pool.add(txs[0], 100) is True
    assert pool.add(txs[0], 100) is False
    pool.add(txs[1], 100)
    with pytest.raises(MempoolFull):
        pool.add(txs[2], 100)
    pool.remove([txs[0].hash])
    assert pool.add(txs[2], 100) is True
    assert [t.hash for t in pool.peek(10)] == [txs[1].hash, txs[2].hash]
    chain.close()


def test_committed_transactions_leave_the_pool_and_are_recognised_by_their_bytes(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    txs = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00")) for i in range(4)]
    pool = Mempool(max_txs=100, max_bytes=1 << 20)
    pool.recent.capacity = 2
    pool.add(txs[0], 100)
    assert pool.known_bytes(txs[0].encode()) and not pool.known_bytes(txs[1].encode())
    pool.committed(txs[:2])  # txs[1] came in the block before its gossip
    assert len(pool) == 0
    assert pool.known_bytes(txs[0].encode()) and pool.known_bytes(txs[1].encode())  # late gossip: skipped
    pool.committed(txs[2:])
    assert not pool.known_bytes(txs[0].encode()), "the memory is bounded: the oldest are forgotten"
    assert pool.known_bytes(txs[3].encode())
    chain.close()


def test_one_account_cannot_take_more_than_its_share_of_the_mempool(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    flood = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00")) for i in range(4)]
    other = chain.tx("bob@aclb", c.TransferAsset("bob@aclb", "alice@aclb", KHR, "mine", "1.00"))
    pool = Mempool(max_txs=100, max_bytes=1 << 20, max_per_account=3)
    for tx in flood[:3]:
        pool.add(tx, 100)
    with pytest.raises(AccountLimit):
        pool.add(flood[3], 100)
    assert pool.add(other, 100) is True  # the other account still gets in
    pool.remove([flood[0].hash])  # one of alice's is in a block: she may queue one more
    assert pool.add(flood[3], 100) is True
    chain.close()


def test_mempool_refuses_past_its_byte_bound(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    txs = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00")) for i in range(2)]
    pool = Mempool(max_txs=100, max_bytes=150)
    pool.add(txs[0], 100)
    with pytest.raises(MempoolFull):
        pool.add(txs[1], 100)
    assert pool.size_bytes == 100
    chain.close()


def test_full_mempool_answers_503_with_retry_after(tmp_path: Path) -> None:
    nodes = init_testnet(tmp_path / "net", base_port=free_port(), p2p_base_port=free_port())
    config = dataclasses.replace(load_config(nodes[0].config), mempool=MempoolConfig(max_txs=2, max_bytes=1 << 20))
    alice = read_key(tmp_path / "net" / "keys" / "alice@aclb.key")

    async def scenario() -> list[tuple[int, dict, str | None]]:
        node = Node(config)  # no block producer runs, so the mempool only fills
        runner = web.AppRunner(build_app(node))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", config.api.port)
        await site.start()
        answers = []
        try:
            async with aiohttp.ClientSession() as session:
                for i in range(3):
                    payload = TxPayload(node.chain_id, "alice@aclb", int(time.time() * 1000), 1,
                                        (c.TransferAsset("alice@aclb", "bob@abaa", KHR, str(i), "1.00"),))
                    tx = build_transaction(payload, alice)
                    async with session.post(f"http://127.0.0.1:{config.api.port}/v1/transactions",
                                            json={"transaction": tx.encode().hex()}) as resp:
                        answers.append((resp.status, await resp.json(), resp.headers.get("Retry-After")))
        finally:
            await runner.cleanup()
            node.close()
        return answers

    answers = asyncio.run(scenario())
    assert [a[0] for a in answers] == [202, 202, 503]
    assert answers[2][1]["error"]["code"] == "mempool_full" and answers[2][2] == "1"


def test_a_flooding_account_gets_429_while_another_account_is_still_accepted(tmp_path: Path) -> None:
    nodes = init_testnet(tmp_path / "net", base_port=free_port(), p2p_base_port=free_port())
    config = dataclasses.replace(load_config(nodes[0].config),
                                 mempool=MempoolConfig(max_txs=100, max_bytes=1 << 20, max_per_account=2))
    keys = {a: read_key(tmp_path / "net" / "keys" / f"{a}.key") for a in ("alice@aclb", "bob@abaa")}
    chain_id = load_genesis(config.genesis_path).chain_id

    def payment(creator: str, to: str, memo: str) -> str:
        payload = TxPayload(chain_id, creator, int(time.time() * 1000), 1, (c.TransferAsset(creator, to, KHR, memo, "1.00"),))
        return build_transaction(payload, keys[creator]).encode().hex()

    async def scenario() -> tuple[list[tuple[int, dict, str | None]], dict]:
        node = Node(config)  # no block producer runs, so the mempool only fills
        runner = web.AppRunner(build_app(node))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", config.api.port).start()
        url = f"http://127.0.0.1:{config.api.port}/v1/transactions"
        answers = []
        try:
            async with aiohttp.ClientSession() as session:
                for i in range(3):
                    async with session.post(url, json={"transaction": payment("alice@aclb", "bob@abaa", str(i))}) as r:
                        answers.append((r.status, await r.json(), r.headers.get("Retry-After")))
                async with session.post(url, json={"transactions": [payment("alice@aclb", "bob@abaa", "x"),
                                                                     payment("bob@abaa", "alice@aclb", "y")]}) as r:
                    batch = await r.json()
        finally:
            await runner.cleanup()
            node.close()
        return answers, batch

    answers, batch = asyncio.run(scenario())
    assert [a[0] for a in answers] == [202, 202, 429]
    assert answers[2][1]["error"]["code"] == "account_limit" and answers[2][2] == "1"
    assert [(r["status"], r.get("error_code")) for r in batch["results"]] == [
        ("NOT_RECEIVED", "account_limit"), ("STATELESS_VALIDATION_SUCCESS", None)]
