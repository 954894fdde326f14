"""A batch's meta: what each member of a batch signs (issue 18, point 1; rules in ``node.ledger.batches``).

Its own module because the transaction formats carry it (``TxPayload.batch`` for native transactions,
the protobuf's ``BatchMeta`` for Iroha ones) and the batch rules build on transactions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from node.ledger.errors import StatelessError

MAX_BATCH = 64
"""The most transactions one batch may bind (a batch is proposed whole, so it must fit in any block)."""


class BatchType(enum.IntEnum):
    ATOMIC = 0  # Iroha's enum values
    ORDERED = 1


@dataclass(frozen=True, slots=True)
class BatchMeta:
    """What each member of a batch signs: the type and every member's reduced hash, in order."""

    type: BatchType
    reduced_hashes: tuple[bytes, ...]

    def check_member(self, reduced_hash: bytes) -> None:
        """Stateless: the meta is well formed and names ``reduced_hash`` (the member's own) exactly once."""
        if not 1 <= len(self.reduced_hashes) <= MAX_BATCH:
            raise StatelessError("bad_batch", f"a batch binds 1 to {MAX_BATCH} transactions")
        if len(set(self.reduced_hashes)) != len(self.reduced_hashes):
            raise StatelessError("bad_batch", "a batch lists a transaction twice")
        if reduced_hash not in self.reduced_hashes:
            raise StatelessError("bad_batch", "the batch meta does not list this transaction")

    def to_array(self) -> list[object]:
        return [int(self.type), list(self.reduced_hashes)]
