"""Stateless validation: everything that can be checked without the world state.

Run at the API and on gossip, before a transaction is stored anywhere. Signature checks dominate the
node's CPU (~73 us each), so a verified (hash, signatures) pair is remembered and never verified again
on this node, whether it next arrives by gossip, in a proposal or in a synced block.
"""

from __future__ import annotations

from collections import OrderedDict

from consensus.crypto import verify
from node.ledger.errors import StatelessError
from node.ledger.transactions import Transaction

# Acceptance window relative to the reference time (Iroha's: 5 minutes ahead, 24 hours behind).
MAX_FUTURE_MS = 5 * 60 * 1000
MAX_AGE_MS = 24 * 60 * 60 * 1000


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
    """Iroha's window: not more than 5 minutes in the future, not older than 24 hours."""
    if created_ms > reference_ms + MAX_FUTURE_MS:
        raise StatelessError("from_future", "created_ms is more than 5 minutes ahead")
    if created_ms < reference_ms - MAX_AGE_MS:
        raise StatelessError("expired", "created_ms is more than 24 hours old")


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
