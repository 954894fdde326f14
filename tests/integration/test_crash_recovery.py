"""kill -9 a node in the middle of a stream of payments, restart it: nothing committed is lost,
nothing is applied twice, and the head, balances and state root are those of the last block."""

from __future__ import annotations

import random
import threading
import time

import pytest

from node.api.client import ClientError
from node.ledger import commands as c
from node.ledger.queries import GetAccountAssets, GetBlock
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import CUSTOMERS
from tests.integration.conftest import RunningNet

pytestmark = pytest.mark.integration

ACCOUNTS = [f"{n}@{b}" for n, b in CUSTOMERS]


def total_khr(net: RunningNet) -> int:
    client, admin = net.client(), net.key("admin@nbc")
    total = 0
    for account in ACCOUNTS:
        for a in client.query("admin@nbc", admin, GetAccountAssets(account, 10, None))["assets"]:
            if a["asset_id"] == "khr#nbc":
                total += int(a["balance"].replace(".", ""))
    return total


def test_kill_9_mid_stream_loses_nothing_committed_and_applies_nothing_twice(single_node: RunningNet) -> None:
    net = single_node
    client = net.client()
    chain_id = client.chain_id
    keys = {a: net.key(a) for a in ACCOUNTS}
    khr_before = total_khr(net)
    acknowledged: dict[str, tuple[int, int]] = {}  # hash -> (height, index) the API answered COMMITTED
    submitted: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        rng = random.Random(3)
        seq = 0
        while not stop.is_set():
            batch = []
            for _ in range(20):
                src, dest = rng.sample(ACCOUNTS, 2)
                seq += 1
                payload = TxPayload(chain_id, src, int(time.time() * 1000), 1,
                                    (c.TransferAsset(src, dest, "khr#nbc", f"s{seq}", "1.00"),))
                batch.append(build_transaction(payload, keys[src]))
            try:
                client.submit_many(batch)
                submitted.extend(t.hash.hex() for t in batch)
                for h in submitted[-200:]:
                    if h not in acknowledged:
                        s = client.tx_status(h)
                        if s["status"] == "COMMITTED":
                            acknowledged[h] = (s["height"], s["index"])
            except ClientError:
                return  # the node is gone

    worker = threading.Thread(target=stream, daemon=True)
    worker.start()
    time.sleep(2.0)
    net.kill(net.nodes[0].name)  # SIGKILL: no shutdown code runs
    stop.set()
    worker.join(timeout=15)
    assert acknowledged, "the stream should have seen commits before the crash"

    net.start(net.nodes[0])
    status = client.status()
    assert status["height"] >= max(h for h, _ in acknowledged.values())
    for tx_hash, (height, index) in acknowledged.items():
        after = client.tx_status(tx_hash)
        assert (after["status"], after["height"], after["index"]) == ("COMMITTED", height, index)

    admin = net.key("admin@nbc")
    seen: set[str] = set()
    head_block = None
    for height in range(1, status["height"] + 1):
        head_block = client.query("admin@nbc", admin, GetBlock(height))["block"]
        hashes = [t["hash"] for t in head_block["transactions"]]
        assert not seen.intersection(hashes), "a transaction was applied twice"
        seen.update(hashes)
    assert head_block is not None
    assert head_block["hash"] == status["block_hash"]
    assert head_block["state_root"] == status["state_root"]
    assert total_khr(net) == khr_before  # transfers only move money: nothing lost, nothing doubled

    # The restarted node keeps committing.
    payload = TxPayload(chain_id, "alice@aclb", int(time.time() * 1000), 1,
                        (c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "after", "1.00"),))
    tx = build_transaction(payload, keys["alice@aclb"])
    client.submit(tx)
    assert client.wait_final(tx.hash.hex())["status"] == "COMMITTED"
