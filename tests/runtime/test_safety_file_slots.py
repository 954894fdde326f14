"""The safety record's two slot files: layout, permissions, syncing and file descriptors.

``tests/runtime/test_safety_store.py`` checks what a restart loads; these pin down how ``SafetyFile`` gets
there (``node/runtime/safety_store.py``), found by mutation testing (``./scripts/mutation node/runtime/safety_store.py``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from node.runtime import safety_store
from node.runtime.safety_store import SafetyFile


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_the_slot_files_are_private_to_the_node(tmp_path: Path) -> None:
    SafetyFile(tmp_path).close()
    for name in ("safety.a", "safety.b"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600


def test_records_alternate_between_the_slots_starting_with_a(tmp_path: Path) -> None:
    store = SafetyFile(tmp_path)
    store.store(b"first")
    assert b"first" in (tmp_path / "safety.a").read_bytes() and (tmp_path / "safety.b").read_bytes() == b""
    store.store(b"second")
    assert b"second" in (tmp_path / "safety.b").read_bytes() and b"first" in (tmp_path / "safety.a").read_bytes()
    store.store(b"third")
    assert b"third" in (tmp_path / "safety.a").read_bytes()
    store.close()


def test_a_record_is_synced_before_store_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SafetyFile(tmp_path)
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(safety_store.os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    store.store(b"vote")
    assert len(synced) == 1
    assert os.readlink(f"/proc/self/fd/{synced[0]}") == str(tmp_path / "safety.a")
    store.close()


def test_the_directory_is_synced_once_when_the_slots_are_created(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(safety_store.os, "fsync",
                        lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    SafetyFile(tmp_path).close()
    assert synced == [str(tmp_path)]
    SafetyFile(tmp_path).close()  # the names exist already: nothing to make durable
    assert synced == [str(tmp_path)]


def test_opening_and_closing_leaves_no_file_descriptor_open(tmp_path: Path) -> None:
    before = open_fds()
    store = SafetyFile(tmp_path / "fresh")  # creates the files and syncs the directory
    store.store(b"record")
    store.close()
    SafetyFile(tmp_path / "fresh").close()
    assert open_fds() == before


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    store = SafetyFile(tmp_path)
    store.close()
    store.close()


def test_a_slot_without_the_magic_is_not_a_record(tmp_path: Path) -> None:
    store = SafetyFile(tmp_path)
    store.store(b"mine")
    store.close()
    body = b"someone else's newer-looking file"
    header = safety_store._HEADER.pack(b"XXXX", 99, len(body), hashlib.sha256(body).digest())
    (tmp_path / "safety.b").write_bytes(header + body)
    assert SafetyFile(tmp_path).load() == b"mine"
