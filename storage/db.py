"""The node's one LevelDB: world state, block store, indexes and the head record.

Rules:
- a block is committed with exactly one ``WriteBatch(sync=True)`` that holds the block, its
  certificate, its indexes, the world-state write set and the new head record. LevelDB applies a
  batch atomically and the sync makes it durable before we answer COMMITTED, so after a crash the
  head names the last block whose every effect is on disk, and nothing of a later block is;
- the head record is the only source of truth for "where the chain is"; there is no second store to
  disagree with it (Iroha 1 issue #1467 cannot happen);
- this module knows bytes, not ledger records: callers encode values;
- the store records its data format version (``FORMAT_VERSION``) and a store of another version is
  refused at open; a backup (``storage.backup``) copies one published state, never an open database's files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import plyvel

from storage import keys

HEAD_FORMAT_VERSION = 1

FORMAT_VERSION = 1
"""How this release lays out the database's bytes (key families, record encodings), recorded in the
store (``keys.META_FORMAT_VERSION``). A release that changes how stored bytes must be read raises it and
registers a migration from the previous version (``node.ops.migrate``, run by ``bakong migrate``); a store
of another version is refused at open, before anything reads it the wrong way."""
UNVERSIONED_FORMAT = 1
"""The version of a non-empty store that records none: one written before versions were recorded, whose
bytes are version 1's. Opening it records 1 (nothing else changes), so operators' disks need no step."""

# The stages of a block commit an observer (``LedgerStore.commit_hook``) is told of: nothing written yet,
# the synced batch in flight, the batch durable but nothing after it done (caches, head in memory, clients).
COMMIT_STAGES = ("before_write", "during_write", "after_write")


class StorageError(RuntimeError):
    """The database cannot be used as asked; ``code`` is stable for operators and tests."""

    code = "storage_error"


class DatabaseLocked(StorageError):
    code = "database_locked"


class CorruptHead(StorageError):
    code = "corrupt_head"


class ChainMismatch(StorageError):
    code = "chain_mismatch"


class DataFormatVersion(StorageError):
    """The store's bytes are laid out in another version than this release reads."""

    code = "data_format_version"

    def __init__(self, path: str, found: int, expected: int) -> None:
        # The node keeps this database at DATA_DIR/ledger (node.assembly): the parent is the data dir
        # ``bakong migrate`` takes. An older store can be migrated; a newer one only read by its release.
        data_dir = Path(path).parent
        if found < expected:
            remedy = f"stop the node and run `bakong migrate --data-dir {data_dir}`"
        else:
            remedy = ("it was written by a newer release: run that release, or restore a backup made with "
                      f"this one (`bakong migrate --data-dir {data_dir}` cannot go back)")
        super().__init__(f"database {path} holds data format version {found}, this release reads version "
                         f"{expected}; {remedy}")
        self.found, self.expected = found, expected


@dataclass(frozen=True)
class Head:
    """Where the committed chain ends."""

    height: int
    """Height of the last committed block (0 = genesis)."""
    block_hash: bytes
    """Hash of that block."""
    state_root: bytes
    """World-state commitment after that block."""

    def encode(self) -> bytes:
        if len(self.block_hash) != 32 or len(self.state_root) != 32:
            raise ValueError("head hashes are 32 bytes")
        return bytes([HEAD_FORMAT_VERSION]) + keys.height_bytes(self.height) + self.block_hash + self.state_root

    @classmethod
    def decode(cls, raw: bytes) -> Head:
        if len(raw) != 73 or raw[0] != HEAD_FORMAT_VERSION:
            raise CorruptHead("the head record is damaged; the database cannot be trusted")
        return cls(int.from_bytes(raw[1:9], "big"), raw[9:41], raw[41:73])


def _prefix_end(prefix: bytes) -> bytes | None:
    """The first key after every key starting with ``prefix`` (None: no upper bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _scan(source: plyvel.DB | plyvel.Snapshot, prefix: bytes, start: bytes | None, reverse: bool,
          limit: int | None) -> Iterator[tuple[bytes, bytes]]:
    if start is None:
        it = source.iterator(prefix=prefix, reverse=reverse)
    elif reverse:
        it = source.iterator(start=prefix, stop=start + b"\x00", reverse=True)
    else:
        it = source.iterator(start=start, stop=_prefix_end(prefix))
    count = 0
    with it:
        for key, value in it:
            if limit is not None and count >= limit:
                return
            count += 1
            yield key, value


def _get_sorted(source: plyvel.DB | plyvel.Snapshot, sorted_keys: list[bytes]) -> list[bytes | None]:
    values: list[bytes | None] = []
    if not sorted_keys:
        return values
    append = values.append
    with source.iterator() as it:
        seek = it.seek
        for key in sorted_keys:
            seek(key)
            row = next(it, None)
            append(row[1] if row is not None and row[0] == key else None)
    return values


class PublishedState:
    """A committed head and the database exactly as that block's commit left it (a LevelDB snapshot)."""

    def __init__(self, head: Head, snapshot: plyvel.Snapshot) -> None:
        self.head = head
        self._snapshot = snapshot

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._snapshot.get(key)  # plyvel is untyped: say what it returns
        return value

    def get_sorted(self, sorted_keys: list[bytes]) -> list[bytes | None]:
        """As ``LedgerStore.get_sorted``, on this snapshot."""
        return _get_sorted(self._snapshot, sorted_keys)

    def scan(
        self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False, limit: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        return _scan(self._snapshot, prefix, start, reverse, limit)


class LedgerStore:
    """One LevelDB holding everything a node keeps (see ``storage.keys`` for the families)."""

    def __init__(self, path: str | Path, *, create: bool = True, any_version: bool = False) -> None:
        """Open (or create) the database; refuse one of another data format version (``DataFormatVersion``)
        unless ``any_version`` (a migration, which then reads ``format_version`` and moves it on)."""
        self.path = str(path)
        try:
            self._db = plyvel.DB(
                self.path,
                create_if_missing=create,
                lru_cache_size=64 * 1024 * 1024,
                write_buffer_size=32 * 1024 * 1024,
                bloom_filter_bits=10,
                # No block compression: what we store is mostly hashes, keys and signatures, which
                # snappy cannot shrink, yet it cost a validator ~14% of its CPU (perf, under load)
                # compressing every table that flushes and compactions write.
                compression=None,
            )
        except plyvel.IOError as exc:
            if "lock" in str(exc).lower():
                raise DatabaseLocked(f"database {self.path} is in use by another process") from exc
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        except plyvel.Error as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        try:
            self.format_version = self._check_format_version(any_version)
        except StorageError:
            self._db.close()  # release the lock: the operator's next step (bakong migrate) opens it
            raise
        self._head = self._read_head()
        self._published: PublishedState | None = None
        if self._head is not None:
            self._publish(self._head)
        self.commit_hook: Callable[[str], None] | None = None
        """Called with each of ``COMMIT_STAGES`` during ``commit`` (the faults seam uses it to crash there)."""

    # ---- data format version ----

    def _check_format_version(self, any_version: bool) -> int:
        raw: bytes | None = self._db.get(keys.META_FORMAT_VERSION)
        if raw is None:
            with self._db.iterator(include_value=False) as it:
                empty = next(it, None) is None
            found = FORMAT_VERSION if empty else UNVERSIONED_FORMAT
            if found == FORMAT_VERSION:
                self.set_format_version(found)  # a fresh store, or one from before versions: same bytes
        elif raw.isdigit():
            found = int(raw)
        else:
            raise StorageError(f"database {self.path}: the data format version record is damaged ({raw[:16]!r})")
        if found != FORMAT_VERSION and not any_version:
            raise DataFormatVersion(self.path, found, FORMAT_VERSION)
        return found

    def set_format_version(self, version: int) -> None:
        """Record the data format version (a migration, once every row is in the new layout)."""
        self._db.put(keys.META_FORMAT_VERSION, str(version).encode(), sync=True)
        self.format_version = version

    # ---- head ----

    def _read_head(self) -> Head | None:
        raw = self._db.get(keys.HEAD)
        return None if raw is None else Head.decode(raw)

    @property
    def head(self) -> Head | None:
        """The last committed block, or None for an empty database."""
        return self._head

    # ---- reads ----

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)  # plyvel is untyped: say what it returns
        return value

    def get_sorted(self, sorted_keys: list[bytes]) -> list[bytes | None]:
        """The values of ``sorted_keys`` (ascending), read through one iterator; None where absent.

        Why not ``get`` in a loop: LevelDB charges a get that consults more than one table file to the
        first file it consulted, and compacts that file once it has used up its allowance ("seek
        compaction", ~128 charges for a 2 MB table). Random reads of a large world state, whose
        rows mostly sit below newer tables covering the same key range, trigger such compactions all
        the time: at 1,000,000 accounts about 5 us of compaction CPU per transfer. Looking up keys that
        are absent (a new transaction's hash in the tx index) consults every level and is charged every
        time. An iterator only samples its reads (one charge per ~1 MB read), and ascending seeks reuse
        the blocks just read."""
        return _get_sorted(self._db, sorted_keys)

    def scan(
        self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False, limit: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Rows whose key starts with ``prefix``, from ``start`` (inclusive) when given."""
        return _scan(self._db, prefix, start, reverse, limit)

    def published(self) -> PublishedState:
        """The last committed block's state as one frozen snapshot, for readers outside the block path.

        Reads of the live database may see a block's rows a moment before ``head`` names the block (the
        batch is in LevelDB while the committing thread has not yet moved the head), and a read spanning a
        commit may mix two blocks. A published state is taken after the write and swapped in as one
        reference, so its rows and its head always agree."""
        view = self._published
        if view is None:
            raise StorageError("nothing is committed yet")
        return view

    # ---- writes ----

    def commit(self, writes: Mapping[bytes, bytes | None], head: Head) -> None:
        """Apply ``writes`` (None deletes) and the new head in one durable, atomic batch."""
        head_record = head.encode()
        hook = self.commit_hook
        if hook is not None:
            hook("before_write")
        # transaction=True: if anything raises inside the block, plyvel drops the batch instead of
        # writing the part already added (which would put world state ahead of the head).
        with self._db.write_batch(sync=True, transaction=True) as batch:
            for key, value in writes.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            batch.put(keys.HEAD, head_record)
            if hook is not None:
                hook("during_write")  # the batch is written (and synced) when this block exits
        if hook is not None:
            hook("after_write")
        self._head = head
        self._publish(head)

    def _publish(self, head: Head) -> None:
        # One attribute assignment: a reader on another thread gets the old state or the new one, whole.
        self._published = PublishedState(head, self._db.snapshot())

    def put_rows(self, writes: Mapping[bytes, bytes]) -> None:
        """One atomic, unsynced batch of rows that does not move the head (bulk genesis import: the
        head-moving commit that follows is synced and makes these durable with it)."""
        if keys.HEAD in writes:
            raise ValueError("the head moves only with a block commit")
        with self._db.write_batch(transaction=True) as batch:
            for key, value in writes.items():
                batch.put(key, value)

    def put_rows_durable(self, writes: Mapping[bytes, bytes]) -> None:
        """One atomic, synced batch of node-local rows outside block commit (accepted transactions)."""
        if keys.HEAD in writes:
            raise ValueError("the head moves only with a block commit")
        with self._db.write_batch(sync=True, transaction=True) as batch:
            for key, value in writes.items():
                batch.put(key, value)

    def delete_rows(self, row_keys: list[bytes]) -> None:
        """One atomic, unsynced batch of deletes (a lost delete is redone from the chain at restart)."""
        if keys.HEAD in row_keys:
            raise ValueError("the head moves only with a block commit")
        with self._db.write_batch(transaction=True) as batch:
            for key in row_keys:
                batch.delete(key)

    def compact(self) -> None:
        """Compact the whole key space (after a bulk import, so random reads stay cheap).

        Bounded by the first and last key: plyvel's ``compact_range()`` without bounds returned in
        milliseconds and left a million imported accounts as 81 MB on level 1 (target 10 MB), a debt
        LevelDB then paid in the background while the node served: 27 us of compaction CPU per
        transfer in the first minute, 6 us with the import compacted to the bottom first."""
        with self._db.iterator(include_value=False) as it:
            first = next(it, None)
        with self._db.iterator(reverse=True, include_value=False) as it:
            last = next(it, None)
        if first is not None and last is not None:
            self._db.compact_range(start=first, stop=last)

    def put_durable(self, key: bytes, value: bytes) -> None:
        """One synced write outside block commit (consensus safety records, meta)."""
        if key == keys.HEAD:
            raise ValueError("the head moves only with a block commit")
        self._db.put(key, value, sync=True)

    def close(self) -> None:
        self._published = None  # plyvel releases a snapshot only while its database is open
        if not self._db.closed:
            self._db.close()

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
