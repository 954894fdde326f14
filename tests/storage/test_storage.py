"""Storage: one LevelDB per node, one synced batch per block, the head record as the only truth.

Real LevelDB in a temporary directory; a crash is a real SIGKILL of a child process.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import plyvel
import pytest

from consensus.crypto import hash_bytes
from node.ledger import commands as c
from node.ledger.blocks import decode_block, make_block
from node.ledger.chain import Ledger
from node.ledger.errors import InvalidBlock
from node.ledger.genesis import parse_genesis
from node.ledger.statuses import TxStatus
from storage import keys
from storage.db import ChainMismatch, CorruptHead, DatabaseLocked, Head, LedgerStore
from tests.ledger_world import CHAIN, KHR, Chain, follow, genesis_document

ROOT = Path(__file__).resolve().parents[2]


def dump(path: Path) -> dict[bytes, bytes]:
    """Every row of a closed database, read with plyvel directly."""
    db = plyvel.DB(str(path))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def some_blocks(chain: Chain, count: int = 3) -> list:
    """Commit ``count`` blocks of payments (one of them rejected) and return their transactions."""
    txs = []
    for i in range(count):
        block_txs = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", f"{i + 1}")),
                     chain.tx("bob@aclb", c.TransferAsset("bob@aclb", "carol@abaa", KHR, "", "1000"))]
        chain.run(*block_txs)
        txs.extend(block_txs)
    return txs


@pytest.fixture
def chain(tmp_path: Path):
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def test_state_after_close_and_reopen_equals_state_before(chain: Chain) -> None:
    txs = some_blocks(chain)
    head = chain.ledger.head
    balances = {a: chain.ledger.balances(a) for a in ("alice@aclb", "bob@aclb", "carol@abaa")}
    statuses = [chain.ledger.tx_status(tx.hash) for tx in txs]
    chain.close()
    rows = dump(chain.path)
    chain.ledger = Ledger(LedgerStore(chain.path), CHAIN)
    assert chain.ledger.head == head
    assert {a: chain.ledger.balances(a) for a in balances} == balances
    assert [chain.ledger.tx_status(tx.hash) for tx in txs] == statuses
    assert [s.result.status for s in statuses] == [TxStatus.COMMITTED, TxStatus.REJECTED] * 3
    chain.close()
    assert dump(chain.path) == rows  # opening and reading wrote nothing
    chain.ledger = Ledger(LedgerStore(chain.path), CHAIN)


def test_head_record_names_the_last_committed_block(chain: Chain) -> None:
    some_blocks(chain, 2)
    head = chain.ledger.head
    raw = chain.ledger.block_bytes(head.height)
    assert raw is not None and chain.ledger.block_bytes(head.height + 1) is None
    block = decode_block(raw)
    assert (head.height, head.block_hash, head.state_root) == (2, block.hash, block.header.state_root)
    assert block.hash == hash_bytes(block.header_bytes)
    assert chain.ledger.store.get(keys.block_hash(block.hash)) == keys.height_bytes(2)


def test_every_stored_block_links_to_its_parent(chain: Chain) -> None:
    some_blocks(chain, 3)
    blocks = [chain.ledger.block(h) for h in range(4)]
    for parent, child in itertools.pairwise(blocks):
        assert child.header.prev_hash == parent.hash
        assert child.header.height == parent.header.height + 1


@pytest.mark.parametrize(
    "writes, head_hash",
    [({b"Zprobe": b"x"}, b"short"), ({b"Zprobe": b"x", b"Zbad": "not bytes"}, bytes(32))],  # type: ignore[dict-item]
    ids=["bad head record", "bad value after a good one"],
)
def test_a_commit_that_fails_midway_writes_nothing(chain: Chain, writes: dict, head_hash: bytes) -> None:
    before = chain.ledger.head
    with pytest.raises((ValueError, TypeError)):
        chain.ledger.store.commit(writes, Head(before.height + 1, head_hash, before.state_root))
    assert chain.ledger.store.get(b"Zprobe") is None
    assert chain.ledger.store.head == before
    chain.reopen()
    assert chain.ledger.store.get(b"Zprobe") is None
    assert chain.ledger.head == before


def test_readers_see_a_block_only_once_the_head_names_it(chain: Chain) -> None:
    # The API and queries answer from the published state. The synced batch is in LevelDB a moment before
    # the committing thread moves the head; a client told TxStatus.COMMITTED in that moment then read an older
    # height from /v1/status (a CI failure in the commit-crash test). Stop the commit in that moment.
    before = chain.ledger.published()
    tx = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "7"))
    seen: dict[str, object] = {}

    def in_the_gap(point: str) -> None:
        if point == "after_write":
            published = chain.ledger.published()
            seen.update(live=chain.ledger.tx_status(tx.hash), published=published.tx_status(tx.hash),
                        height=published.head.height)

    chain.ledger.store.commit_hook = in_the_gap
    chain.run(tx)
    assert seen["live"] is not None  # the gap is real: the live database already has the block
    assert (seen["published"], seen["height"]) == (None, before.head.height)
    after = chain.ledger.published()
    status = after.tx_status(tx.hash)
    assert status is not None and status.height == after.head.height == before.head.height + 1
    # A state taken before the commit keeps answering as of its own head (one query, one block).
    assert before.tx_status(tx.hash) is None
    assert before.balances("bob@aclb").get(KHR, 0) + 700 == after.balances("bob@aclb")[KHR]


def test_a_corrupt_head_record_refuses_to_open(tmp_path: Path) -> None:
    Chain(tmp_path / "db").close()
    db = plyvel.DB(str(tmp_path / "db"))
    db.put(keys.HEAD, db.get(keys.HEAD)[:-1])
    db.close()
    with pytest.raises(CorruptHead):
        LedgerStore(tmp_path / "db")


def test_a_database_open_in_one_store_cannot_be_opened_by_another(chain: Chain) -> None:
    with pytest.raises(DatabaseLocked) as info:
        LedgerStore(chain.path)
    assert info.value.code == "database_locked"
    chain.close()
    LedgerStore(chain.path).close()  # free again once closed
    chain.reopen()


def test_a_database_open_here_cannot_be_opened_by_another_process(chain: Chain) -> None:
    probe = textwrap.dedent(f"""
        from storage.db import DatabaseLocked, LedgerStore
        try:
            LedgerStore({str(chain.path)!r})
        except DatabaseLocked:
            print("locked")
    """)
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "locked", out.stderr


def test_a_ledger_for_another_chain_refuses_an_existing_database(chain: Chain) -> None:
    chain.close()
    store = LedgerStore(chain.path)
    with pytest.raises(ChainMismatch):
        Ledger(store, "another-chain")
    store.close()
    chain.reopen()


def test_ensure_genesis_refuses_a_different_genesis_document(chain: Chain) -> None:
    other = parse_genesis(genesis_document(created_ms=genesis_document()["created_ms"] + 1))
    with pytest.raises(ChainMismatch):
        chain.ledger.ensure_genesis(other)
    assert chain.ledger.head.height == 0


def test_ensure_genesis_on_a_reopened_database_is_a_no_op(chain: Chain) -> None:
    some_blocks(chain, 1)
    head = chain.ledger.head
    chain.reopen()  # runs ensure_genesis again
    assert chain.ledger.head == head


def test_block_time_never_goes_back_even_across_a_reopen(chain: Chain) -> None:
    some_blocks(chain, 1)
    head_time = chain.ledger.block(chain.ledger.head.height).header.created_ms
    chain.reopen()
    block, _ = chain.ledger.build_block([], head_time - 5000, chain.proposer)
    assert block.header.created_ms == head_time  # a proposer's clock behind the chain is clamped
    late = make_block(dataclasses.replace(block.header, created_ms=head_time - 1), ())
    with pytest.raises(InvalidBlock) as info:
        chain.ledger.validate_block(late)
    assert info.value.code == "time_went_back"


def test_the_head_cannot_be_moved_outside_a_block_commit(chain: Chain) -> None:
    with pytest.raises(ValueError):
        chain.ledger.store.put_durable(keys.HEAD, b"x" * 73)


def test_two_nodes_fed_the_same_blocks_agree_on_every_state_root_and_block_hash(tmp_path: Path) -> None:
    proposer, follower, twin = Chain(tmp_path / "a"), Chain(tmp_path / "b"), Chain(tmp_path / "c")
    try:
        assert proposer.ledger.head == follower.ledger.head == twin.ledger.head  # same genesis, same block 0
        for i in range(4):
            txs = [proposer.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", f"{i + 1}.5")),
                   proposer.tx("bob@aclb", c.SetAccountDetail("bob@aclb", "n", str(i))),
                   proposer.tx("carol@abaa", c.AddAssetQuantity(KHR, "1"))]
            when = proposer.now + 1000
            block, execution = proposer.ledger.build_block(txs, when, proposer.proposer)
            proposer.ledger.commit(block, execution, b"")
            follow(follower.ledger, decode_block(block.encode()))
            twin_block, twin_execution = twin.ledger.build_block(txs, when, proposer.proposer)
            twin.ledger.commit(twin_block, twin_execution, b"")
            assert follower.ledger.head == proposer.ledger.head == twin.ledger.head
            assert twin_block.hash == block.hash
        assert follower.ledger.balances("bob@aclb") == proposer.ledger.balances("bob@aclb")
    finally:
        for ch in (proposer, follower, twin):
            ch.close()


CRASHING_WRITER = """
import sys
from node.ledger import commands as c
from tests.ledger_world import KHR, Chain
chain = Chain(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    i += 1
    chain.run(chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "0.01")),
              chain.tx("bob@aclb", c.SetAccountDetail("bob@aclb", "seen", str(i))))
"""


def test_after_a_kill_9_mid_stream_the_database_opens_at_a_consistent_head(tmp_path: Path) -> None:
    path = tmp_path / "db"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(path)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.4)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    crashed = Ledger(LedgerStore(path), CHAIN)
    replayed = Chain(tmp_path / "replay")
    try:
        head = crashed.head
        assert head.height >= 1, "the writer committed nothing before the kill"
        assert crashed.block(head.height + 1) is None
        # everything up to the head is there and consistent: replaying the stored blocks gives the same state
        for height in range(1, head.height + 1):
            follow(replayed.ledger, crashed.block(height))
        assert replayed.ledger.head == head
        assert crashed.balances("bob@aclb") == replayed.ledger.balances("bob@aclb") == {KHR: head.height}
        assert crashed.state(keys.detail("bob@aclb", "bob@aclb", "seen")) == str(head.height)
    finally:
        crashed.store.close()
        replayed.close()
