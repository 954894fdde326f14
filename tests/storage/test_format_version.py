"""The data format version recorded in the store: a fresh store records this release's, a store from
before versions were recorded reads as version 1, a store of another version is refused at open with
the command that migrates it. Real LevelDB in tmp_path."""

from __future__ import annotations

from pathlib import Path

import plyvel
import pytest

from storage import db as storage_db
from storage import keys
from storage.db import DataFormatVersion, LedgerStore, StorageError
from tests.ledger_world import Chain


def rows(path: Path) -> dict[bytes, bytes]:
    db = plyvel.DB(str(path))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def set_row(path: Path, key: bytes, value: bytes | None) -> None:
    db = plyvel.DB(str(path))
    try:
        if value is None:
            db.delete(key)
        else:
            db.put(key, value)
    finally:
        db.close()


def a_chain(path: Path) -> Path:
    chain = Chain(path)
    chain.close()
    return path


def test_a_fresh_store_records_this_releases_format_version(tmp_path: Path) -> None:
    LedgerStore(tmp_path / "db").close()
    assert rows(tmp_path / "db") == {keys.META_FORMAT_VERSION: str(storage_db.FORMAT_VERSION).encode()}
    with LedgerStore(tmp_path / "db") as store:
        assert store.format_version == storage_db.FORMAT_VERSION == 1


def test_a_store_from_before_versions_opens_as_version_1_and_records_it_changing_nothing_else(tmp_path: Path) -> None:
    path = a_chain(tmp_path / "db")
    set_row(path, keys.META_FORMAT_VERSION, None)  # as every store written before this release
    before = rows(path)
    with LedgerStore(path) as store:
        assert store.format_version == 1
        assert store.head is not None
    after = rows(path)
    assert after.pop(keys.META_FORMAT_VERSION) == b"1"
    assert after == before


def test_a_store_of_an_older_version_is_refused_naming_both_versions_and_the_migrate_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    path = a_chain(tmp_path / "data" / "ledger")
    monkeypatch.setattr(storage_db, "FORMAT_VERSION", 2)  # a release that reads version 2
    with pytest.raises(DataFormatVersion) as info:
        LedgerStore(path)
    err = info.value
    assert (err.code, err.found, err.expected) == ("data_format_version", 1, 2)
    message = str(err)
    assert "\n" not in message
    assert "version 1" in message and "version 2" in message
    assert f"stop the node and run `bakong migrate --data-dir {tmp_path / 'data'}`" in message
    assert "newer release" not in message  # an older store is migrated, not blamed on a newer release
    assert isinstance(err, StorageError)
    assert rows(path)[keys.META_FORMAT_VERSION] == b"1"  # refused before anything was written (and unlocked)


def test_a_store_from_before_versions_is_version_1_even_when_this_release_reads_a_later_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = a_chain(tmp_path / "db")
    set_row(path, keys.META_FORMAT_VERSION, None)
    monkeypatch.setattr(storage_db, "FORMAT_VERSION", 2)
    with pytest.raises(DataFormatVersion) as info:
        LedgerStore(path)
    assert info.value.found == 1
    assert keys.META_FORMAT_VERSION not in rows(path)  # not stamped with a version its bytes are not in


def test_a_fresh_store_records_the_version_this_release_reads(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_db, "FORMAT_VERSION", 3)
    LedgerStore(tmp_path / "db").close()
    assert rows(tmp_path / "db")[keys.META_FORMAT_VERSION] == b"3"


def test_a_store_of_a_newer_version_is_refused_and_migrate_is_not_offered_as_the_fix(tmp_path: Path) -> None:
    path = a_chain(tmp_path / "db")
    set_row(path, keys.META_FORMAT_VERSION, b"7")
    with pytest.raises(DataFormatVersion) as info:
        LedgerStore(path)
    assert (info.value.found, info.value.expected) == (7, 1)
    assert "newer release" in str(info.value)


def test_a_migration_opens_a_store_of_another_version_and_moves_it_on(tmp_path: Path) -> None:
    path = a_chain(tmp_path / "db")
    set_row(path, keys.META_FORMAT_VERSION, b"0")
    with LedgerStore(path, any_version=True) as store:
        assert store.format_version == 0
        store.set_format_version(1)
        assert store.format_version == 1
    with LedgerStore(path) as store:
        assert store.format_version == 1


def test_a_damaged_format_version_record_is_refused(tmp_path: Path) -> None:
    path = a_chain(tmp_path / "db")
    set_row(path, keys.META_FORMAT_VERSION, b"\x01garbage")
    with pytest.raises(StorageError) as info:
        LedgerStore(path, any_version=True)
    assert "damaged" in str(info.value)
    set_row(path, keys.META_FORMAT_VERSION, b"1")  # the refusal released the lock: it can be repaired
    LedgerStore(path).close()
