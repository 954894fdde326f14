"""The value stash beside the safety record: the bytes of the values the record names by id.

Best effort by design (safety needs only the ids), but what it returns must be exactly the values
named, intact, and it must not grow: every value the current record no longer names is deleted.
"""

from __future__ import annotations

from pathlib import Path

from consensus.crypto import hash_bytes
from node.runtime.safety_store import ValueStash

A, B, C = b"block a" * 1000, b"block b", b"block c"
IA, IB, IC = hash_bytes(A), hash_bytes(B), hash_bytes(C)


def test_values_survive_a_reopen_and_come_back_by_id(tmp_path: Path) -> None:
    ValueStash(tmp_path).keep({IA: A, IB: B}, {IA, IB})
    assert ValueStash(tmp_path).load() == {IA: A, IB: B}


def test_values_the_record_no_longer_names_are_deleted_and_unwanted_ones_never_written(tmp_path: Path) -> None:
    stash = ValueStash(tmp_path)
    stash.keep({IA: A, IB: B}, {IA, IB})
    stash.keep({IC: C}, {IB})  # C is offered but not named: not written; A is no longer named: gone
    assert sorted(p.name for p in tmp_path.iterdir()) == [IB.hex()]
    assert ValueStash(tmp_path).load() == {IB: B}


def test_a_value_is_written_once_however_often_it_is_offered(tmp_path: Path) -> None:
    stash = ValueStash(tmp_path)
    stash.keep({IA: A}, {IA})
    path = tmp_path / IA.hex()
    path.write_bytes(b"torn")  # what a crash mid-write could leave
    stash.keep({IA: A}, {IA})  # already held: not rewritten (each record is persisted 2-4 times a height)
    assert path.read_bytes() == b"torn"


def test_a_torn_or_foreign_file_is_never_returned(tmp_path: Path) -> None:
    stash = ValueStash(tmp_path)
    stash.keep({IA: A, IB: B}, {IA, IB})
    (tmp_path / IA.hex()).write_bytes(A[:-1])  # torn: no longer hashes to its name
    (tmp_path / "notes.txt").write_bytes(b"left by an operator")
    (tmp_path / ("ab" * 31)).write_bytes(b"short name")
    assert ValueStash(tmp_path).load() == {IB: B}


def test_a_file_removed_behind_the_stash_is_skipped(tmp_path: Path) -> None:
    stash = ValueStash(tmp_path)
    stash.keep({IA: A, IB: B}, {IA, IB})
    (tmp_path / IA.hex()).unlink()
    assert stash.load() == {IB: B}


def test_the_stash_creates_its_directory(tmp_path: Path) -> None:
    ValueStash(tmp_path / "consensus" / "values").keep({IA: A}, {IA})
    assert ValueStash(tmp_path / "consensus" / "values").load() == {IA: A}


def test_a_value_forgotten_and_named_again_later_is_written_again(tmp_path: Path) -> None:
    stash = ValueStash(tmp_path)
    stash.keep({IA: A}, {IA})
    stash.keep({}, set())  # the record moved on: A is deleted
    stash.keep({IA: A}, {IA})  # a later record names A again (a re-proposal of the valid value)
    assert stash.load() == {IA: A}


def test_files_whose_names_are_not_value_ids_are_left_alone(tmp_path: Path) -> None:
    """An operator's or a tool's file in the directory (a name of 64 non-hex characters, a short hex
    name) is neither loaded nor deleted, and does not stop the stash from opening."""
    directory = tmp_path / "values"
    directory.mkdir()
    (directory / ("z" * 64)).write_bytes(b"not a value")
    (directory / "ab").write_bytes(b"\xab")
    stash = ValueStash(directory)
    assert stash.load() == {}
    stash.keep({}, set())
    assert sorted(p.name for p in directory.iterdir()) == sorted(["z" * 64, "ab"])
