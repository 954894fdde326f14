"""The message log of one round: proposals and votes, tallied as they arrive.

Only messages whose signature and sender were already checked are added. Votes are counted per value
by distinct validators, the way the paper counts messages: an equivocating validator's second vote is
counted for *its* value too (and reported as evidence). Two quorums for different values still share
a correct validator, so this is as safe as counting only the first vote, and it keeps the protocol
live: a correct node that locked on a polka of 2f+1 prevotes can be sure every correct node counts the
same polka once gossip has delivered the same messages, whatever order they arrived in. At most
``MAX_VOTES_PER_SLOT`` different votes per validator, round and kind are kept, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Generic, TypeVar

from consensus.messages import Precommit, Prevote, Proposal, Vote

MAX_VOTES_PER_SLOT: Final = 2

VoteT = TypeVar("VoteT", Prevote, Precommit)


class Added(Enum):
    """Outcome of adding a message to a round log."""

    NEW = "new"
    """The signer's first message of this kind in this round."""
    DUPLICATE = "duplicate"
    """Already in the log."""
    CONFLICT = "conflict"
    """A different message for a slot the signer already used: kept and counted, and evidence."""
    FULL = "full"
    """A conflict beyond the cap: not kept."""


@dataclass
class Tally(Generic[VoteT]):
    """The votes of one kind in one round."""

    by_validator: dict[bytes, list[VoteT]] = field(default_factory=dict)
    """Each validator's distinct votes, first one first."""
    voters: dict[bytes | None, set[bytes]] = field(default_factory=dict)
    """Validators that voted for each value id (None: nil)."""

    def add(self, vote: VoteT) -> tuple[Added, VoteT | None]:
        votes = self.by_validator.setdefault(vote.validator, [])
        if vote in votes:
            return Added.DUPLICATE, None
        first = votes[0] if votes else None
        if len(votes) >= MAX_VOTES_PER_SLOT:
            return Added.FULL, first
        votes.append(vote)
        self.voters.setdefault(vote.value_id, set()).add(vote.validator)
        return (Added.NEW, None) if first is None else (Added.CONFLICT, first)

    def count(self, value_id: bytes | None) -> int:
        voters = self.voters.get(value_id)
        return 0 if voters is None else len(voters)

    def total(self) -> int:
        """Distinct validators that voted anything (the paper's ``2f+1 <VOTE, h, r, *>``)."""
        return len(self.by_validator)

    def votes_for(self, value_id: bytes | None) -> list[VoteT]:
        return [v for votes in self.by_validator.values() for v in votes if v.value_id == value_id]

    def messages(self) -> list[VoteT]:
        return [v for votes in self.by_validator.values() for v in votes]


@dataclass
class RoundLog:
    """Everything received for one (height, round)."""

    max_proposals: int
    """Distinct proposals kept (an equivocating proposer could otherwise send unboundedly many)."""
    proposals: dict[bytes, Proposal] = field(default_factory=dict)
    """Proposals from this round's proposer by value id, in arrival order."""
    prevotes: Tally[Prevote] = field(default_factory=Tally)
    """Prevotes of this round."""
    precommits: Tally[Precommit] = field(default_factory=Tally)
    """Precommits of this round."""
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
        """Add a prevote or precommit; on a conflict also return the signer's first vote."""
        added: Added
        first: Vote | None
        if isinstance(vote, Prevote):
            added, first = self.prevotes.add(vote)
        elif isinstance(vote, Precommit):
            added, first = self.precommits.add(vote)
        else:
            raise TypeError(f"not a prevote or precommit: {vote!r}")
        if added is Added.NEW:
            self.senders.add(vote.validator)
        return added, first

    def precommits_for(self, value_id: bytes) -> list[Precommit]:
        return self.precommits.votes_for(value_id)

    def messages(self) -> list[Proposal | Prevote | Precommit]:
        return [*self.proposals.values(), *self.prevotes.messages(), *self.precommits.messages()]
