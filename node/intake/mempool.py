"""The mempool: statelessly valid transactions waiting for a block.

Bounded by count and bytes; when full, ``add`` raises ``MempoolFull`` and the API answers 503 with
Retry-After rather than letting memory grow. Each creator account may have at most
``max_per_account`` transactions waiting (``AccountLimit``, 429): one account's flood cannot fill the
pool and starve the others. Deduplicated by hash. Ordered first-come first-served
(dict insertion order), which the block producer takes from the front.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

from node.ledger.transactions import Transaction


class IntakeError(Exception):
    """The intake wing's root: a transaction that cannot be taken now. ``http_status`` is the answer's
    status when a client asked (the API maps nothing itself)."""

    code = "intake_error"
    http_status = 503


class MempoolFull(IntakeError):
    code = "mempool_full"
    http_status = 503


class AccountLimit(MempoolFull):
    """One creator already has its share of the pool waiting: a flood from one account fills at most
    that share, so other accounts' payments still get in (and, first come first served, wait behind
    at most that many of the flooder's)."""

    code = "account_limit"
    http_status = 429


class RecentBytes:
    """The exact bytes of the last ``capacity`` committed transactions, by Python's (per-process keyed)
    hash only, so 100,000 entries cost a few MB. Under load a validator often gets a block before the
    gossip carrying its transactions has been admitted; without this it decoded each such transaction
    a second time (about 15 us) only to find it already in the chain. A hash collision only makes
    this node skip one gossiped copy; the ledger's own replay check stays the authority."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._order: deque[int] = deque()
        self._set: set[int] = set()

    def add_many(self, raws: list[bytes]) -> None:
        keys = [hash(raw) for raw in raws]
        self._set.update(keys)
        self._order.extend(keys)
        while len(self._order) > self.capacity:  # a key seen twice may go early: one more decode, no harm
            self._set.discard(self._order.popleft())

    def __contains__(self, raw: bytes) -> bool:
        return hash(raw) in self._set


class Mempool:
    def __init__(self, max_txs: int, max_bytes: int, max_per_account: int | None = None) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_per_account = max_txs if max_per_account is None else max_per_account
        self._per_creator: dict[str, int] = {}
        self._txs: dict[bytes, tuple[Transaction, int, float]] = {}  # hash -> (tx, size, arrival)
        # Exact bytes -> decoded tx: a proposed block's transactions are found here without decoding.
        self._by_raw: dict[bytes, Transaction] = {}
        self._bytes = 0
        self.recent = RecentBytes()

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def add(self, tx: Transaction, size: int) -> bool:
        """Queue ``tx``; False if it is already queued. Raises MempoolFull at the bound."""
        if tx.hash in self._txs:
            return False
        if len(self._txs) >= self.max_txs or self._bytes + size > self.max_bytes:
            raise MempoolFull("the mempool is full; retry shortly")
        waiting = self._per_creator.get(tx.creator, 0)
        if waiting >= self.max_per_account:
            raise AccountLimit(f"{tx.creator} already has {waiting} transactions waiting; retry shortly")
        self._per_creator[tx.creator] = waiting + 1
        self._txs[tx.hash] = (tx, size, time.monotonic())
        self._by_raw[tx.encode()] = tx
        self._bytes += size
        return True

    def get(self, tx_hash: bytes) -> Transaction | None:
        entry = self._txs.get(tx_hash)
        return None if entry is None else entry[0]

    def replace(self, tx: Transaction, size: int) -> bool:
        """Put ``tx`` (another signature set of a queued payload) in its copy's place, keeping the copy's
        place in line and its creator's share; False (nothing changed) when not queued or over the byte
        bound."""
        entry = self._txs.get(tx.hash)
        if entry is None or self._bytes - entry[1] + size > self.max_bytes:
            return False
        old, old_size, arrival = entry
        self._txs[tx.hash] = (tx, size, arrival)  # an existing key keeps its place in the dict's order
        self._by_raw.pop(old.encode(), None)
        self._by_raw[tx.encode()] = tx
        self._bytes += size - old_size
        return True

    def by_bytes(self, raw: bytes) -> Transaction | None:
        return self._by_raw.get(raw)

    def peek(self, limit: int) -> list[Transaction]:
        """Up to ``limit`` oldest transactions, left in the pool until ``remove``."""
        out: list[Transaction] = []
        for tx, _size, _at in self._txs.values():
            if len(out) >= limit:
                break
            out.append(tx)
        return out

    def waiting_longer_than(self, seconds: float) -> Iterator[Transaction]:
        """Transactions queued more than ``seconds`` ago, oldest first (candidates for re-gossip)."""
        cutoff = time.monotonic() - seconds
        for tx, _size, at in self._txs.values():
            if at > cutoff:
                return
            yield tx

    def remove(self, hashes: list[bytes]) -> None:
        for h in hashes:
            entry = self._txs.pop(h, None)
            if entry is not None:
                tx = entry[0]
                self._bytes -= entry[1]
                self._by_raw.pop(tx.encode(), None)
                left = self._per_creator[tx.creator] - 1
                if left:
                    self._per_creator[tx.creator] = left
                else:
                    del self._per_creator[tx.creator]

    def committed(self, txs: tuple[Transaction, ...] | list[Transaction]) -> None:
        """A block with ``txs`` was committed: drop them from the pool and remember their bytes."""
        self.remove([tx.hash for tx in txs])
        self.recent.add_many([tx.encode() for tx in txs])

    def known_bytes(self, raw: bytes) -> bool:
        """True when ``raw`` is waiting here or was committed lately: gossip need not decode it."""
        return raw in self._by_raw or raw in self.recent

    def pending_for(self, creator: str) -> list[Transaction]:
        """Safe from a query thread: ``list()`` copies the entries in one step under the GIL, so the event
        loop adding or removing meanwhile cannot break the iteration."""
        return [tx for tx, _s, _at in list(self._txs.values()) if tx.creator == creator]
