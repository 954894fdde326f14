"""``bakong bench apply``: the ledger's own cost per transfer, without network or consensus.

Builds a fresh LevelDB with K funded accounts (a genesis ``bulk_accounts`` import, as the 1M-account
network benchmark does), pre-signs N random KHR/USD transfers, then measures on one core, each phase on
its own: decoding the signed transactions from bytes, verifying every signature (fresh cache, so each
is really checked), and executing + committing them in blocks of B (one synced WriteBatch per block,
as the node does). Figures are CPU-time based (process_time) and wall-clock; the median of
``repeats`` runs is reported. Execution + commit is also split into this thread's CPU and LevelDB's
background threads (compaction), which is where a large database pays. A benchmark, not a test: it
asserts nothing.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node.ledger import commands as c
from node.ledger import permissions as P
from node.ledger.chain import Ledger
from node.ledger.genesis import parse_genesis
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, TxPayload, build_transaction, decode_transaction
from node.ledger.validation import VerifiedSignatures
from storage.db import LedgerStore

CHAIN = "bench"
# How execution + commit cost evolves as the database grows is reported per this many transfers:
# LevelDB's compaction cost rises with the database (docs/benchmarks.md, "Ten minutes flat out").
GROWTH_STEP = 100_000


def _genesis(accounts: int, key: KeyPair) -> dict[str, Any]:
    return {
        "chain_id": CHAIN, "created_ms": 1_700_000_000_000,
        "roles": {"central_bank": P.CENTRAL_BANK_ROLE, "customer": P.CUSTOMER_ROLE},
        "domains": [{"id": "nbc", "default_role": "customer"}, {"id": "aclb", "default_role": "customer"}],
        "assets": [{"id": "khr#nbc", "precision": 2}, {"id": "usd#nbc", "precision": 2}],
        "accounts": [{"id": "admin@nbc", "public_key": key.public_key.hex(), "roles": ["central_bank"]}],
        # c0@aclb .. c{K-1}@aclb: the ids the workload pays between.
        "bulk_accounts": {"count": accounts, "name_prefix": "c", "domains": ["aclb"], "role": "customer",
                          "public_key": key.public_key.hex(),
                          "balances": {"khr#nbc": "100000000.00", "usd#nbc": "100000.00"}},
        "peers": [{"name": "nbc", "public_key": key.public_key.hex(), "address": "127.0.0.1:7100"}],
    }


def _workload(n: int, accounts: int, key: KeyPair, now: int) -> list[Transaction]:
    rng = random.Random(42)
    txs = []
    for i in range(n):
        a, b = rng.sample(range(accounts), 2)
        asset = "khr#nbc" if i % 4 else "usd#nbc"
        cmd = c.TransferAsset(f"c{a}@aclb", f"c{b}@aclb", asset, "", f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}")
        txs.append(build_transaction(TxPayload(CHAIN, f"c{a}@aclb", now + i, 1, (cmd,)), key))
    return txs


def _one_run(encoded: list[bytes], accounts: int, block_size: int, key: KeyPair, genesis: dict[str, Any],
             now: int) -> dict[str, Any]:
    """One fresh database, every phase timed once: transfers per second per phase, per-transfer CPU
    split between this thread and LevelDB's background threads, and how that split grows (``growth``)."""
    with tempfile.TemporaryDirectory(prefix="bakong-bench-") as tmp:
        ledger = Ledger(LedgerStore(Path(tmp) / "db"), CHAIN)
        ledger.ensure_genesis(parse_genesis(genesis))
        t0 = time.process_time()
        txs = [decode_transaction(b) for b in encoded]
        t_decode = time.process_time() - t0
        verified = VerifiedSignatures(len(txs) + 1)
        t0 = time.process_time()
        for tx in txs:
            verified.check(tx)
        t_verify = time.process_time() - t0
        w0, t0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        committed = 0
        segment = (0, t0, m0)  # transfers, process and thread CPU at the start of this GROWTH_STEP
        growth: list[dict[str, float]] = []
        for start in range(0, len(txs), block_size):
            chunk = txs[start:start + block_size]
            # Block time follows the transfers' creation times (one per ms): a fixed time would refuse
            # everything created more than 5 minutes after it, i.e. beyond 300,000 transfers.
            block, execution = ledger.build_block(chunk, max(now + 1000, chunk[-1].payload.created_ms),
                                                  key.public_key)
            ledger.commit(block, execution, b"")
            committed += sum(1 for r in execution.results if r.status == TxStatus.COMMITTED)
            done = start + len(chunk)
            if done - segment[0] >= GROWTH_STEP:
                p, m = time.process_time(), time.thread_time()
                step = done - segment[0]
                growth.append({"transfers": done, "thread_us": (m - segment[2]) / step * 1e6,
                               "background_us": max(0.0, (p - segment[1]) - (m - segment[2])) / step * 1e6,
                               "database_mb": _tree_mb(Path(tmp) / "db")})
                segment = (done, p, m)
        t_apply, w_apply = time.process_time() - t0, time.perf_counter() - w0
        t_main = time.thread_time() - m0
        ledger.store.close()
        n = len(txs)
        return {"decode_per_s": n / t_decode, "verify_per_s": n / t_verify, "apply_cpu_per_s": n / t_apply,
                "apply_wall_per_s": n / w_apply, "apply_thread_us": t_main / n * 1e6,
                "apply_background_us": max(0.0, t_apply - t_main) / n * 1e6, "committed": committed,
                "growth": growth}


def _tree_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6


def run_apply_bench(*, transfers: int, accounts: int, block_size: int, repeats: int, json_path: str | None) -> int:
    key = KeyPair.generate()
    now = int(time.time() * 1000)
    genesis = _genesis(accounts, key)
    print(f"pre-signing {transfers} transfers over {accounts} accounts ...", flush=True)
    encoded = [tx.encode() for tx in _workload(transfers, accounts, key, now)]
    runs = []
    for r in range(repeats):
        runs.append(_one_run(encoded, accounts, block_size, key, genesis, now))
        print(f"run {r + 1}/{repeats}: " + ", ".join(f"{k} {v:,.1f}" if k.endswith("_us") else f"{k} {v:,.0f}"
                                                    for k, v in runs[-1].items() if k != "growth"), flush=True)
        for g in runs[-1]["growth"]:
            print(f"  after {g['transfers']:>9,} transfers: {g['thread_us']:5.1f} us on the thread, "
                  f"{g['background_us']:5.1f} us background, database {g['database_mb']:,.0f} MB", flush=True)
    median = {k: statistics.median(run[k] for run in runs) for k in runs[0] if k != "growth"}
    print(f"\nbakong bench apply: {transfers} transfers, {accounts} accounts, blocks of {block_size}, "
          f"median of {repeats} runs, one core ({platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()})")
    print(f"  {'phase':34} {'transfers/s':>12}")
    print(f"  {'decode from bytes':34} {median['decode_per_s']:>12,.0f}")
    print(f"  {'signature verification (Ed25519)':34} {median['verify_per_s']:>12,.0f}")
    print(f"  {'execution + commit (CPU time)':34} {median['apply_cpu_per_s']:>12,.0f}")
    print(f"  {'execution + commit (wall clock)':34} {median['apply_wall_per_s']:>12,.0f}")
    print(f"  execution + commit per transfer: {median['apply_thread_us']:.1f} us on this thread, "
          f"{median['apply_background_us']:.1f} us in LevelDB's background threads (compaction)")
    if median["committed"] != transfers:
        print(f"  note: {transfers - median['committed']:.0f} transfers were rejected")
    if json_path:
        Path(json_path).write_text(json.dumps({"transfers": transfers, "accounts": accounts, "block_size": block_size,
                                               "repeats": repeats, "median": median, "runs": runs}, indent=2) + "\n")
    return 0
