"""Pending multi-signature transactions (issue 18, point 2; Iroha's MST).

A transaction whose valid signatures, all by its creator's signatories, are fewer than its quorum (the
quorum its payload declares, or its creator's, whichever is higher) waits here as MST_PENDING instead of
being refused. Other copies of the same payload, sent later to any node, bring more signatures: each is
checked like any submission, and its new signatures are merged into the waiting copy. At quorum the
transaction leaves for the mempool (ENOUGH_SIGNATURES_COLLECTED) and takes the normal path. It expires
``expiry_ms`` after its creation time (MST_EXPIRED), which every node computes alike and a restart does
not reset.

Iroha 1's MST propagation was a long-running source of bugs (lost signatures, pending sets that
differ between peers, memory growth). The rules here avoid each:
- nothing is lost: a copy's valid signatures are merged, never first-wins, and the merged copy is
  written to this node's LevelDB (``keys.pending_tx``) before the submitter is answered, so a restart
  restores it (``restore_rows``); a signature sent to another node meets the copy gossip brought there;
- the sets converge: every node gossips each copy it admits, and merging is a union (order aside);
- memory is bounded: at most ``max_txs`` / ``max_bytes`` in all and ``max_per_account`` per creator,
  refused with a typed error (``pending_full`` 503, ``pending_account_limit`` 429) when full. Only a
  signatory of the creator can open an entry (a signature by someone else is refused at intake), so a
  stranger cannot fill another bank's share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.intake.mempool import AccountLimit, MempoolFull
from node.ledger.transactions import Transaction
from storage import keys
from storage.db import LedgerStore

if TYPE_CHECKING:
    from node.intake.admission import Admission

DEFAULT_EXPIRY_MS = 1_440 * 60_000
"""Iroha's default: a pending transaction waits 1,440 minutes for its signatures."""


class PendingFull(MempoolFull):
    code = "pending_full"
    http_status = 503


class PendingAccountLimit(AccountLimit):
    code = "pending_account_limit"
    http_status = 429


@dataclass(frozen=True, slots=True)
class Pending:
    tx: Transaction
    size: int
    expires_ms: int


class PendingPool:
    """The transactions waiting for signatures on this node, persisted in its store."""

    def __init__(self, store: LedgerStore | None, *, max_txs: int, max_bytes: int, max_per_account: int,
                 expiry_ms: int = DEFAULT_EXPIRY_MS) -> None:
        """The bounds come from ``[mempool] pending_*`` (node.config: 10,000 / 64 MiB / 100 by default)."""
        self.store = store
        self.max_txs, self.max_bytes, self.max_per_account = max_txs, max_bytes, max_per_account
        self.expiry_ms = expiry_ms
        self._entries: dict[bytes, Pending] = {}
        self._per_creator: dict[str, int] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._entries

    def get(self, tx_hash: bytes) -> Transaction | None:
        entry = self._entries.get(tx_hash)
        return None if entry is None else entry.tx

    def expires_ms(self, tx: Transaction) -> int:
        return tx.payload.created_ms + self.expiry_ms

    def put(self, tx: Transaction, size: int) -> None:
        """Keep ``tx`` (new, or a copy with more signatures in its earlier copy's place) and write it to
        the store. Raises PendingFull / PendingAccountLimit for a new one over the bounds."""
        old = self._entries.get(tx.hash)
        if old is not None and old.tx.signatures == tx.signatures:
            return  # a repeat (re-gossip sends each copy again): nothing to change or write
        creator = tx.creator
        if old is None:
            if len(self._entries) >= self.max_txs or self._bytes + size > self.max_bytes:
                raise PendingFull("too many transactions wait for signatures on this node; retry later")
            waiting = self._per_creator.get(creator, 0)
            if waiting >= self.max_per_account:
                raise PendingAccountLimit(f"{creator} already has {waiting} transactions waiting for signatures")
            self._per_creator[creator] = waiting + 1
        elif self._bytes - old.size + size > self.max_bytes:
            raise PendingFull("too many transactions wait for signatures on this node; retry later")
        self._bytes += size - (old.size if old is not None else 0)
        self._entries[tx.hash] = Pending(tx, size, self.expires_ms(tx))
        if self.store is not None:
            self.store.put_rows_durable({keys.pending_tx(tx.hash): tx.encode()})

    def take(self, tx_hash: bytes) -> Transaction | None:
        """Remove and return the waiting copy (it has its signatures, or a block holds it now)."""
        entry = self._entries.pop(tx_hash, None)
        if entry is None:
            return None
        self._bytes -= entry.size
        left = self._per_creator[entry.tx.creator] - 1
        if left:
            self._per_creator[entry.tx.creator] = left
        else:
            del self._per_creator[entry.tx.creator]
        if self.store is not None:
            self.store.delete_rows([keys.pending_tx(tx_hash)])
        return entry.tx

    def settled(self, tx_hashes: list[bytes]) -> None:
        """These are in a block now (a complete copy got there through another node)."""
        for tx_hash in tx_hashes:
            if tx_hash in self._entries:
                self.take(tx_hash)

    def expire(self, now_ms: int) -> list[Transaction]:
        """Drop and return what waited past its expiry."""
        gone = [h for h, entry in self._entries.items() if entry.expires_ms <= now_ms]
        return [tx for tx in (self.take(h) for h in gone) if tx is not None]

    def waiting(self) -> Iterator[Transaction]:
        """Every waiting copy (for re-gossip and queries); a copy of the list, safe from other threads."""
        for entry in list(self._entries.values()):
            yield entry.tx

    def for_signatory(self, public_key: bytes, account: str | None = None) -> list[Transaction]:
        """What waits for ``public_key``'s signature (not yet signed by it), created by ``account`` if given."""
        return [tx for tx in self.waiting()
                if (account is None or tx.creator == account) and all(k != public_key for k, _s in tx.signatures)]

    def stored_rows(self) -> list[bytes]:
        """The encoded copies kept in the store (a restart re-admits them)."""
        if self.store is None:
            return []
        return [data for _key, data in self.store.scan(keys.PENDING)]

    def forget_stored(self, tx_hashes: list[bytes]) -> None:
        if self.store is not None and tx_hashes:
            self.store.delete_rows([keys.pending_tx(h) for h in tx_hashes])


def restore_pending(admission: Admission, now_ms: int) -> int:
    """At start-up: put the stored pending copies back through admission (which keeps them pending,
    completes them, or drops what is settled or expired); returns how many wait again."""
    pool = admission.pending
    if pool is None:
        return 0
    rows = pool.stored_rows()
    waiting = 0
    stale: list[bytes] = []
    from node.intake.admission import SLICE, Source, Verdict  # admission builds on this module

    for start in range(0, len(rows), SLICE):
        chunk = rows[start:start + SLICE]
        for outcome in admission.admit(chunk, now_ms, Source.JOURNAL):
            waiting += outcome.verdict is Verdict.PENDING
            if outcome.verdict in (Verdict.INVALID, Verdict.REPLAY) and outcome.tx_hash is not None:
                stale.append(outcome.tx_hash)
    pool.forget_stored(stale)
    return waiting
