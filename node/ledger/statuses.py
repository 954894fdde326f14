"""Transaction statuses, with Iroha 1's names.

A transaction's life: refused at the door (STATELESS_VALIDATION_FAILED) or queued
(STATELESS_VALIDATION_SUCCESS), then in a block either COMMITTED or REJECTED; a hash nobody has seen
is NOT_RECEIVED. The ledger itself only ever writes COMMITTED and REJECTED (into the tx index); the
intake wing reports the statuses before a block.

A ``StrEnum``: a status compares equal to its name and encodes as that plain string, so the tx index
bytes and every JSON answer are what they were when statuses were bare strings.
"""

from __future__ import annotations

import enum
from typing import Final


class TxStatus(enum.StrEnum):
    STATELESS_VALIDATION_FAILED = "STATELESS_VALIDATION_FAILED"
    STATELESS_VALIDATION_SUCCESS = "STATELESS_VALIDATION_SUCCESS"
    COMMITTED = "COMMITTED"
    REJECTED = "REJECTED"
    NOT_RECEIVED = "NOT_RECEIVED"
    MST_PENDING = "MST_PENDING"
    """Valid signatures by the creator's signatories, fewer than its quorum: waiting for more."""
    ENOUGH_SIGNATURES_COLLECTED = "ENOUGH_SIGNATURES_COLLECTED"
    """A pending transaction reached its quorum and went on to the mempool."""
    MST_EXPIRED = "MST_EXPIRED"
    """A pending transaction's signatures did not come in time: dropped."""


FINAL: Final[frozenset[TxStatus]] = frozenset(
    {TxStatus.COMMITTED, TxStatus.REJECTED, TxStatus.STATELESS_VALIDATION_FAILED, TxStatus.MST_EXPIRED}
)
"""Statuses that never change again: a client waiting on a transaction can stop at one of these."""
