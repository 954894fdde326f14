"""A read-through view of the world state with a block write set and a transaction scope.

Execution never writes LevelDB: it reads through this overlay and leaves its changes in it. A
transaction's writes sit in their own scope so a failing command discards them all (atomic
transactions); a successful transaction folds them into the block's write set, which the commit
writes in one batch. Values are kept decoded as typed records (``node.ledger.records``); records are
frozen, so a decoded value may be shared between the committed cache and a scope safely.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from consensus import codec
from consensus.crypto import hash_bytes
from node.ledger.records import WorldValue, decode_row, encode_row

_ABSENT: Any = object()


class KeyValueReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def get_sorted(self, sorted_keys: list[bytes]) -> list[bytes | None]: ...

    def scan(self, prefix: bytes, *, start: bytes | None = None, reverse: bool = False,
             limit: int | None = None) -> Iterator[tuple[bytes, bytes]]: ...


class CommittedCache:
    """Decoded committed values shared by successive blocks; bounded so memory does not grow with state."""

    def __init__(self, store: KeyValueReader, capacity: int = 200_000) -> None:
        self.store = store
        self.capacity = capacity
        self._values: dict[bytes, Any] = {}
        self.reads = 0
        """How many keys were read from the store so far (misses and prefetches)."""

    def get(self, key: bytes) -> Any:
        value = self._values.get(key, _ABSENT)
        if value is _ABSENT:
            self.reads += 1
            raw = self.store.get(key)
            value = None if raw is None else decode_row(key, raw)
            if len(self._values) >= self.capacity:
                self._values.clear()
            self._values[key] = value
        return value

    def prefetch(self, wanted: Iterable[bytes]) -> None:
        """Read the ``wanted`` keys not cached yet in one ascending pass (``get_sorted``).

        A block's payments read their accounts and balances at random across the world state; fetched
        together in key order they cost less, and they do not trigger LevelDB's seek compactions. They
        go into this cache like any read: a state that fits it is soon read from memory only, and
        prefetching then stops (``Ledger.execute``)."""
        values = self._values
        missing = sorted(set(wanted).difference(values))
        if missing:
            self.reads += len(missing)
            if len(values) + len(missing) > self.capacity:
                values.clear()
            for key, raw in zip(missing, self.store.get_sorted(missing), strict=True):
                values[key] = None if raw is None else decode_row(key, raw)

    def apply(self, writes: dict[bytes, Any]) -> None:
        """After a commit: the written values are now the committed ones."""
        if len(self._values) + len(writes) > self.capacity:
            self._values.clear()
        self._values.update(writes)

    def clear(self) -> None:
        self._values.clear()


class StateView:
    """The state a block executes against: committed values + this block's writes + the current tx's."""

    def __init__(self, committed: CommittedCache) -> None:
        self._committed = committed
        self._block: dict[bytes, Any] = {}
        self._tx: dict[bytes, Any] = {}
        self._undo: dict[bytes, Any] | None = None
        """Inside an atomic batch: each key's block value before the batch first wrote it."""

    def get(self, key: bytes) -> Any:
        value = self._tx.get(key, _ABSENT)
        if value is _ABSENT:
            value = self._block.get(key, _ABSENT)
            if value is _ABSENT:
                value = self._committed.get(key)
        return value

    def put(self, key: bytes, value: Any) -> None:
        self._tx[key] = value

    def delete(self, key: bytes) -> None:
        self._tx[key] = None

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, Any]]:
        """Live rows under ``prefix`` in key order, pending writes included (deletes hidden)."""
        pending = {k: v for k, v in self._block.items() if k.startswith(prefix)}
        pending.update({k: v for k, v in self._tx.items() if k.startswith(prefix)})
        stored = ((k, decode_row(k, v)) for k, v in self._committed.store.scan(prefix) if k not in pending)
        for key, value in heapq.merge(stored, sorted(pending.items()), key=lambda kv: kv[0]):
            if value is not None:
                yield key, value

    # ---- transaction scope ----

    def commit_tx(self) -> None:
        if self._tx:
            if self._undo is not None:
                for key in self._tx:
                    if key not in self._undo:
                        self._undo[key] = self._block.get(key, _ABSENT)
            self._block.update(self._tx)
            self._tx = {}

    def rollback_tx(self) -> None:
        self._tx = {}

    # ---- batch scope (node.ledger.batches): committed transactions that may still be undone ----

    def begin_batch(self) -> None:
        self._undo = {}

    def end_batch(self, keep: bool) -> None:
        """Close the batch; unless ``keep``, undo what its committed transactions wrote (an undo log,
        not a copy of the block's writes: a block of many small batches stays linear)."""
        undo, self._undo = self._undo, None
        if keep or not undo:
            return
        for key, before in undo.items():
            if before is _ABSENT:
                del self._block[key]
            else:
                self._block[key] = before

    # ---- results ----

    def decoded_writes(self) -> dict[bytes, Any]:
        return dict(self._block)

    def write_set(self) -> dict[bytes, bytes | None]:
        """The block's changes, encoded; None marks a deletion."""
        return {k: (None if v is None else encode_row(v)) for k, v in self._block.items()}


class StoredWorld:
    """The committed world state read straight from a key-value source (the live store or a published
    snapshot), decoded into records. It keeps no cache, so any thread may use it: the decoded cache
    belongs to the thread that executes blocks."""

    def __init__(self, store: KeyValueReader) -> None:
        self.store = store

    def get(self, key: bytes) -> WorldValue | None:
        raw = self.store.get(key)
        return None if raw is None else decode_row(key, raw)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, WorldValue]]:
        """Rows under ``prefix`` in key order."""
        for key, raw in self.store.scan(prefix):
            yield key, decode_row(key, raw)


def next_state_root(previous_root: bytes, write_set: Mapping[bytes, bytes | None]) -> bytes:
    """``H(previous_root || H(canonical sorted write set))``: a commitment every validator can recompute."""
    ordered = [[k, write_set[k]] for k in sorted(write_set)]
    return hash_bytes(previous_root + hash_bytes(codec.encode_trusted(ordered)))
