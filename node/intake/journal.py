"""The intake journal: a transaction a client was told is accepted survives a crash of this node.

The mempool lives in memory. Without the journal, a transaction the API answered
STATELESS_VALIDATION_SUCCESS for, then lost with the process (SIGKILL, power cut, or a restart of
every node before a block took it), would end NOT_RECEIVED everywhere: accepted, then silently gone.
So the API writes what it accepts to LevelDB (one synced batch per request) before it answers, and
a restarting node puts those transactions back into its mempool; re-gossip sends them on.

Rows leave the journal once the node sees the transaction in a block (committed or rejected there:
either way it has a final status), or, at restart, when it is already in the chain or no longer
statelessly valid (e.g. expired). Deletes are unsynced: one lost in a crash is redone at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from node.intake.admission import SLICE, Admission, Source, Verdict
from storage import keys
from storage.db import LedgerStore

log = logging.getLogger("bakong.intake")


class IntakeJournal:
    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._journaled: set[bytes] = set()  # hashes with a row, so commits delete only rows that exist

    def __len__(self) -> int:
        return len(self._journaled)

    def record(self, accepted: list[tuple[bytes, bytes]]) -> None:
        """Durably keep ``(tx hash, tx bytes)`` pairs (any thread; one synced batch)."""
        if not accepted:
            return
        self.store.put_rows_durable({keys.accepted_tx(h): data for h, data in accepted})
        self._journaled.update(h for h, _data in accepted)

    def settled(self, tx_hashes: Iterable[bytes]) -> None:
        """These transactions are in a block now: their rows may go."""
        done = [h for h in tx_hashes if h in self._journaled]
        if done:
            self.store.delete_rows([keys.accepted_tx(h) for h in done])
            self._journaled.difference_update(done)

    def restore(self, admission: Admission, now_ms: int) -> int:
        """At start-up: put journaled transactions back into the mempool through the admission pipeline;
        drop rows that are settled (in the chain) or no longer valid (expired while we were down: the
        client sees NOT_RECEIVED, as for any expiry). Rows the pool has no room for stay journaled."""
        drop: list[bytes] = []
        restored = waiting = 0
        rows = list(self.store.scan(keys.ACCEPTED))
        for start in range(0, len(rows), SLICE):
            chunk = rows[start:start + SLICE]
            outcomes = admission.admit([data for _key, data in chunk], now_ms, Source.JOURNAL)
            for (key, _data), outcome in zip(chunk, outcomes, strict=True):
                tx_hash = key[len(keys.ACCEPTED):]
                if outcome.tx_hash != tx_hash or outcome.verdict in (Verdict.INVALID, Verdict.REPLAY):
                    drop.append(key)
                    continue
                self._journaled.add(tx_hash)
                restored += outcome.verdict is Verdict.QUEUED
                waiting += outcome.verdict in (Verdict.POOL_FULL, Verdict.ACCOUNT_LIMIT)
        if waiting:
            log.warning("mempool full while restoring accepted transactions; %d stay journaled", waiting)
        if drop:
            self.store.delete_rows(drop)
        if restored or drop:
            log.info("intake journal: %d accepted transactions back in the mempool, %d settled rows dropped",
                     restored, len(drop))
        return restored
