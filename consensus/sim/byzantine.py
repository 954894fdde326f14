"""How Byzantine validators rewrite what their (otherwise honest) engine sends.

An equivocating proposer or double voter runs a normal engine and, whenever that engine broadcasts,
sends the honest message to one half of its peers and a conflicting message, signed directly with the
key (no safety record in the way), to the other half: the split-brain attack quorums must survive.
"""

from __future__ import annotations

import random

from consensus.crypto import KeyPair, hash_bytes
from consensus.messages import Proposal, SignedMessage, Vote, sign_proposal, sign_vote
from consensus.sim.scenario import Fault

INVALID_PREFIX = b"invalid:"


def byzantine_sends(fault: Fault, key: KeyPair, chain_id: str, message: SignedMessage, peers: list[int],
                    rng: random.Random) -> list[tuple[int, SignedMessage]]:
    """(peer, message) pairs a faulty validator sends instead of broadcasting ``message``."""
    alternative = _alternative(fault, key, chain_id, message, rng)
    if alternative is None:
        return [(peer, message) for peer in peers]
    shuffled = list(peers)
    rng.shuffle(shuffled)
    half = len(shuffled) // 2
    return [(p, message) for p in shuffled[:half]] + [(p, alternative) for p in shuffled[half:]]


def _alternative(fault: Fault, key: KeyPair, chain_id: str, message: SignedMessage,
                 rng: random.Random) -> SignedMessage | None:
    if fault is Fault.EQUIVOCATING_PROPOSER and isinstance(message, Proposal):
        # Sometimes the second block is one no honest node would accept: validity must hold anyway.
        prefix = INVALID_PREFIX if rng.random() < 0.5 else b"equivocation:"
        value = prefix + message.value + rng.randbytes(4)
        return sign_proposal(key, chain_id, message.height, message.round, value, -1)
    if fault is Fault.DOUBLE_VOTER and isinstance(message, Vote):
        other = hash_bytes(b"phantom" + rng.randbytes(8)) if message.value_id is None else None
        return sign_vote(type(message), key, chain_id, message.height, message.round, other)
    return None


def is_valid_value(value: bytes) -> bool:
    """The simulated application's validity rule: anything not marked invalid."""
    return not value.startswith(INVALID_PREFIX)
