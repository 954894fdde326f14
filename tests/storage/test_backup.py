"""storage.backup: a backup is every row of one published state (not of the database as it is later),
complete or absent, and a copy that differs from its manifest in any field is refused. Real LevelDB."""

from __future__ import annotations

import json
from pathlib import Path

import plyvel
import pytest

from node.ledger import commands as c
from storage import backup as storage_backup
from storage.backup import BackupError, check_against_manifest, read_manifest, write_backup
from storage.db import LedgerStore
from tests.ledger_world import CHAIN, KHR, Chain


def rows(path: Path) -> dict[bytes, bytes]:
    db = plyvel.DB(str(path))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def pay(chain: Chain, blocks: int) -> None:
    for i in range(blocks):
        chain.run(chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", f"{i + 1}.00")))


@pytest.fixture
def chain(tmp_path: Path):
    ch = Chain(tmp_path / "db")
    pay(ch, 2)
    yield ch
    ch.close()


def test_a_backup_holds_exactly_the_rows_of_the_state_it_was_taken_from_in_several_batches(
        chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_backup, "_BATCH_BYTES", 512)  # many batches, as a large database would take
    state = chain.ledger.store.published()
    pay(chain, 2)  # committed after the snapshot: not in the backup
    manifest = write_backup(state, tmp_path / "b", {"node": "nbc"})
    chain.close()
    live = rows(chain.path)
    copy = rows(tmp_path / "b" / "ledger")
    assert len(copy) == manifest["rows"] > 0
    assert manifest["bytes"] == sum(len(k) + len(v) for k, v in copy.items())
    assert (manifest["height"], manifest["chain_id"], manifest["node"], manifest["data_format_version"]) == (
        2, CHAIN, "nbc", 1)
    assert len(live) > len(copy)
    with LedgerStore(tmp_path / "b" / "ledger", create=False) as store:
        assert store.head == state.head
        assert check_against_manifest(store, manifest) == state.head
    chain.reopen()
    assert json.loads((tmp_path / "b" / "manifest.json").read_text()) == manifest == read_manifest(tmp_path / "b")


def test_a_backup_that_fails_leaves_nothing_under_its_name_and_an_existing_one_is_never_overwritten(
        chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = chain.ledger.store.published()

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_backup, "_write_durably", disk_full)
    with pytest.raises(OSError):
        write_backup(state, tmp_path / "b", {})
    assert list(tmp_path.iterdir()) == [chain.path]  # neither b nor .partial-b
    monkeypatch.undo()
    write_backup(state, tmp_path / "b", {})
    with pytest.raises(BackupError) as info:
        write_backup(state, tmp_path / "b", {})
    assert info.value.code == "backup_exists"


@pytest.mark.parametrize("field", ["chain_id", "height", "block_hash", "state_root", "data_format_version"])
def test_a_copy_that_differs_from_its_manifest_in_any_field_is_refused(chain: Chain, tmp_path: Path,
                                                                       field: str) -> None:
    manifest = write_backup(chain.ledger.store.published(), tmp_path / "b", {})
    changed = {**manifest, field: manifest[field] + 1 if isinstance(manifest[field], int) else "x"}
    with LedgerStore(tmp_path / "b" / "ledger", create=False) as store, pytest.raises(BackupError) as info:
        check_against_manifest(store, changed)
    assert info.value.code == "backup_mismatch" and field in info.value.message


def test_read_manifest_refuses_what_is_not_a_whole_backup(chain: Chain, tmp_path: Path) -> None:
    manifest = write_backup(chain.ledger.store.published(), tmp_path / "b", {})
    path = tmp_path / "b" / "manifest.json"
    for doc, code in (({**manifest, "kind": "something-else"}, "not_a_backup"),
                      ({k: v for k, v in manifest.items() if k != "height"}, "bad_backup"),
                      ({**manifest, "height": "3"}, "bad_backup")):
        path.write_text(json.dumps(doc))
        with pytest.raises(BackupError) as info:
            read_manifest(tmp_path / "b")
        assert info.value.code == code
    path.write_text("{not json")
    with pytest.raises(BackupError) as info:
        read_manifest(tmp_path / "b")
    assert info.value.code == "bad_backup"
    path.unlink()
    with pytest.raises(BackupError) as info:
        read_manifest(tmp_path / "b")
    assert info.value.code == "not_a_backup"


def test_a_partial_copy_left_by_an_interrupted_attempt_is_cleared_not_kept(chain: Chain, tmp_path: Path) -> None:
    leftover = tmp_path / ".partial-b"
    (leftover / "ledger").mkdir(parents=True)
    (leftover / "junk").write_text("from a killed attempt")
    write_backup(chain.ledger.store.published(), tmp_path / "b", {})
    assert not leftover.exists() and not (tmp_path / "b" / "junk").exists()


def test_the_manifest_says_when_the_backup_was_taken(chain: Chain, tmp_path: Path) -> None:
    import time

    before = int(time.time() * 1000)
    manifest = write_backup(chain.ledger.store.published(), tmp_path / "b", {})
    assert before <= manifest["created_ms"] <= int(time.time() * 1000)


def test_a_backup_without_its_database_or_a_copy_without_a_head_is_refused(chain: Chain, tmp_path: Path) -> None:
    write_backup(chain.ledger.store.published(), tmp_path / "b", {})
    manifest = read_manifest(tmp_path / "b")
    import shutil

    shutil.rmtree(tmp_path / "b" / "ledger")
    with pytest.raises(BackupError) as info:
        read_manifest(tmp_path / "b")
    assert info.value.code == "bad_backup" and "has no ledger/ database" in info.value.message
    assert str(info.value) == info.value.message  # one line for the CLI, not a tuple of arguments
    with LedgerStore(tmp_path / "empty") as empty, pytest.raises(BackupError) as info:
        check_against_manifest(empty, manifest)
    assert info.value.code == "bad_backup" and "holds no committed block" in str(info.value)
