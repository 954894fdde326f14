"""Backups of the node's database: one LevelDB snapshot copied into a fresh LevelDB, with a manifest.

Why a snapshot and not a copy of the files: while a node runs, LevelDB appends to its log, writes new
table files and deletes compacted ones; a file copy taken meanwhile can hold half a log record or miss
a table its manifest names, and nothing would say so until the copy is needed. A snapshot is one
consistent view (here the published state of a committed block: its rows and its head record agree),
iterated while the node keeps committing, so the copy is exactly the database as that block left it.

Layout of a backup directory::

    ledger/          a closed LevelDB: every row of the snapshot, the head record included
    manifest.json    what it holds (``BACKUP_KIND``, chain id, head, data format version, rows, bytes, and
                     whatever the caller adds: node name, software version); written last

A backup is written under ``.partial-<name>`` beside its destination and renamed into place once the
manifest is durable: a directory with the final name is always complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plyvel

from storage import keys
from storage.db import Head, LedgerStore, PublishedState, StorageError

BACKUP_KIND = "bakong-ledger-backup"
MANIFEST = "manifest.json"
LEDGER = "ledger"
_BATCH_BYTES = 4 * 1024 * 1024


class BackupError(StorageError):
    """A backup cannot be written, read or trusted; ``code`` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def copy_snapshot(state: PublishedState, dest: Path) -> tuple[int, int]:
    """Write every row of ``state`` into a new LevelDB at ``dest``; returns (rows, bytes of keys and values)."""
    db = plyvel.DB(str(dest), create_if_missing=True, error_if_exists=True, compression=None)
    rows = size = pending = 0
    try:
        # Synced batches of a few MB: memory stays bounded for a database of any size, and the copy is
        # durable once the last one returns (one fsync per batch costs nothing next to the copying).
        batch = db.write_batch(sync=True)
        for key, value in state.scan(b""):
            batch.put(key, value)
            rows += 1
            pending += len(key) + len(value)
            if pending >= _BATCH_BYTES:
                batch.write()
                size, pending = size + pending, 0
                batch = db.write_batch(sync=True)
        batch.write()
        size += pending
    finally:
        db.close()
    return rows, size


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode(errors="replace")


def write_backup(state: PublishedState, dest: Path, about: Mapping[str, Any]) -> dict[str, Any]:
    """Copy ``state`` into the backup directory ``dest`` (which must not exist); returns its manifest.
    ``about`` adds the caller's facts (node name, software version) to the manifest."""
    if dest.exists():
        raise BackupError("backup_exists", f"{dest} exists; choose another name")
    partial = dest.parent / f".partial-{dest.name}"
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted attempt left
    partial.mkdir(parents=True)
    try:
        rows, size = copy_snapshot(state, partial / LEDGER)
        format_version = _text(state.get(keys.META_FORMAT_VERSION))
        manifest = {
            **about,
            "kind": BACKUP_KIND,
            "chain_id": _text(state.get(keys.META_CHAIN_ID)),
            "height": state.head.height,
            "block_hash": state.head.block_hash.hex(),
            "state_root": state.head.state_root.hex(),
            "data_format_version": int(format_version) if format_version and format_version.isdigit() else None,
            "rows": rows,
            "bytes": size,
            "created_ms": int(time.time() * 1000),
        }
        _write_durably(partial / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        _fsync_dir(partial)
        partial.rename(dest)
        _fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def read_manifest(backup: Path) -> dict[str, Any]:
    """The manifest of the backup directory ``backup``, checked for the fields a restore relies on."""
    try:
        manifest = json.loads((backup / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError("not_a_backup", f"{backup} has no {MANIFEST}: not a backup, or an unfinished one") from None
    except (OSError, ValueError) as exc:
        raise BackupError("bad_backup", f"{backup / MANIFEST} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != BACKUP_KIND:
        raise BackupError("not_a_backup", f"{backup / MANIFEST} does not describe a {BACKUP_KIND}")
    wanted = {"chain_id": str, "height": int, "block_hash": str, "state_root": str, "data_format_version": int}
    for name, kind in wanted.items():
        if not isinstance(manifest.get(name), kind):
            raise BackupError("bad_backup", f"{backup / MANIFEST}: {name} is missing or not a {kind.__name__}")
    if not (backup / LEDGER).is_dir():
        raise BackupError("bad_backup", f"{backup} has no {LEDGER}/ database")
    return manifest


def check_against_manifest(store: LedgerStore, manifest: Mapping[str, Any]) -> Head:
    """Refuse a copy whose chain, head or data format differs from what its manifest says was backed up."""
    head = store.head
    if head is None:
        raise BackupError("bad_backup", f"{store.path} holds no committed block")
    chain_id = _text(store.get(keys.META_CHAIN_ID))
    found = {"chain_id": chain_id, "height": head.height, "block_hash": head.block_hash.hex(),
             "state_root": head.state_root.hex(), "data_format_version": store.format_version}
    for name, value in found.items():
        if manifest.get(name) != value:
            raise BackupError("backup_mismatch",
                              f"{store.path}: {name} is {value!r}, the manifest says {manifest.get(name)!r}")
    return head
