"""The state root is the documented formula, recomputed here without the node's code.

docs/ledger.md ("State root") defines it:
``state_root(h) = sha256(state_root(h-1) || sha256(msgpack([[key, value-or-nil], ...] sorted by key bytes))``
over the world-state keys block h wrote; genesis starts from 32 zero bytes and chains its bulk-account
chunks after block 0's own write set. The node computes it in ``node.state.next_state_root``; these
tests recompute it with hashlib and msgpack alone, from what the real ledger wrote to a real LevelDB
(read back from the database after each commit), and compare it with every header. Any change of
hash, sort order, encoding, chaining or of which rows are covered fails here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from node.ledger import commands as c
from node.ledger import genesis as genesis_module
from node.ledger.chain import Ledger
from node.ledger.genesis import parse_genesis
from node.ledger.statuses import TxStatus
from storage import keys
from storage.db import LedgerStore
from tests.ledger_world import KHR, USD, Chain, genesis_document, key

# The world-state families, spelled out from docs/ledger.md rather than imported from the code.
WORLD_STATE_PREFIXES = (b"D", b"A", b"X", b"M", b"R", b"G", b"K", b"P")
ALICE, BOB, CAROL = "alice@aclb", "bob@aclb", "carol@abaa"


def expected_root(previous: bytes, write_set: dict[bytes, bytes | None]) -> bytes:
    """The documented formula, written out independently."""
    rows = [[k, write_set[k]] for k in sorted(write_set, key=bytes)]  # key bytes, ascending
    digest = hashlib.sha256(msgpack.packb(rows, use_bin_type=True)).digest()
    return hashlib.sha256(previous + digest).digest()


def is_world_state(row_key: bytes) -> bool:
    return row_key[:1] in WORLD_STATE_PREFIXES


class CommitRecorder:
    """Wraps ``LedgerStore`` writes: after each block commit (and bulk import batch), reads the written
    world-state keys back from LevelDB, so the recomputation uses what the database holds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.blocks: list[tuple[int, bytes, dict[bytes, bytes | None]]] = []  # height, header root, writes
        self.bulk_chunks: list[dict[bytes, bytes | None]] = []
        real_commit, real_put_rows = LedgerStore.commit, LedgerStore.put_rows
        recorder = self

        def commit(store: LedgerStore, writes: Any, head: Any) -> None:
            world = [k for k in writes if is_world_state(k)]
            real_commit(store, writes, head)
            recorder.blocks.append((head.height, head.state_root, {k: store.get(k) for k in world}))

        def put_rows(store: LedgerStore, writes: Any) -> None:
            real_put_rows(store, writes)
            recorder.bulk_chunks.append({k: store.get(k) for k in writes})

        monkeypatch.setattr(LedgerStore, "commit", commit)
        monkeypatch.setattr(LedgerStore, "put_rows", put_rows)


def world_state(store: LedgerStore) -> dict[bytes, bytes]:
    return {k: v for prefix in WORLD_STATE_PREFIXES for k, v in store.scan(prefix)}


def blocks_of_every_kind(chain: Chain) -> Iterator[list[Any]]:
    """Runs blocks one by one, yielding each block's results: transfers, a new account, details set and
    overwritten, a grant deleted by its revocation, a peer removed, a rejection, an empty block."""
    yield chain.run(chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "", "10.00")),
                    chain.tx(ALICE, c.TransferAsset(ALICE, BOB, USD, "", "1.50")))
    yield chain.run(chain.tx("admin@aclb", c.CreateAccount("erin", "aclb", key("erin@aclb").public_key)),
                    chain.tx(ALICE, c.SetAccountDetail(ALICE, "phone", "012 345 678")),
                    chain.tx(BOB, c.TransferAsset(BOB, "erin@aclb", KHR, "", "2.00")))
    yield chain.run(chain.tx(ALICE, c.SetAccountDetail(ALICE, "phone", "098 765 432")),  # overwritten
                    chain.tx(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets")),
                    chain.tx(CAROL, c.TransferAsset(CAROL, BOB, KHR, "", "1.00")))  # rejected: no funds
    yield chain.run(chain.tx(ALICE, c.RevokePermission(BOB, "can_transfer_my_assets")),  # deletes the grant row
                    chain.tx("admin@nbc", c.RemovePeer(key("peer:wing").public_key)))  # deletes the peer row
    # Granted and revoked within one block: the row never reaches the database, yet the block wrote it.
    yield chain.run(chain.tx(ALICE, c.GrantPermission(CAROL, "can_transfer_my_assets")),
                    chain.tx(ALICE, c.RevokePermission(CAROL, "can_transfer_my_assets")))
    yield chain.run()  # an empty heartbeat block


def test_every_header_carries_the_documented_state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = CommitRecorder(monkeypatch)
    chain = Chain(tmp_path / "db")
    try:
        states = [world_state(chain.ledger.store)]
        results = []
        for block_results in blocks_of_every_kind(chain):
            results.append([r.status for r in block_results])
            states.append(world_state(chain.ledger.store))
        assert results[2][2] != TxStatus.COMMITTED and all(s == TxStatus.COMMITTED for r in results[:2] + results[3:] for s in r)

        heights = [height for height, _root, _writes in recorder.blocks]
        assert heights == list(range(len(heights))) and len(heights) == 7
        root = bytes(32)  # genesis starts from 32 zero bytes
        for (height, _header_root, writes), before, after in zip(recorder.blocks[1:], states, states[1:], strict=False):
            # The write set covers every change of the world state (nothing escapes the root)...
            changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            assert changed <= writes.keys(), f"block {height} changed rows outside its write set"
            assert all(writes[k] == after.get(k) for k in writes)
        for height, header_root, writes in recorder.blocks:
            root = expected_root(root, writes)
            assert header_root == root, f"block {height}: header root differs from the documented formula"
            assert chain.ledger.block(height).header.state_root == root  # type: ignore[union-attr]
        assert chain.ledger.head.state_root == root

        deletions = [(h, k) for h, _r, w in recorder.blocks for k, v in w.items() if v is None]
        assert {k[:1] for _h, k in deletions} == {b"G", b"P"}
        assert {h for h, _k in deletions} == {4, 5}
        assert recorder.blocks[-1][2] == {}  # the empty block chains sha256 of an empty msgpack array
    finally:
        chain.close()


def test_the_genesis_root_chains_the_bulk_import_chunks_after_block_0(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(genesis_module, "BULK_CHUNK", 7)  # several chunks, the last one short
    recorder = CommitRecorder(monkeypatch)
    spec = {"count": 30, "name_prefix": "c", "domains": ["aclb", "abaa"], "public_key": key("bulk").public_key.hex(),
            "role": "customer", "balances": {KHR: "100.00", USD: "1.00"}}
    store = LedgerStore(tmp_path / "db")
    try:
        Ledger(store, "bakong-test").ensure_genesis(parse_genesis(genesis_document(bulk_accounts=spec)))
        [(height, header_root, block_writes)] = recorder.blocks
        assert height == 0 and len(recorder.bulk_chunks) == 5
        assert all(v is not None for chunk in recorder.bulk_chunks for v in chunk.values())
        assert store.get(keys.account("c29@abaa")) is not None  # account i is in domains[i % 2]
        root = expected_root(bytes(32), block_writes)
        for chunk in recorder.bulk_chunks:
            root = expected_root(root, chunk)
        assert header_root == root
    finally:
        store.close()


def test_the_formula_itself_is_order_and_chain_sensitive() -> None:
    """Guards the reference above: it must not be blind to what the node's tests rely on."""
    a = {b"M1": b"\x01", b"A2": None}
    assert expected_root(bytes(32), a) != expected_root(bytes(32), {b"M1": b"\x01"})
    assert expected_root(bytes(32), a) != expected_root(b"\x01" * 32, a)
    assert expected_root(bytes(32), {b"A": b"x"}) != expected_root(bytes(32), {b"A": None})
    # Rows are sorted by key bytes, not by insertion order.
    assert expected_root(bytes(32), {b"b": b"1", b"a": b"2"}) == expected_root(bytes(32), {b"a": b"2", b"b": b"1"})
