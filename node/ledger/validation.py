"""Stateless validation: everything that can be checked without the world state.

Run at the API and on gossip, before a transaction is stored anywhere. Signature checks dominate the
node's CPU (~73 us each), so a verified (hash, signatures) pair is remembered and never verified again
on this node, whether it next arrives by gossip, in a proposal or in a synced block; a pair that failed
is remembered too (bounded), so a thousand copies of one badly signed transaction cost one check.

``check_signers`` is intake's one stateful pre-check, made against a published state before any
signature is verified: the creator exists, every key that signed is one of its signatories (each
once) and they are at least its quorum. Junk from made-up creators or strangers' keys is refused for
the price of one row look-up, never verified, never queued, never stored in a block.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from consensus.crypto import hash_bytes
from node.ledger import errors as e
from node.ledger.errors import StatelessError
from node.ledger.records import Account
from node.ledger.transactions import Transaction


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far a transaction's ``created_ms`` may stray from a reference time."""

    future_ms: int
    """At most this far ahead of the reference."""
    past_ms: int
    """At most this far behind it."""

    def violation(self, created_ms: int, reference_ms: int, reference: str) -> tuple[str, str] | None:
        """(error code, message) when ``created_ms`` falls outside the window around ``reference_ms``;
        ``reference`` names that time in the message."""
        if created_ms > reference_ms + self.future_ms:
            return e.FROM_FUTURE, f"created more than {_duration(self.future_ms)} after {reference}"
        if created_ms < reference_ms - self.past_ms:
            return e.EXPIRED, f"created more than {_duration(self.past_ms)} before {reference}"
        return None


def _duration(ms: int) -> str:
    minutes = ms // 60_000
    return f"{minutes // 60} hours" if minutes % 60 == 0 else f"{minutes} minutes"


TX_TIME_WINDOW: Final = TimeWindow(future_ms=5 * 60 * 1000, past_ms=24 * 60 * 60 * 1000)
"""Iroha's acceptance window: 5 minutes ahead, 24 hours behind. The node's clock is the reference at
intake, the block's time in execution (so every node decides alike)."""
MAX_FUTURE_MS: Final = TX_TIME_WINDOW.future_ms
MAX_AGE_MS: Final = TX_TIME_WINDOW.past_ms


class VerifiedSignatures:
    """A bounded memory of transactions whose every signature has been checked, and of those that failed.

    A failure is keyed by a digest of (hash, signatures): another signature set for the same payload is
    another key, so a forged copy can never make the genuine one look bad."""

    def __init__(self, capacity: int = 200_000, failure_capacity: int = 16_384) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[tuple[bytes, object], None] = OrderedDict()
        self._failure_capacity = failure_capacity
        self._failed: OrderedDict[bytes, StatelessError] = OrderedDict()  # 32-byte key: ~200 B an entry
        self.verifications = 0
        """Ed25519 verifications made so far (what an attacker can make us spend; tests count it)."""

    def __len__(self) -> int:
        return len(self._seen)

    def forget(self, txs: tuple[Transaction, ...] | list[Transaction]) -> None:
        """These are in the chain now: their check is no longer needed (a replay is refused by the tx
        index). Keeps the memory to transactions in flight, not the last ``capacity`` ever checked:
        ~470 bytes an entry once the transaction itself is gone, ~90 MB at the 200,000 bound."""
        seen = self._seen
        for tx in txs:
            seen.pop((tx.hash, tx.verification_id), None)

    def cost(self, tx: Transaction) -> int:
        """How many verifications ``check`` would make now: 0 when the outcome is remembered."""
        if (tx.hash, tx.verification_id) in self._seen or (self._failed and _failure_key(tx) in self._failed):
            return 0
        return len(tx.signatures)

    def remember(self, tx: Transaction) -> None:
        """``tx``'s signatures are known good (each was verified on another copy of the payload)."""
        self._seen[(tx.hash, tx.verification_id)] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)

    def check(self, tx: Transaction) -> None:
        """Raise StatelessError unless every signature is valid (the outcome is remembered either way)."""
        key = (tx.hash, tx.verification_id)
        if key in self._seen:
            return
        if not tx.signatures:
            raise StatelessError("no_signatures", "a transaction needs at least one signature")
        if len(tx.signatures) > 1 and len({pk for pk, _sig in tx.signatures}) != len(tx.signatures):
            raise StatelessError("duplicate_signer", "the same key signed twice")
        if self._failed:  # (none in normal operation: then a first check costs no digest)
            failed = self._failed.get(_failure_key(tx))
            if failed is not None:
                raise StatelessError(failed.code, failed.message)
        made, bad_key = tx.first_bad_signature()
        self.verifications += made
        if bad_key is not None:
            error = StatelessError("bad_signature", f"signature by {bad_key.hex()[:16]}... does not verify")
            self._failed[_failure_key(tx)] = error
            if len(self._failed) > self._failure_capacity:
                self._failed.popitem(last=False)
            raise error
        self.remember(tx)


def _failure_key(tx: Transaction) -> bytes:
    return hash_bytes(tx.hash + repr(tx.verification_id).encode())


def check_signers(tx: Transaction, account: Account | None, *, quorum: bool = True) -> None:
    """Raise StatelessError unless ``account`` (the creator's, from a published state) exists and ``tx``
    is signed by its signatories only, each once, at least its quorum of them. So a transaction never
    carries more signatures than its creator has signatories, and a stranger's signature added to a
    genuine transaction is refused here instead of sitting in the mempool in the genuine one's place."""
    if account is None:
        raise StatelessError(e.NO_SUCH_ACCOUNT, f"creator {tx.payload.creator} does not exist")
    signatories = account.signatories
    for public_key, _sig in tx.signatures:
        if public_key not in signatories:
            raise StatelessError(e.NOT_A_SIGNATORY,
                                 f"key {public_key.hex()[:16]}... is not a signatory of {tx.payload.creator}")
    if len(tx.signatures) > 1 and len({pk for pk, _sig in tx.signatures}) != len(tx.signatures):
        raise StatelessError("duplicate_signer", "the same key signed twice")
    if quorum and len(tx.signatures) < account.quorum:
        raise StatelessError(e.QUORUM_NOT_MET,
                             f"{len(tx.signatures)} signatures, {tx.payload.creator}'s quorum is {account.quorum}")


def check_time_window(created_ms: int, reference_ms: int) -> None:
    """Raise StatelessError unless ``created_ms`` is inside ``TX_TIME_WINDOW`` around ``reference_ms``."""
    violation = TX_TIME_WINDOW.violation(created_ms, reference_ms, "this node's time")
    if violation is not None:
        raise StatelessError(*violation)


def check_payload(tx: Transaction, chain_id: str, now_ms: int) -> None:
    """The checks of ``tx`` that need neither state nor signature verification: chain, time, quorum."""
    if tx.binds_chain and tx.payload.chain_id != chain_id:
        raise StatelessError("wrong_chain", f"transaction is for chain {tx.payload.chain_id!r}, not {chain_id!r}")
    check_time_window(tx.payload.created_ms, now_ms)
    if len(tx.signatures) < tx.payload.quorum:
        raise StatelessError(
            e.QUORUM_NOT_MET, f"{len(tx.signatures)} signatures but the transaction's quorum is {tx.payload.quorum}"
        )


def validate_stateless(tx: Transaction, chain_id: str, now_ms: int, verified: VerifiedSignatures) -> None:
    """All checks a node makes before accepting a transaction into its mempool, but the stateful
    pre-check (``check_signers``), which intake makes between these two."""
    check_payload(tx, chain_id, now_ms)
    verified.check(tx)
