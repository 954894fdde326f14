"""``bakong bench --workload khqr --lookup-rate N`` (issue 17, Performance), in process: the KHQR pool is
payments a node commits, each carrying its QR's md5, and the md5 look-up load reports what a merchant
bank's node answered. A real node's ledger (LevelDB in tmp_path) and its own aiohttp app, configured as
the bench configures it; no network of processes. Figures exist; their speed is never asserted.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from node.api.app import build_app
from node.api.open_api_tokens import create_token
from node.assembly import Node
from node.config import load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.khqr import decode_khqr
from node.ledger.statuses import TxStatus
from node.ledger.transactions import decode_transaction
from node.tools.bench.khqr_workload import build_khqr_workload
from node.tools.bench.load import UNLIMITED_OPEN_API
from node.tools.bench.lookups import Md5Lookups
from node.tools.bench.workload import VALID, Workload, bench_accounts, build_workload
from node.tools.testnet import init_testnet
from tests.integration.conftest import free_port

POOL, COMMITTED = 40, 20


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Workload, list[str]]]:
    root = tmp_path_factory.mktemp("bench-khqr") / "net"
    [node_entry] = init_testnet(root, validators=1, base_port=free_port(), p2p_base_port=free_port(), extra_accounts=6)
    with node_entry.config.open("a") as f:
        f.write(UNLIMITED_OPEN_API)  # as the bench raises it: 20/s per token would cap the look-ups
    node = Node(load_config(node_entry.config))
    accounts = bench_accounts(root)
    now = int(time.time() * 1000)
    work = build_khqr_workload(POOL, accounts, read_key(root / "keys" / "bench.key"), 0.0, seed=3, now_ms=now)
    block, execution = node.ledger.build_block([decode_transaction(t) for t in work.encoded[:COMMITTED]], now,
                                               node.key.public_key)
    node.ledger.commit(block, execution, b"")
    try:
        yield node, work, accounts
    finally:
        node.close()


def route(data: bytes) -> tuple[str, str, str]:
    [cmd] = decode_transaction(data).payload.commands
    assert isinstance(cmd, c.TransferAsset)
    return cmd.src_account_id, cmd.dest_account_id, cmd.asset_id


def test_each_khqr_payment_pays_its_merchant_qr_and_commits_with_its_md5(
        net: tuple[Node, Workload, list[str]]) -> None:
    node, work, accounts = net
    assert work.md5s is not None and len(set(work.md5s)) == POOL  # one QR per payment
    transfers = build_workload(POOL, accounts, read_key(node.config.data_dir.parents[1] / "keys" / "bench.key"),
                               0.0, seed=3, now_ms=1_700_000_000_000)
    assert transfers.md5s is None
    # Same draws as the transfer pool: the same payers, payees and assets, in the same order.
    assert [route(t) for t in work.encoded] == [route(t) for t in transfers.encoded]
    for i, (data, md5) in enumerate(zip(work.encoded, work.md5s, strict=True)):
        tx = decode_transaction(data)
        [pay] = tx.payload.commands
        assert isinstance(pay, c.TransferWithReference)
        assert pay.qr_md5 == md5 and pay.reference == f"INV-{i}"
        assert pay.src_account_id in accounts and pay.dest_account_id in accounts
        assert pay.asset_id in ("khr#nbc", "usd#nbc")
        if pay.asset_id == "khr#nbc":
            assert pay.amount.isdigit()  # whole riels: a KHQR's KHR has no decimals
        if i < COMMITTED:
            status = node.ledger.published().tx_status(tx.hash)
            assert status is not None and status.result.status == TxStatus.COMMITTED, i
    assert work.kinds == [VALID] * POOL


def test_the_pool_qr_decodes_as_a_dynamic_merchant_qr_for_the_payment() -> None:
    from node.tools.bench.khqr_workload import merchant_qr

    qr = decode_khqr(merchant_qr("c7@abaa", "usd#nbc", 250, 12, 1_700_000_000_000), now_ms=1_700_000_000_000)
    assert (qr.kind, qr.dynamic, qr.account_id, qr.currency, qr.amount_minor, qr.bill_number) == \
        ("merchant", True, "c7@abaa", "USD", 250, "INV-12")


def test_the_md5_lookup_load_reports_answered_rate_latencies_and_what_it_found(
        net: tuple[Node, Workload, list[str]]) -> None:
    node, work, _ = net
    assert work.md5s is not None
    token, _ = create_token(node.config.data_dir, "bench-lookups", 1)

    async def scenario() -> dict[str, Any]:
        async with TestClient(TestServer(build_app(node))) as client:
            lookups = Md5Lookups(str(client.make_url("")), token, work.md5s or [], rate=400, connections=4)
            lookups.submitted = COMMITTED  # the older half of these is committed; the rest is unpaid
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(0.5, stop.set)
            stats = await lookups.run(stop)
            return stats.summary(400, 4)

    figures = asyncio.run(scenario())
    assert figures["errors"] == {}
    assert figures["sent"] == figures["answered"] > 50
    assert figures["answered_rps"] > 0 and figures["offered_rps"] == 400 and figures["connections"] == 4
    assert figures["found"].get("submitted") == figures["asked"]["submitted"] > 0  # committed: paid
    assert figures["asked"]["unpaid"] > 0 and figures["found"].get("unpaid", 0) == 0
    assert math.isfinite(figures["latency_p50_ms"]) and 0 < figures["latency_p50_ms"] <= figures["latency_p99_ms"]
