"""Stateless validation: everything that can be checked without the world state.

Run at the API and on gossip, before a transaction is stored anywhere. Signature checks dominate the
node's CPU (~73 us each), so a verified (hash, signatures) pair is remembered and never verified again
on this node, whether it next arrives by gossip, in a proposal or in a synced block.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from consensus.crypto import verify
from node.ledger import errors as e
from node.ledger.errors import StatelessError
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
    """A bounded memory of transactions whose every signature has been checked."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[tuple[bytes, tuple[tuple[bytes, bytes], ...]], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def forget(self, txs: tuple[Transaction, ...] | list[Transaction]) -> None:
        """These are in the chain now: their check is no longer needed (a replay is refused by the tx
        index). Keeps the memory to transactions in flight, not the last ``capacity`` ever checked:
        ~470 bytes an entry once the transaction itself is gone, ~90 MB at the 200,000 bound."""
        seen = self._seen
        for tx in txs:
            seen.pop((tx.hash, tx.signatures), None)

    def check(self, tx: Transaction) -> None:
        """Raise StatelessError unless every signature is valid (cached after the first success)."""
        key = (tx.hash, tx.signatures)
        if key in self._seen:
            return
        if not tx.signatures:
            raise StatelessError("no_signatures", "a transaction needs at least one signature")
        if len(tx.signatures) > 1 and len({pk for pk, _sig in tx.signatures}) != len(tx.signatures):
            raise StatelessError("duplicate_signer", "the same key signed twice")
        digest = tx.signing_digest()
        for public_key, signature in tx.signatures:
            if not verify(public_key, digest, signature):
                raise StatelessError("bad_signature", f"signature by {public_key.hex()[:16]}... does not verify")
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)


def check_time_window(created_ms: int, reference_ms: int) -> None:
    """Raise StatelessError unless ``created_ms`` is inside ``TX_TIME_WINDOW`` around ``reference_ms``."""
    violation = TX_TIME_WINDOW.violation(created_ms, reference_ms, "this node's time")
    if violation is not None:
        raise StatelessError(*violation)


def validate_stateless(tx: Transaction, chain_id: str, now_ms: int, verified: VerifiedSignatures) -> None:
    """All checks a node makes before accepting a transaction into its mempool."""
    if tx.payload.chain_id != chain_id:
        raise StatelessError("wrong_chain", f"transaction is for chain {tx.payload.chain_id!r}, not {chain_id!r}")
    check_time_window(tx.payload.created_ms, now_ms)
    if len(tx.signatures) < tx.payload.quorum:
        raise StatelessError(
            "quorum_not_met", f"{len(tx.signatures)} signatures but the transaction's quorum is {tx.payload.quorum}"
        )
    verified.check(tx)
