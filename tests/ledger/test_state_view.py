"""The block's working state (``StateView``): a transaction's writes are kept only when it commits,
a rolled-back transaction leaves nothing behind, deletes hide rows from scans, and an atomic batch's
undo restores what its committed members wrote (node/ledger/batches.py). Real LevelDB in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ledger.state import CommittedCache, StateView
from storage.db import LedgerStore


@pytest.fixture
def view(tmp_path: Path) -> Iterator[StateView]:
    store = LedgerStore(tmp_path / "db")
    yield StateView(CommittedCache(store))
    store.close()


def test_a_rolled_back_transaction_leaves_nothing_for_the_next_one(view: StateView) -> None:
    view.put(b"Kx", 1)
    view.rollback_tx()
    view.put(b"Ky", 2)
    view.commit_tx()
    assert view.decoded_writes() == {b"Ky": 2} and view.get(b"Kx") is None


def test_a_delete_hides_the_row_from_a_scan(view: StateView) -> None:
    view.put(b"Ka", 1)
    view.put(b"Kb", 2)
    view.commit_tx()
    view.delete(b"Ka")
    view.commit_tx()
    assert list(view.scan(b"K")) == [(b"Kb", 2)]


def test_an_undone_batch_restores_overwritten_and_removes_new_rows(view: StateView) -> None:
    view.put(b"Ka", 1)
    view.commit_tx()
    view.begin_batch()
    view.put(b"Ka", 2)  # overwritten in the batch
    view.put(b"Kb", 3)  # new in the batch
    view.commit_tx()
    view.commit_tx()  # an empty transaction in between
    view.put(b"Kb", 4)  # the same key again: the undo keeps its value from before the batch
    view.commit_tx()
    view.end_batch(keep=False)
    assert view.decoded_writes() == {b"Ka": 1}
    view.begin_batch()
    view.end_batch(keep=False)  # an empty batch undoes nothing
    assert view.decoded_writes() == {b"Ka": 1}
