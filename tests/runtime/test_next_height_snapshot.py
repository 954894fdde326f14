"""The driver pairs the next height with the validator set of the same committed state.

Review bug 6 at 02865ef: ``start_next_height`` read the validator set from the live database and the
head from memory, separately. A block-sync commit on the worker thread in between (its batch already
in LevelDB, the head not yet moved) paired the old height with the new set. The commit's own fault
hook lets this test stop exactly there.
"""

from __future__ import annotations

from pathlib import Path

from node.ledger.commands import AddPeer
from node.ledger.peers import validator_set
from node.runtime.driver import next_height
from tests.ledger_world import Chain, key


def test_a_reader_between_a_commits_write_and_its_head_sees_the_old_height_with_the_old_set(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    try:
        store = chain.ledger.store
        old_height, old_set = next_height(store)
        assert len(old_set) == 1
        newcomer = key("peer:abaa").public_key
        seen: dict[str, tuple[int, object]] = {}

        def midway(point: str) -> None:
            if point == "after_write":  # the batch (with the new peer) is in LevelDB; the head not moved
                assert newcomer in validator_set(store)  # what the live database already says
                seen[point] = next_height(store)

        store.commit_hook = midway
        result = chain.run_one("admin@nbc", AddPeer("127.0.0.1:7102", newcomer, "abaa", False))
        store.commit_hook = None
        assert result.status == "COMMITTED", result
        assert seen["after_write"] == (old_height, old_set)
        height, validators = next_height(store)
        assert height == old_height + 1 and newcomer in validators and len(validators) == 2
    finally:
        chain.close()


def test_a_fresh_chain_decides_height_1_next_and_each_commit_moves_it_on_by_one(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    try:
        store = chain.ledger.store
        assert store.published().head.height == 0 and next_height(store)[0] == 1  # genesis is height 0
        chain.run_one("admin@nbc", AddPeer("127.0.0.1:7102", key("peer:abaa").public_key, "abaa", False))
        assert next_height(store)[0] == 2
    finally:
        chain.close()
