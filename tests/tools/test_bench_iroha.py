"""``bakong bench --format iroha`` (issue 18, Performance), in process: the pool is Iroha 1 protobuf
transfers that a real node's ledger decodes with Iroha's hashes, verifies under both key kinds and
commits like the native pool. Figures are the benchmark's; nothing here is timed."""

from __future__ import annotations

import time
from pathlib import Path

from node.assembly import Node
from node.config import load_config
from node.keyfile import read_key
from node.ledger.iroha_crypto import KeyKind
from node.ledger.iroha_tx import IrohaTransaction
from node.ledger.statuses import TxStatus
from node.ledger.transactions import decode_transaction
from node.ledger.validation import VerifiedSignatures
from node.tools.bench.iroha_workload import build_iroha_workload
from node.tools.bench.workload import BAD_SIGNATURE, OVERDRAFT, VALID, bench_accounts, build_workload
from node.tools.testnet import init_testnet
from tests.integration.conftest import free_port


def test_the_iroha_pool_is_the_native_pools_draws_signed_both_ways_and_commits(tmp_path: Path) -> None:
    root = tmp_path / "net"
    [entry] = init_testnet(root, validators=1, base_port=free_port(), p2p_base_port=free_port(), extra_accounts=6)
    node = Node(load_config(entry.config))
    try:
        accounts = bench_accounts(root)
        key = read_key(root / "keys" / "bench.key")
        now = int(time.time() * 1000)
        work = build_iroha_workload(40, accounts, key, 0.2, seed=5, now_ms=now)
        native = build_workload(40, accounts, key, 0.2, seed=5, now_ms=now)
        assert work.kinds == native.kinds and {VALID, OVERDRAFT, BAD_SIGNATURE} <= set(work.kinds)
        txs = [decode_transaction(data) for data in work.encoded]
        assert all(isinstance(tx, IrohaTransaction) for tx in txs)
        assert [tx.hash.hex() for tx in txs] == work.hashes
        for tx, twin in zip(txs, (decode_transaction(d) for d in native.encoded), strict=True):
            assert tx.payload.commands == twin.payload.commands  # the same transfer as the native pool's
        assert {tx.kinds[0] for tx in txs if isinstance(tx, IrohaTransaction)} == {KeyKind.STANDARD, KeyKind.LEGACY}
        verified = VerifiedSignatures()
        good = []
        for tx, kind in zip(txs, work.kinds, strict=True):
            try:
                verified.check(tx)
            except Exception:  # noqa: BLE001
                assert kind == BAD_SIGNATURE
                continue
            assert kind != BAD_SIGNATURE
            good.append((tx, kind))
        block, execution = node.ledger.build_block([tx for tx, _k in good], now, node.key.public_key)
        statuses = [r.status for r in execution.results]
        assert statuses == [TxStatus.COMMITTED if k == VALID else TxStatus.REJECTED for _tx, k in good]
        node.ledger.commit(block, execution, b"")
    finally:
        node.close()
