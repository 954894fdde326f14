"""The message log of one round: proposals and votes, tallied as they arrive.

Only messages whose signature and sender were already checked are added. A validator has one vote per
(round, kind): the first one counts, a different second one is returned as a conflict (evidence) and
not counted, an identical one is a duplicate. Counts are kept incrementally so every rule of the
engine is a dictionary lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from consensus.messages import Precommit, Prevote, Proposal, Vote


class Added(Enum):
    """Outcome of adding a message to a round log."""

    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    FULL = "full"


@dataclass
class RoundLog:
    """Everything received for one (height, round)."""

    max_proposals: int
    """Distinct proposals kept (an equivocating proposer could otherwise send unboundedly many)."""
    proposals: dict[bytes, Proposal] = field(default_factory=dict)
    """Proposals from this round's proposer by value id, in arrival order."""
    prevotes: dict[bytes, Prevote] = field(default_factory=dict)
    """First prevote of each validator."""
    precommits: dict[bytes, Precommit] = field(default_factory=dict)
    """First precommit of each validator."""
    prevote_count: dict[bytes | None, int] = field(default_factory=dict)
    """Prevotes per value id (None: nil)."""
    precommit_count: dict[bytes | None, int] = field(default_factory=dict)
    """Precommits per value id (None: nil)."""
    senders: set[bytes] = field(default_factory=set)
    """Validators with any message in this round (the paper's round-skip rule counts them)."""

    def add_proposal(self, proposal: Proposal) -> tuple[Added, Proposal | None]:
        """Add a proposal; on a conflict also return the first proposal (the evidence partner)."""
        existing = self.proposals.get(proposal.value_id)
        if existing is not None:
            # Same value with another valid_round is still two signatures for one slot.
            return (Added.DUPLICATE, None) if existing == proposal else (Added.CONFLICT, existing)
        first = next(iter(self.proposals.values()), None)
        if first is not None and len(self.proposals) >= self.max_proposals:
            return Added.FULL, first
        self.proposals[proposal.value_id] = proposal
        self.senders.add(proposal.proposer)
        return (Added.NEW, None) if first is None else (Added.CONFLICT, first)

    def add_vote(self, vote: Vote) -> tuple[Added, Vote | None]:
        """Add a prevote or precommit; on a conflict return the vote that counts instead."""
        if isinstance(vote, Prevote):
            votes: dict[bytes, Prevote] | dict[bytes, Precommit] = self.prevotes
            counts = self.prevote_count
        else:
            votes = self.precommits
            counts = self.precommit_count
        existing = votes.get(vote.validator)
        if existing is not None:
            return (Added.DUPLICATE, None) if existing == vote else (Added.CONFLICT, existing)
        votes[vote.validator] = vote  # type: ignore[assignment]
        counts[vote.value_id] = counts.get(vote.value_id, 0) + 1
        self.senders.add(vote.validator)
        return Added.NEW, None

    def prevotes_total(self) -> int:
        return len(self.prevotes)

    def precommits_total(self) -> int:
        return len(self.precommits)

    def precommits_for(self, value_id: bytes) -> list[Precommit]:
        return [v for v in self.precommits.values() if v.value_id == value_id]
