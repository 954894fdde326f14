"""What an engine keeps per signer, and the bound it must stay under whatever peers send.

``memory_by_signer(engine)`` asks the engine (``Engine.memory_by_signer``) and, for an engine without
that accessor, adds up its round logs (``known_messages()``) and its future-height buffer the same
way: 160 bytes per message plus a proposal's value.

``memory_bound`` is derived from the protocol, not from the engine's own limits, so a flood larger
than what consensus needs is a violation. Per signer, with ``e = n//3 + 1`` (the endorsement
threshold: more voters than there are faulty validators), ``V`` the largest value any message of the
run carried and ``R`` the rounds reached (highest round of any engine, plus one):

- per round and kind, at most ``K = 2 + n // e`` votes: its first vote, nil, and one per value that
  ``e`` distinct validators voted for (at most ``n // e`` such values);
- per round at most ``P = max_proposals_per_round + n // e`` proposals (the first few of an
  equivocating proposer, then only values votes endorse), each at most ``V + O`` bytes;
- the current height and ``max_future_heights`` heights after it, each at most ``R`` rounds deep:

    bound = (1 + max_future_heights) * R * (P * (V + O) + 2 * K * O),    O = 256 bytes per message.

A signer outside the validator set gets a bound of 0: nothing of a non-member is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.engine import Engine
from consensus.messages import Proposal, SignedMessage

MESSAGE_OVERHEAD = 256
"""Bytes allowed per kept message beyond its value (the accounting charges 160)."""


def message_bytes(message: SignedMessage) -> int:
    """The engine's accounting of one kept message: ~160 bytes of fields and object, plus the value."""
    return 160 + len(message.value) if isinstance(message, Proposal) else 160


def memory_by_signer(engine: Engine) -> dict[bytes, int]:
    """Approximate bytes ``engine`` keeps per signer (round logs of the current height + future buffer)."""
    own = getattr(engine, "memory_by_signer", None)
    if callable(own):
        result: dict[bytes, int] = own()
        return result
    usage: dict[bytes, int] = {}
    for message in [*engine.known_messages(), *engine._buffer]:
        usage[message.signer] = usage.get(message.signer, 0) + message_bytes(message)
    return usage


@dataclass(frozen=True)
class MemoryBound:
    """The inputs of ``memory_bound``; see the module docstring."""

    n: int
    """Validators."""
    max_future_heights: int
    """Heights after the current one an engine buffers (EngineLimits)."""
    max_proposals_per_round: int
    """Proposals of one round kept before endorsement (EngineLimits)."""
    rounds: int
    """Rounds reached: highest round of any engine in the run, plus one."""
    max_value_bytes: int
    """Largest value any message of the run carried."""

    @property
    def bytes_per_signer(self) -> int:
        endorse = self.n // 3 + 1
        votes = 2 + self.n // endorse
        proposals = self.max_proposals_per_round + self.n // endorse
        per_round = proposals * (self.max_value_bytes + MESSAGE_OVERHEAD) + 2 * votes * MESSAGE_OVERHEAD
        return (1 + self.max_future_heights) * self.rounds * per_round
