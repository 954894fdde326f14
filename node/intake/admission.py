"""The one admission pipeline: how a transaction's bytes become a mempool entry, whoever brought them.

The API (a client's request), gossip (a peer's batch) and the intake journal (a restart) all call
``Admission.admit`` on a slice of encoded transactions and get one ``Outcome`` per item, in order.
The steps, in this order because each is cheaper than the next:

1. skip bytes the mempool holds or committed lately (gossip's common case: no decode at all);
2. decode (a malformed transaction is refused: STATELESS_VALIDATION_FAILED);
3. look the slice's hashes up in the chain in one ascending pass (a replay is refused, the original
   keeps its final status) and in the mempool (a duplicate answers as accepted, not queued twice);
4. stateless validation: chain id, time window, quorum, signatures (verified once per node);
5. mempool add, under one policy for a full pool: a creator over its share (``AccountLimit``) loses
   that transaction only, the others of the slice still fit; a full pool (``MempoolFull``) refuses
   the rest of the slice without trying, since nothing frees space until a block commits.

What happens next differs by caller and stays with the caller: the API journals what is new and
gossips it, gossip and restore do neither. The pipeline runs on one thread with no await inside a
slice, so a commit's mempool clean-up cannot fall between the chain look-up and the add (which
would leave a committed transaction queued).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from node.intake.mempool import AccountLimit, Mempool, MempoolFull
from node.intake.statuses import NOT_RECEIVED, REJECTED, STATELESS_VALIDATION_FAILED, STATELESS_VALIDATION_SUCCESS
from node.ledger.chain import Ledger
from node.ledger.errors import REPLAY, StatelessError
from node.ledger.transactions import Transaction, decode_transaction
from node.ledger.validation import validate_stateless

POOL_FULL_MESSAGE = "the mempool is full; retry shortly"
SLICE = 64
"""Transactions admitted between two yields to the event loop by asynchronous callers (consensus
must not starve behind a big request or gossip batch)."""


class Source(enum.Enum):
    """Who brought the bytes: decides only which counters move and whether a refusal is remembered."""

    CLIENT = "client"
    PEER = "peer"
    JOURNAL = "journal"


class Verdict(enum.Enum):
    QUEUED = "queued"          # new in the mempool
    ALREADY_QUEUED = "already_queued"
    INVALID = "invalid"        # malformed or statelessly invalid: never enters a block
    REPLAY = "replay"          # already in the chain with a final status
    ACCOUNT_LIMIT = "account_limit"
    POOL_FULL = "pool_full"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    tx_hash: bytes | None = None       # None when the bytes did not decode
    error_code: str | None = None
    message: str | None = None

    @property
    def status(self) -> str:
        """The Iroha status a client is told for this submission."""
        v = self.verdict
        if v in (Verdict.QUEUED, Verdict.ALREADY_QUEUED):
            return STATELESS_VALIDATION_SUCCESS
        if v is Verdict.INVALID:
            return STATELESS_VALIDATION_FAILED
        if v is Verdict.REPLAY:
            return REJECTED
        return NOT_RECEIVED

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"hash": self.tx_hash.hex() if self.tx_hash is not None else None,
                                  "status": self.status}
        if self.error_code is not None:
            out["error_code"] = self.error_code
            out["message"] = self.message
        return out


class IntakeCounters:
    """What admission reports to metrics, as callbacks so the intake wing needs no metrics registry."""

    def __init__(self, received: Callable[[int], None] = lambda n: None,
                 refused: Callable[[str], None] = lambda code: None,
                 bad_from_peer: Callable[[], None] = lambda: None,
                 pool_full: Callable[[], None] = lambda: None) -> None:
        self.received, self.refused, self.bad_from_peer, self.pool_full = received, refused, bad_from_peer, pool_full


class Admission:
    def __init__(self, ledger: Ledger, mempool: Mempool, chain_id: str, counters: IntakeCounters | None = None,
                 remember_failure: Callable[[bytes, dict[str, object]], None] | None = None) -> None:
        self.ledger = ledger
        self.mempool = mempool
        self.chain_id = chain_id
        self.counters = counters or IntakeCounters()
        self.remember_failure = remember_failure  # clients polling by hash learn why (node.intake.statuses)

    def admit(self, items: Sequence[bytes], now_ms: int, source: Source) -> list[Outcome]:
        """One outcome per item, in order. Synchronous: callers slice big inputs (``SLICE``)."""
        counters = self.counters
        mempool = self.mempool
        from_peer = source is Source.PEER
        if source is Source.CLIENT:
            counters.received(len(items))
        decoded: list[Transaction | StatelessError | None] = []
        for data in items:
            if from_peer and mempool.known_bytes(data):
                decoded.append(None)  # queued or committed lately: nothing to do, nothing to report
                continue
            try:
                decoded.append(decode_transaction(data))
            except StatelessError as exc:
                decoded.append(exc)
        in_chain = self.ledger.known_among(d.hash for d in decoded if isinstance(d, Transaction))
        outcomes: list[Outcome] = []
        full = False
        for data, item in zip(items, decoded, strict=True):
            if item is None:
                outcomes.append(Outcome(Verdict.ALREADY_QUEUED))
                continue
            if isinstance(item, StatelessError):
                outcomes.append(self._invalid(None, item, source))
                continue
            tx = item
            if tx.hash in in_chain:
                outcomes.append(self._replay(tx.hash))
                continue
            if tx.hash in mempool:  # a repeat, within the slice or from earlier
                outcomes.append(Outcome(Verdict.ALREADY_QUEUED, tx.hash))
                continue
            if full:
                outcomes.append(Outcome(Verdict.POOL_FULL, tx.hash, MempoolFull.code, POOL_FULL_MESSAGE))
                continue
            try:
                validate_stateless(tx, self.chain_id, now_ms, self.ledger.verified)
            except StatelessError as exc:
                outcomes.append(self._invalid(tx.hash, exc, source))
                continue
            try:
                mempool.add(tx, len(data))
            except AccountLimit as exc:
                counters.pool_full()
                outcomes.append(Outcome(Verdict.ACCOUNT_LIMIT, tx.hash, AccountLimit.code, str(exc)))
                continue
            except MempoolFull:
                counters.pool_full()
                full = True
                outcomes.append(Outcome(Verdict.POOL_FULL, tx.hash, MempoolFull.code, POOL_FULL_MESSAGE))
                continue
            outcomes.append(Outcome(Verdict.QUEUED, tx.hash))
        return outcomes

    def _invalid(self, tx_hash: bytes | None, exc: StatelessError, source: Source) -> Outcome:
        outcome = Outcome(Verdict.INVALID, tx_hash, exc.code, exc.message)
        if source is Source.PEER:
            self.counters.bad_from_peer()  # an honest peer sends only what it accepted itself
        elif source is Source.CLIENT:
            self.counters.refused(exc.code)  # (a journaled one that expired while we were down is not news)
        if tx_hash is not None and source is Source.CLIENT and self.remember_failure is not None:
            self.remember_failure(tx_hash, outcome.as_json())
        return outcome

    def _replay(self, tx_hash: bytes) -> Outcome:
        known = self.ledger.tx_status(tx_hash)
        where = f"{known.result.status} at height {known.height}" if known is not None else "in the chain"
        return Outcome(Verdict.REPLAY, tx_hash, REPLAY, f"transaction was already {where}")
