"""Where a validator keeps its consensus safety record: two slot files beside the ledger, not LevelDB.

The record must be durable before each signed message leaves, two to four times per height, and it
holds whole block values (a proposer's record holds its proposal and, once there is a polka, the same
block again as validValue): about 1.75 MB per height and validator with 5,000-transfer blocks. In
LevelDB every version went through the log, the memtable, a level-0 table and a compaction, about a
third of all bytes a validator wrote; here it is one write and one fdatasync, and the next record
overwrites it.

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
