"""Where a validator keeps its consensus safety record: two slot files beside the ledger, not LevelDB.

The record must be durable before each signed message leaves, two to four times per height. Since
record version 2 it names values by id and stays a few kilobytes whatever the block size; the values'
bytes go to a ``ValueStash`` beside it, once per value, unsynced. In LevelDB every version of the
record went through the log, the memtable, a level-0 table and a compaction; here it is one write
and one fdatasync, and the next record overwrites it.

Crash safety without rename: records alternate between ``safety.a`` and ``safety.b``. Each slot holds
``MAGIC | sequence (8) | length (8) | sha256(body) (32) | body``. A write goes to the slot *not* holding
the newest record, so a torn write can only damage the older one; ``load`` takes the valid slot with
the highest sequence. The files are created (and the directory synced) once, at start-up.

A data directory from before this module has its record under the LevelDB key ``consensus/safety``:
``load`` falls back to it while neither slot holds a record.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Mapping
from pathlib import Path

MAGIC = b"BKS1"
_HEADER = struct.Struct(">4sQQ32s")


class SafetyFile:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        paths = [directory / "safety.a", directory / "safety.b"]
        created = [not p.exists() for p in paths]
        self._fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o600) for p in paths]
        if any(created):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the new names survive a crash
            finally:
                os.close(dir_fd)
        self._sequence = 0
        self._newest_slot = 1  # the first store() writes slot 0
        for slot in (0, 1):
            found = self._read(slot)
            if found is not None and found[0] >= self._sequence:
                self._sequence, self._newest_slot = found[0], slot

    def _read(self, slot: int) -> tuple[int, bytes] | None:
        fd = self._fds[slot]
        header = os.pread(fd, _HEADER.size, 0)
        if len(header) < _HEADER.size:
            return None
        magic, sequence, length, digest = _HEADER.unpack(header)
        if magic != MAGIC:
            return None
        body = os.pread(fd, length, _HEADER.size)
        if len(body) != length or hashlib.sha256(body).digest() != digest:
            return None  # torn or damaged: the other slot holds the record before it
        return sequence, body

    def load(self) -> bytes | None:
        """The newest intact record, or None when none was ever stored here."""
        if self._sequence == 0:
            return None
        found = self._read(self._newest_slot)
        return None if found is None else found[1]

    def store(self, record: bytes) -> None:
        """Write ``record`` durably (returns after fdatasync) over the older slot."""
        slot = 1 - self._newest_slot
        sequence = self._sequence + 1
        fd = self._fds[slot]
        os.pwrite(fd, _HEADER.pack(MAGIC, sequence, len(record), hashlib.sha256(record).digest()) + record, 0)
        os.fdatasync(fd)
        self._sequence, self._newest_slot = sequence, slot

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


class ValueStash:
    """The bytes of the values a safety record names by id (own proposals, the valid value).

    One file per value, named by its id's hex, in ``directory``. Best effort, so no fsync: safety needs
    only the ids in the record; the bytes spare a restarted validator waiting for peers to re-gossip a
    proposal before it can re-propose its valid value. A file whose bytes do not hash to its name
    (torn by a crash) is ignored. Files the current record no longer names are deleted.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._held = {bytes.fromhex(p.name) for p in directory.iterdir() if _is_id_name(p.name)}

    def keep(self, values: Mapping[bytes, bytes], wanted: set[bytes]) -> None:
        """Store the ``values`` not held yet, then forget every held value not in ``wanted``."""
        for value_id, value in values.items():
            if value_id in wanted and value_id not in self._held:
                (self._directory / value_id.hex()).write_bytes(value)
                self._held.add(value_id)
        for value_id in self._held - wanted:
            (self._directory / value_id.hex()).unlink(missing_ok=True)
        self._held &= wanted

    def load(self) -> dict[bytes, bytes]:
        """Every intact value held, by id."""
        found = {}
        for value_id in self._held:
            try:
                value = (self._directory / value_id.hex()).read_bytes()
            except OSError:
                continue
            if hashlib.sha256(value).digest() == value_id:
                found[value_id] = value
        return found


def _is_id_name(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
