"""The fate of every pre-signed transaction during a load run, and the totals the report reads.

Two writers share it on one event loop (no locks needed): the client records what the nodes answered
at submission, the block watcher what the blocks say. Whichever comes first wins the transition out of
"not yet accepted", so a transaction committed before its POST returned is still counted once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Values of ``Tracking.final``, per transaction.
UNSENT_OR_WAITING = 0
"""Not yet accepted by any node (never sent, or waiting for a retry)."""
IN_MEMPOOL = -1
COMMITTED = 1
REJECTED_IN_BLOCK = 2
REFUSED = 3
"""Refused at submission, or still unsent when the duration ended."""


@dataclass
class Tracking:
    """Per-transaction and aggregate state while the run goes on."""

    size: int
    submit_s: list[float] = field(default_factory=list)
    """Wall-clock time of the first POST holding the transaction (0.0: never sent)."""
    commit_ms: list[int] = field(default_factory=list)
    final: list[int] = field(default_factory=list)
    """One of the module's fate constants per transaction."""
    first_sent: int = 0
    accepted: int = 0
    committed: int = 0
    """Valid transfers committed (invalid ones that commit anyway are ``committed_invalid``)."""
    committed_invalid: int = 0
    rejected_in_block: list[int] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)  # STATELESS_VALIDATION_FAILED/<code>
    mempool_full: int = 0
    http_errors: Counter[str] = field(default_factory=Counter)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    blocks_missed: int = 0
    last_height: int = 0
    in_flight: int = 0
    in_flight_max: int = 0
    schedule_lag_max_s: float = 0.0

    def __post_init__(self) -> None:
        self.submit_s = [0.0] * self.size
        self.commit_ms = [0] * self.size
        self.final = [UNSENT_OR_WAITING] * self.size

    @property
    def pending(self) -> int:
        """Accepted by a node, not yet in a block."""
        return self.accepted - self.committed - self.committed_invalid - len(self.rejected_in_block)
