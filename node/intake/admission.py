"""The one admission pipeline: how a transaction's bytes become a mempool entry, whoever brought them.

The API (a client's request), gossip (a peer's batch) and the intake journal (a restart) all call
``Admission.admit`` on a slice of encoded transactions and get one ``Outcome`` per item, in order.
The steps, in this order because each is cheaper than the next:

1. skip bytes the mempool holds or committed lately (gossip's common case: no decode at all), and
   bytes repeated within the call (they get the first copy's outcome);
2. decode (a malformed transaction is refused: STATELESS_VALIDATION_FAILED);
3. look the slice's hashes up in the chain in one ascending pass (a replay is answered with the
   original's recorded status, read-only: a resend never changes it, whatever its signatures) and in
   the mempool (a duplicate answers as accepted, not queued twice);
4. payload checks: chain id, time window, the quorum the payload declares;
5. the stateful pre-check against the *published* state (``check_signers``): the creator exists and
   every key that signed is one of its signatories, at least its quorum. Junk from made-up creators
   or strangers' keys stops here, before any signature is verified or any creator's share is taken;
6. signatures, verified once per node (a failure is remembered too), charged to a per-request
   ``VerificationBudget``: what is over it is refused as ``OVER_BUDGET`` (retry later), not verified;
7. mempool add, under one policy for a full pool: a creator over its share (``AccountLimit``) loses
   that transaction only, the others of the slice still fit; a full pool (``MempoolFull``) refuses
   the rest of the slice without trying, since nothing frees space until a block commits.

The hash covers the payload, not the signatures, so a copy of a queued transaction may arrive with
another signature set. It goes through steps 4-6 like any other, and if valid its signatures are
merged into the queued copy (never first-wins): a third party who sees Alice's transaction cannot
put a copy of it in the pool that would fail where hers would commit.

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
from node.intake.pending import PendingAccountLimit, PendingFull, PendingPool
from node.intake.statuses import (
    NOT_RECEIVED,
    STATELESS_VALIDATION_FAILED,
    STATELESS_VALIDATION_SUCCESS,
    TxStatus,
    status_json,
)
from node.ledger.chain import Ledger, PublishedChain, TxStatusRecord
from node.ledger.errors import NOT_A_SIGNATORY, QUORUM_NOT_MET, StatelessError
from node.ledger.records import Account, get_account
from node.ledger.transactions import MAX_SIGNATURES, MAX_TX_BYTES, Transaction, decode_transaction
from node.ledger.validation import check_payload, check_signers

POOL_FULL_MESSAGE = "the mempool is full; retry shortly"
MAX_CACHED_CREATORS = 100_000
SLICE = 64
"""Transactions admitted between two yields to the event loop by asynchronous callers (consensus
must not starve behind a big request or gossip batch)."""
OVER_BUDGET_CODE = "verification_budget"
SIGNATURE_CODES = frozenset({"no_signatures", "duplicate_signer", "bad_signature", "quorum_not_met", NOT_A_SIGNATORY})
"""Refusals of a copy's signature set, not of its payload (the hash): not remembered by hash."""


class VerificationBudget:
    """The signature verifications one request (or one ``admit`` call) may make on this node's event
    loop: ``BASE`` plus ``PER_ITEM`` per transaction. An honest request (one to a few signatures per
    transaction) never reaches it; a request of copies signed by many keys, each with one bad
    signature, is cut off after about ``PER_ITEM`` x 73 us per item instead of 128 x 73 us."""

    BASE = 256
    PER_ITEM = 4

    def __init__(self, verifications: int) -> None:
        self.left = verifications

    @classmethod
    def for_items(cls, count: int) -> VerificationBudget:
        return cls(cls.BASE + cls.PER_ITEM * count)

    def spend(self, verifications: int) -> bool:
        """Take ``verifications`` from what is left; False (nothing taken) when they do not fit."""
        if verifications > self.left:
            return False
        self.left -= verifications
        return True


class Source(enum.Enum):
    """Who brought the bytes: decides only which counters move and whether a refusal is remembered."""

    CLIENT = "client"
    PEER = "peer"
    JOURNAL = "journal"


class Verdict(enum.Enum):
    QUEUED = "queued"          # new in the mempool
    ALREADY_QUEUED = "already_queued"
    INVALID = "invalid"        # malformed or statelessly invalid: never enters a block
    REPLAY = "replay"          # already in the chain with a final status: answered with that status
    ACCOUNT_LIMIT = "account_limit"
    POOL_FULL = "pool_full"
    OVER_BUDGET = "over_budget"  # the request spent its signature verifications: retry later
    PENDING = "pending"        # valid, signed by signatories, below quorum: waits for more (node.intake.pending)
    COLLECTED = "collected"    # this copy's signatures completed a pending transaction: now in the mempool


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    tx_hash: bytes | None = None       # None when the bytes did not decode
    error_code: str | None = None
    message: str | None = None
    record: TxStatusRecord | None = None
    """A replay's recorded status, from the published chain (None: written, not published yet)."""

    @property
    def status(self) -> str:
        """The Iroha status a client is told for this submission."""
        v = self.verdict
        if v in (Verdict.QUEUED, Verdict.ALREADY_QUEUED):
            return STATELESS_VALIDATION_SUCCESS
        if v is Verdict.PENDING:
            return TxStatus.MST_PENDING
        if v is Verdict.COLLECTED:
            return TxStatus.ENOUGH_SIGNATURES_COLLECTED
        if v is Verdict.INVALID:
            return STATELESS_VALIDATION_FAILED
        if v is Verdict.REPLAY:
            # Idempotent resubmission (issue 16): a client retrying a payment learns how it ended, never
            # "failed" for a paid one. Before the head names its block it answers as it did while queued.
            return self.record.result.status if self.record is not None else STATELESS_VALIDATION_SUCCESS
        return NOT_RECEIVED

    def as_json(self) -> dict[str, object]:
        if self.verdict is Verdict.REPLAY and self.tx_hash is not None and self.record is not None:
            r = self.record
            return status_json(self.tx_hash, r.result.status, r.height, r.index, r.result)
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
                 remember_failure: Callable[[bytes, dict[str, object]], None] | None = None,
                 pending: PendingPool | None = None) -> None:
        self.ledger = ledger
        self.mempool = mempool
        self.pending = pending
        """Where a transaction below its quorum waits for signatures; None: refused (quorum_not_met)."""
        self.chain_id = chain_id
        self.counters = counters or IntakeCounters()
        self.remember_failure = remember_failure  # clients polling by hash learn why (node.intake.statuses)
        # Creators' accounts as the published state holds them, for one published head at a time: under
        # load each account is looked up once per block instead of once per transaction per node (a
        # LevelDB snapshot read and a decode each: 5% of a loaded node's CPU when it was per transaction).
        self._creators: dict[str, Account | None] = {}
        self._creators_head: bytes | None = None

    def admit(self, items: Sequence[bytes], now_ms: int, source: Source,
              budget: VerificationBudget | None = None) -> list[Outcome]:
        """One outcome per item, in order. Synchronous: callers slice big inputs (``SLICE``) and pass
        one ``budget`` for all the slices of a request (None: a budget for this call alone)."""
        counters = self.counters
        mempool = self.mempool
        from_peer = source is Source.PEER
        if budget is None:
            budget = VerificationBudget.for_items(len(items))
        if source is Source.CLIENT:
            counters.received(len(items))
        decoded: list[Transaction | StatelessError | None] = []
        first_of: dict[bytes, int] = {}  # bytes -> index of their first copy in this call
        repeats: dict[int, int] = {}
        for index, data in enumerate(items):
            first = first_of.setdefault(data, index)
            if first != index:
                repeats[index] = first
                decoded.append(None)
                continue
            if from_peer and mempool.known_bytes(data):
                decoded.append(None)  # queued or committed lately: nothing to do, nothing to report
                continue
            try:
                decoded.append(decode_transaction(data))
            except StatelessError as exc:
                decoded.append(exc)
        in_chain = self.ledger.known_among(d.hash for d in decoded if isinstance(d, Transaction))
        published = self.ledger.published()
        creators = self._creators_for(published)
        outcomes: list[Outcome] = []
        full = False
        for index, (data, item) in enumerate(zip(items, decoded, strict=True)):
            repeat_of = repeats.get(index)
            if repeat_of is not None:
                earlier = outcomes[repeat_of]
                outcomes.append(Outcome(Verdict.ALREADY_QUEUED, earlier.tx_hash)
                                if earlier.verdict is Verdict.QUEUED else earlier)
                continue
            if item is None:
                outcomes.append(Outcome(Verdict.ALREADY_QUEUED))
                continue
            if isinstance(item, StatelessError):
                outcomes.append(self._invalid(None, item, source))
                continue
            tx = item
            if tx.hash in in_chain:
                outcomes.append(Outcome(Verdict.REPLAY, tx.hash, record=published.tx_status(tx.hash)))
                continue
            queued = mempool.get(tx.hash)
            if queued is not None:  # a repeat, within the slice or from earlier, maybe signed otherwise
                outcomes.append(self._another_copy(queued, tx, now_ms, source, published, creators, budget))
                continue
            if full:
                outcomes.append(Outcome(Verdict.POOL_FULL, tx.hash, MempoolFull.code, POOL_FULL_MESSAGE))
                continue
            waiting = self.pending.get(tx.hash) if self.pending is not None else None
            refused, short = self._check(tx, now_ms, source, published, creators, budget)
            if refused is not None:
                outcomes.append(refused)
                continue
            if waiting is not None or short:
                tx = tx if waiting is None else waiting.merged_with(tx)
                if self._short_of_quorum(tx, now_ms, creators):
                    outcomes.append(self._keep_pending(tx))
                    continue
                data = tx.encode()  # complete: the merged copy goes on, as a new transaction would
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
            if self.pending is not None and tx.hash in self.pending:
                self.pending.take(tx.hash)
                self.ledger.verified.remember(tx)  # each signature was verified on the copy that brought it
                outcomes.append(Outcome(Verdict.COLLECTED, tx.hash))
                continue
            outcomes.append(Outcome(Verdict.QUEUED, tx.hash))
        return outcomes

    def _short_of_quorum(self, tx: Transaction, now_ms: int, creators: dict[str, Account | None]) -> bool:
        try:
            check_payload(tx, self.chain_id, now_ms)
            check_signers(tx, creators[tx.payload.creator])
        except StatelessError:
            return True  # (only the quorum can fail here: every other check passed on each copy)
        return False

    def _keep_pending(self, tx: Transaction) -> Outcome:
        assert self.pending is not None
        size = len(tx.encode())
        if len(tx.signatures) > MAX_SIGNATURES or size > MAX_TX_BYTES:
            return Outcome(Verdict.INVALID, tx.hash, "tx_too_large", "the merged signatures make it too large")
        try:
            self.pending.put(tx, size)
        except PendingAccountLimit as exc:
            return Outcome(Verdict.ACCOUNT_LIMIT, tx.hash, PendingAccountLimit.code, str(exc))
        except PendingFull as exc:
            return Outcome(Verdict.POOL_FULL, tx.hash, PendingFull.code, str(exc))
        return Outcome(Verdict.PENDING, tx.hash)

    def _creators_for(self, published: PublishedChain) -> dict[str, Account | None]:
        """The account cache for ``published``'s head (emptied when the head moves, bounded in size)."""
        head = published.head.block_hash
        if head != self._creators_head or len(self._creators) > MAX_CACHED_CREATORS:
            self._creators = {}
            self._creators_head = head
        return self._creators

    def _check(self, tx: Transaction, now_ms: int, source: Source, published: PublishedChain,
               creators: dict[str, Account | None], budget: VerificationBudget) -> tuple[Outcome | None, bool]:
        """Steps 4-6 for one decoded transaction: (the refusal or None, whether it is short of its quorum).

        Short of its quorum and otherwise valid (each signature verifies and is by a signatory of the
        creator) is not a refusal when there is a pending pool: the transaction waits there (MST)."""
        creator = tx.payload.creator
        if creator not in creators:
            creators[creator] = get_account(published.world, creator)
        verified = self.ledger.verified
        short = False
        try:
            try:  # both raise quorum_not_met only after their other checks passed
                check_payload(tx, self.chain_id, now_ms)
                check_signers(tx, creators[creator])
            except StatelessError as exc:
                if exc.code != QUORUM_NOT_MET or self.pending is None or not tx.signatures:
                    raise
                short = True
                check_signers(tx, creators[creator], quorum=False)  # the creator and signer checks, if skipped
            if not budget.spend(verified.cost(tx)):
                if source is Source.CLIENT:
                    self.counters.refused(OVER_BUDGET_CODE)
                return Outcome(Verdict.OVER_BUDGET, tx.hash, OVER_BUDGET_CODE,
                               "this request spent its signature verifications; retry the rest shortly"), False
            verified.check(tx)
        except StatelessError as exc:
            return self._invalid(tx.hash, exc, source), False
        return None, short

    def _another_copy(self, queued: Transaction, tx: Transaction, now_ms: int, source: Source,
                      published: PublishedChain, creators: dict[str, Account | None],
                      budget: VerificationBudget) -> Outcome:
        """A copy of a queued transaction: its valid signatures join the queued copy's (never first-wins;
        never at the price of the queued copy, which stays as it was when this copy is refused)."""
        have = {public_key for public_key, _sig in queued.signatures}
        extra = tuple(pair for pair in tx.signatures if pair[0] not in have)
        if not extra:  # the same signers (the usual case: a client's resend): nothing to verify
            return Outcome(Verdict.ALREADY_QUEUED, tx.hash)
        refused, _short = self._check(tx, now_ms, source, published, creators, budget)
        if refused is not None:
            return refused
        merged = queued.merged_with(tx)  # keeps the format (an Iroha copy keeps its signatures' kinds)
        size = len(merged.encode())
        if len(merged.signatures) <= MAX_SIGNATURES and size <= MAX_TX_BYTES and self.mempool.replace(merged, size):
            self.ledger.verified.remember(merged)  # every signature of it was verified, on one copy or the other
        return Outcome(Verdict.ALREADY_QUEUED, tx.hash)

    def _invalid(self, tx_hash: bytes | None, exc: StatelessError, source: Source) -> Outcome:
        outcome = Outcome(Verdict.INVALID, tx_hash, exc.code, exc.message)
        if source is Source.PEER:
            self.counters.bad_from_peer()  # an honest peer sends only what it accepted itself
        elif source is Source.CLIENT:
            self.counters.refused(exc.code)  # (a journaled one that expired while we were down is not news)
        # A refusal for this copy's signatures says nothing about the hash: another copy may be valid,
        # and a stranger's forged copy must not make the hash answer "failed" to its owner's polling.
        if (tx_hash is not None and source is Source.CLIENT and self.remember_failure is not None
                and exc.code not in SIGNATURE_CODES):
            self.remember_failure(tx_hash, outcome.as_json())
        return outcome
