"""The message log of one round: proposals and votes, tallied as they arrive.

Only messages whose signature and sender were already checked are added. Messages are identified by
content, never by signature bytes: a validator that re-signs an identical vote (Ed25519 with a fresh
nonce gives other, equally valid bytes) has voted once.

Counting votes honestly with bounded memory. An equivocating validator may sign any number of
different votes for one (round, kind) and show each to different nodes. Keeping only its first two
(the earlier rule) let honest nodes count different polkas: one locked on a polka the others could
never count, and the height stalled. Here every validator's *first* vote is kept, and a further,
conflicting vote is kept exactly when its value is **endorsed**: nil, or a value that at least
``endorse_threshold`` (n//3 + 1, more than the faulty validators) distinct validators have voted for.

- Liveness: a value that reaches a quorum anywhere has at least ``quorum - f >= n//3 + 1`` correct
  voters, whose single votes reach every correct node, so every correct node endorses it and then
  keeps every vote for it that gossip brings (a vote dropped before the endorsement comes back with
  re-gossip). So correct nodes converge on the same count for every value that can matter.
- Memory: a value becomes endorsed only through first votes (further votes are kept for endorsed
  values only), and each validator has one first vote, so at most ``n // endorse_threshold`` non-nil
  values are endorsed per round and kind: per validator at most ``2 + n // endorse_threshold`` votes.
- Safety is untouched: two quorums for different values still share a correct validator, who votes
  once.
Proposals follow the same idea: the first ``max_proposals`` of the round's proposer are kept, and
further ones when their value is endorsed by this round's prevotes or precommits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from consensus.messages import Precommit, Prevote, Proposal, Vote

VoteT = TypeVar("VoteT", Prevote, Precommit)


class Added(Enum):
    """Outcome of adding a message to a round log."""

    NEW = "new"
    """The signer's first message of this kind in this round."""
    DUPLICATE = "duplicate"
    """The same content is already in the log."""
    CONFLICT = "conflict"
    """A different message for a slot the signer already used, for an endorsed value: kept, counted,
    and evidence."""
    UNENDORSED = "unendorsed"
    """A conflicting message for a value not endorsed (yet): evidence, but not kept."""


@dataclass
class Tally(Generic[VoteT]):
    """The votes of one kind in one round."""

    endorse_threshold: int
    """Distinct voters that make a value worth counting conflicting votes for (n//3 + 1)."""
    first: dict[bytes, VoteT] = field(default_factory=dict)
    """Each validator's first vote."""
    further: dict[bytes, dict[bytes | None, VoteT]] = field(default_factory=dict)
    """Each validator's further votes, for endorsed values only, by value id."""
    voters: dict[bytes | None, set[bytes]] = field(default_factory=dict)
    """Validators that voted for each value id (None: nil)."""

    def endorsed(self, value_id: bytes | None) -> bool:
        return value_id is None or self.count(value_id) >= self.endorse_threshold

    def holds(self, vote: VoteT) -> bool:
        """True when this exact vote (by content) is already kept."""
        first = self.first.get(vote.validator)
        if first is None:
            return False
        return first == vote or self.further.get(vote.validator, {}).get(vote.value_id) == vote

    def would_keep(self, vote: VoteT) -> bool:
        """Whether ``add`` would keep ``vote`` (cheap; lets the engine skip verifying useless signatures)."""
        return not self.holds(vote) and (vote.validator not in self.first or self.endorsed(vote.value_id))

    def add(self, vote: VoteT) -> tuple[Added, VoteT | None]:
        """Add a vote; on a conflict also return the signer's first vote (the evidence partner)."""
        first = self.first.get(vote.validator)
        if first is None:
            self.first[vote.validator] = vote
            self.voters.setdefault(vote.value_id, set()).add(vote.validator)
            return Added.NEW, None
        if self.holds(vote):
            return Added.DUPLICATE, None
        if not self.endorsed(vote.value_id):
            return Added.UNENDORSED, first
        self.further.setdefault(vote.validator, {})[vote.value_id] = vote
        self.voters.setdefault(vote.value_id, set()).add(vote.validator)
        return Added.CONFLICT, first

    def count(self, value_id: bytes | None) -> int:
        voters = self.voters.get(value_id)
        return 0 if voters is None else len(voters)

    def total(self) -> int:
        """Distinct validators that voted anything (the paper's ``2f+1 <VOTE, h, r, *>``)."""
        return len(self.first)

    def votes_for(self, value_id: bytes | None) -> list[VoteT]:
        """One vote per validator that voted for ``value_id``."""
        out = [v for v in self.first.values() if v.value_id == value_id]
        out.extend(votes[value_id] for votes in self.further.values() if value_id in votes)
        return out

    def messages(self) -> list[VoteT]:
        out = list(self.first.values())
        for votes in self.further.values():
            out.extend(votes.values())
        return out


@dataclass
class RoundLog:
    """Everything received for one (height, round)."""

    max_proposals: int
    """Proposals kept beyond the first ones only when their value is endorsed."""
    endorse_threshold: int
    """n//3 + 1: see the module docstring."""
    proposals: dict[bytes, Proposal] = field(default_factory=dict)
    """Proposals from this round's proposer by value id, in arrival order."""
    prevotes: Tally[Prevote] = field(init=False)
    """Prevotes of this round."""
    precommits: Tally[Precommit] = field(init=False)
    """Precommits of this round."""
    senders: set[bytes] = field(default_factory=set)
    """Validators with any message in this round (the paper's round-skip rule counts them)."""

    def __post_init__(self) -> None:
        self.prevotes = Tally(self.endorse_threshold)
        self.precommits = Tally(self.endorse_threshold)

    def proposal_endorsed(self, value_id: bytes) -> bool:
        return self.prevotes.endorsed(value_id) or self.precommits.endorsed(value_id)

    def would_keep(self, message: Proposal | Vote) -> bool:
        """Whether adding ``message`` would change the log."""
        if isinstance(message, Proposal):
            if message.value_id in self.proposals:
                return False  # the same, or the same value with another valid round: never kept twice
            return len(self.proposals) < self.max_proposals or self.proposal_endorsed(message.value_id)
        if isinstance(message, Prevote):
            return self.prevotes.would_keep(message)
        if isinstance(message, Precommit):
            return self.precommits.would_keep(message)
        raise TypeError(f"not a consensus message: {message!r}")

    def add_proposal(self, proposal: Proposal) -> tuple[Added, Proposal | None]:
        """Add a proposal; on a conflict also return the first proposal (the evidence partner)."""
        existing = self.proposals.get(proposal.value_id)
        if existing is not None:
            # Same value with another valid_round is still two signatures for one slot.
            return (Added.DUPLICATE, None) if existing == proposal else (Added.UNENDORSED, existing)
        first = next(iter(self.proposals.values()), None)
        if (first is not None and len(self.proposals) >= self.max_proposals
                and not self.proposal_endorsed(proposal.value_id)):
            return Added.UNENDORSED, first
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

    def drop_proposal(self, value_id: bytes) -> Proposal | None:
        """Forget a proposal (memory budget); its signer stays counted as a sender."""
        return self.proposals.pop(value_id, None)

    def precommits_for(self, value_id: bytes) -> list[Precommit]:
        return self.precommits.votes_for(value_id)

    def messages(self) -> list[Proposal | Prevote | Precommit]:
        return [*self.proposals.values(), *self.prevotes.messages(), *self.precommits.messages()]
