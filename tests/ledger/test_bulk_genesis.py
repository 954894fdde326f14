"""Bulk genesis accounts: deterministic state, right balances, usable accounts, a crash-safe import.

A genesis ``bulk_accounts`` section is imported by writing rows directly in chunks (see
``Ledger.ensure_genesis``); the chunk size is lowered here so 20,000 accounts make several chunks and the
state-root chaining over chunks is exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.ledger import chain as ledger_module
from node.ledger import commands as c
from node.ledger import genesis as genesis_module
from node.ledger.chain import Ledger
from node.ledger.genesis import GenesisError, parse_genesis
from node.ledger.records import Account
from node.ledger.statuses import TxStatus
from node.ledger.transactions import TxPayload, build_transaction
from storage import keys
from storage.db import ChainMismatch, LedgerStore
from tests.ledger_world import CHAIN, GENESIS_MS, KHR, USD, genesis_document, key

COUNT = 20_000
CHUNK = 5_000
BULK_KEY = key("bulk")


def bulk_doc(count: int = COUNT, **overrides: Any) -> dict[str, Any]:
    spec = {"count": count, "name_prefix": "c", "domains": ["aclb", "abaa"], "public_key": BULK_KEY.public_key.hex(),
            "role": "customer", "balances": {KHR: "4000000.00", USD: "1000.00"}}
    spec.update(overrides)
    return genesis_document(bulk_accounts=spec)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(genesis_module, "BULK_CHUNK", CHUNK)


def open_ledger(path: Path, doc: dict[str, Any] | None = None) -> Ledger:
    ledger = Ledger(LedgerStore(path), CHAIN)
    ledger.ensure_genesis(parse_genesis(doc or bulk_doc()))
    return ledger


def test_two_fresh_ledgers_from_one_genesis_agree_and_hold_the_bulk_accounts(tmp_path: Path) -> None:
    a, b = open_ledger(tmp_path / "a"), open_ledger(tmp_path / "b")
    try:
        assert a.head == b.head
        assert a.block(0) is not None and a.block(0).hash == a.head.block_hash  # type: ignore[union-attr]
        for i in (0, 1, 4_999, 5_000, COUNT - 1):
            account = f"c{i}@{'aclb' if i % 2 == 0 else 'abaa'}"
            assert a.balances(account) == {KHR: 400_000_000, USD: 100_000}
            assert a.state(keys.account(account)) == Account(1, ("customer",), (BULK_KEY.public_key,))
        assert a.state(keys.account(f"c{COUNT}@aclb")) is None
        assert a.state(keys.account("c1@aclb")) is None  # odd accounts live in abaa
        # The bulk rows are outside block 0, which stays as small as without them.
        plain = open_ledger(tmp_path / "plain", genesis_document())
        assert len(a.block_bytes(0) or b"") == len(plain.block_bytes(0) or b"")
        # ... but covered by its state root, hence by the genesis block hash.
        assert plain.head.state_root != a.head.state_root and plain.head.block_hash != a.head.block_hash
        other = open_ledger(tmp_path / "other", bulk_doc(balances={KHR: "4000000.01", USD: "1000.00"}))
        assert other.head.state_root != a.head.state_root
        for ledger in (plain, other):
            ledger.store.close()
    finally:
        a.store.close()
        b.store.close()


def test_a_transfer_between_two_bulk_accounts_commits(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path / "n")
    try:
        src, dest = "c10@aclb", "c19999@abaa"
        payload = TxPayload(CHAIN, src, GENESIS_MS + 1, 1, (c.TransferAsset(src, dest, KHR, "rent", "1500.25"),))
        tx = build_transaction(payload, BULK_KEY)
        block, execution = ledger.build_block([tx], GENESIS_MS + 1000, key("peer:nbc").public_key)
        assert [r.status for r in execution.results] == [TxStatus.COMMITTED]
        ledger.commit(block, execution, b"")
        assert ledger.balances(src)[KHR] == 400_000_000 - 150_025
        assert ledger.balances(dest)[KHR] == 400_000_000 + 150_025
        assert ledger.head.height == 1
    finally:
        ledger.store.close()


@pytest.mark.parametrize("crash_point", ["mid_import", "before_commit"])
def test_a_crash_during_the_import_is_redone_at_the_next_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               crash_point: str) -> None:
    reference = open_ledger(tmp_path / "ref")
    expected = reference.head
    reference.store.close()

    real_chunks = genesis_module.bulk_account_chunks

    def crashing_chunks(bulk: Any, chunk: int | None = None) -> Any:
        for n, rows in enumerate(real_chunks(bulk, chunk)):
            if n == 2:
                raise RuntimeError("simulated crash")
            yield rows

    def crashing_commit(*args: Any, **kw: Any) -> None:
        raise RuntimeError("simulated crash")

    if crash_point == "mid_import":
        monkeypatch.setattr(ledger_module, "bulk_account_chunks", crashing_chunks)
    else:
        monkeypatch.setattr(Ledger, "commit", crashing_commit)
    store = LedgerStore(tmp_path / "n")
    with pytest.raises(RuntimeError, match="simulated crash"):
        Ledger(store, CHAIN).ensure_genesis(parse_genesis(bulk_doc()))
    assert store.head is None  # no head: the import did not count
    assert store.get(keys.account("c0@aclb")) is not None  # ... though some rows are on disk
    store.close()
    monkeypatch.undo()
    monkeypatch.setattr(genesis_module, "BULK_CHUNK", CHUNK)

    # The next start from the same genesis redoes the import and lands on the same block 0.
    ledger = open_ledger(tmp_path / "n")
    assert ledger.head == expected
    assert ledger.balances(f"c{COUNT - 1}@abaa") == {KHR: 400_000_000, USD: 100_000}
    ledger.store.close()


def test_an_unfinished_import_of_another_genesis_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Ledger, "commit", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("simulated crash")))
    store = LedgerStore(tmp_path / "n")
    with pytest.raises(RuntimeError):
        Ledger(store, CHAIN).ensure_genesis(parse_genesis(bulk_doc()))
    store.close()
    monkeypatch.undo()
    # Neither another bulk genesis nor one without bulk accounts may start over the stale rows.
    for other in (bulk_doc(count=COUNT + 1), genesis_document()):
        store = LedgerStore(tmp_path / "n")
        try:
            with pytest.raises(ChainMismatch):
                Ledger(store, CHAIN).ensure_genesis(parse_genesis(other))
        finally:
            store.close()


@pytest.mark.parametrize("override", [
    {"domains": ["nowhere"]}, {"domains": []}, {"role": "no_such_role"}, {"public_key": "abcd"},
    {"balances": {"gold#nbc": "1.00"}}, {"balances": {KHR: "1.001"}}, {"count": -1}, {"name_prefix": "C"},
    {"name_prefix": "a" * 32},
])
def test_a_bad_bulk_section_is_refused(override: dict[str, Any]) -> None:
    with pytest.raises(GenesisError):
        parse_genesis(bulk_doc(**override))


def test_a_bulk_account_may_not_also_be_an_ordinary_one() -> None:
    doc = bulk_doc(count=10)
    doc["accounts"].append({"id": "c4@aclb", "public_key": key("x").public_key.hex()})
    with pytest.raises(GenesisError):
        parse_genesis(doc)
    doc["accounts"][-1]["id"] = "c4@abaa"  # not the bulk c4 (that is in aclb): allowed
    parse_genesis(doc)
