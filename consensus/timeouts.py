"""Timeout durations: ``base + delta * round`` per step, so after GST some round is long enough.

The paper (section 4, "timeoutX(r) = initTimeoutX + r * timeoutDelta") only needs them to grow
without bound with the round; a linear growth keeps the worst case after a long partition modest.
Durations are seconds in the caller's clock; the engine only adds them to the ``now`` it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.messages import Step


@dataclass(frozen=True)
class TimeoutConfig:
    """Base and per-round increment of each step's timeout, in seconds."""

    propose_base: float = 3.0
    """Wait for the proposal of round 0."""
    propose_delta: float = 0.5
    """Added to the propose timeout per round."""
    prevote_base: float = 1.0
    """Wait after 2f+1 prevotes of any value before precommitting nil."""
    prevote_delta: float = 0.5
    """Added to the prevote timeout per round."""
    precommit_base: float = 1.0
    """Wait after 2f+1 precommits of any value before moving to the next round."""
    precommit_delta: float = 0.5
    """Added to the precommit timeout per round."""

    def __post_init__(self) -> None:
        if min(self.propose_base, self.prevote_base, self.precommit_base) <= 0:
            raise ValueError("timeouts must be positive")
        if min(self.propose_delta, self.prevote_delta, self.precommit_delta) < 0:
            raise ValueError("timeouts must not shrink with the round")

    def duration(self, step: Step, round_: int) -> float:
        if step is Step.PROPOSE:
            return self.propose_base + self.propose_delta * round_
        if step is Step.PREVOTE:
            return self.prevote_base + self.prevote_delta * round_
        return self.precommit_base + self.precommit_delta * round_
