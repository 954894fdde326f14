"""How Byzantine validators misbehave: the simulator's repertoire of attacks (``Fault``).

A faulty validator (except ``SILENT``) runs a normal engine and an ``Adversary`` that rewrites or adds
to what that engine sends. Messages it forges are signed directly with its key, never through the
engine, so no safety record stands in the way. The attacks (see ``Fault`` for one line each):

- equivocation: two proposals (``EQUIVOCATING_PROPOSER``) or two votes (``DOUBLE_VOTER``) per slot,
  each to half of the peers; ``MULTI_VOTER`` signs one distinct vote per peer (n - 1 >= 3 per slot),
  values taken from the round's real proposals, nil and phantoms;
- ``RESIGNER``: the same vote or proposal with a fresh Ed25519 nonce per peer (equal content, other
  bytes: ``sign_with_fresh_nonce``);
- ``AMNESIAC``: forgets its lock as soon as it takes it, so it prevotes against it in later rounds;
- ``FLOODER``: at every height, hundreds of large proposals and votes for the next heights, signed by
  itself, by a non-member key and with bad signatures, exact and re-signed duplicates included;
- ``BAD_PROPOSER``: proposes oversized or malformed values (see ``is_valid_value``) and votes for them;
- ``WITHHOLDER``: sends its votes to a fixed subset of peers only and its proposals to another;
- ``LYING_SYNC``: answers every peer's message with a block-sync "decision" for a value nobody
  proposed, under a certificate that must not verify (too few signers, forged or duplicated
  signatures, outsiders, or a real certificate for another value);
- ``TWIN`` needs no adversary: the simulator runs two honest engines with one key.

All randomness comes from the ``random.Random`` each adversary is given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import TypeVar

import nacl.bindings as sodium

from consensus.certificate import CommitCertificate
from consensus.crypto import SIGNATURE_BYTES, KeyPair, hash_bytes
from consensus.engine import Engine
from consensus.messages import (
    Precommit,
    Prevote,
    Proposal,
    SignedMessage,
    Vote,
    sign_precommit,
    sign_prevote,
    sign_proposal,
    sign_vote,
)
from consensus.sim.scenario import Fault
from consensus.validators import ValidatorSet

INVALID_PREFIX = b"invalid:"
"""Marks a value the simulated application rejects (an equivocating proposer's second block)."""
MALFORMED_PREFIX = b"malformed:"
"""Marks a value the simulated application cannot parse."""
MAX_VALUE_BYTES = 16 * 1024
"""The simulated application's block size limit: larger values are invalid."""
MAX_WIRE_VALUE_BYTES = 64 * 1024
"""The simulated node's decoder limit: larger proposals never reach the engine (``decode_message``)."""
FLOOD_VALUE_BYTES = 48 * 1024
"""Size of each flooded proposal's value: oversized for the application, within the wire limit."""
FLOOD_HEIGHTS = 3
"""A flood covers the next this-many heights (one beyond the engine's default buffer window of 2)."""
FLOOD_ROUNDS = 4
"""Rounds per flooded height, each one the flooder proposes in (so its proposals pass membership)."""
FLOOD_PROPOSALS_PER_ROUND = 12
"""Distinct own proposals per flooded (height, round), plus as many from a non-member key."""

MessageT = TypeVar("MessageT", bound=Proposal | Prevote | Precommit)


def sign_with_fresh_nonce(key: KeyPair, digest: bytes, rng: random.Random) -> bytes:
    """An Ed25519 signature of ``digest`` (RFC 8032 section 5.1.6) with a random nonce ``r`` instead of
    the deterministic ``sha512(prefix || M)``: it verifies like ``key.sign(digest)`` but has other bytes."""
    h = hashlib.sha512(key.seed).digest()
    clamped = bytearray(h[:32])
    clamped[0] &= 248
    clamped[31] &= 127
    clamped[31] |= 64
    secret = sodium.crypto_core_ed25519_scalar_reduce(bytes(clamped) + bytes(32))
    r = sodium.crypto_core_ed25519_scalar_reduce(rng.randbytes(64))
    big_r = sodium.crypto_scalarmult_ed25519_base_noclamp(r)
    k = sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(big_r + key.public_key + digest).digest())
    s = sodium.crypto_core_ed25519_scalar_add(r, sodium.crypto_core_ed25519_scalar_mul(k, secret))
    return big_r + s


def resigned(message: MessageT, key: KeyPair, chain_id: str, rng: random.Random) -> MessageT:
    """The same message content under a fresh, equally valid signature."""
    return dataclasses.replace(message, signature=sign_with_fresh_nonce(key, message.digest(chain_id), rng))


def is_valid_value(value: bytes) -> bool:
    """The simulated application's validity rule: within the size limit and neither marked invalid nor
    malformed."""
    return (len(value) <= MAX_VALUE_BYTES and not value.startswith(INVALID_PREFIX)
            and not value.startswith(MALFORMED_PREFIX))


def phantom_id(rng: random.Random) -> bytes:
    """The id of a value nobody has."""
    return hash_bytes(b"phantom" + rng.randbytes(8))


Send = tuple[int, SignedMessage]


class Adversary:
    """What one faulty validator does besides running its engine. The simulator calls:

    - ``rewrite(message, peers)`` instead of broadcasting what the engine signed;
    - ``observe(message)`` for every message delivered to the validator;
    - ``after_event(engine)`` after its engine handled an event (extra messages to send);
    - ``sync_answer(message)`` when a peer's message arrives (a block-sync answer, or None).
    """

    def __init__(self, fault: Fault, key: KeyPair, chain_id: str, validators: ValidatorSet,
                 peers: list[int], rng: random.Random) -> None:
        self.fault = fault
        self.key = key
        self.chain_id = chain_id
        self.validators = validators
        self.peers = list(peers)
        self.rng = rng
        self._proposals: dict[tuple[int, int], list[bytes]] = {}  # (height, round) -> value ids seen
        self._substituted: dict[tuple[int, int, bytes], bytes] = {}  # (h, r, honest id) -> bad value id
        self._flooded_height = 0
        shuffled = list(self.peers)
        rng.shuffle(shuffled)
        # WITHHOLDER: fixed, randomly sized subsets; votes reach at least one peer, never all of them.
        self.vote_peers = frozenset(shuffled[:rng.randint(1, max(1, len(shuffled) - 1))])
        self.proposal_peers = frozenset(shuffled[:rng.randint(0, max(0, len(shuffled) - 1))])
        self.outsider = KeyPair.from_seed(rng.randbytes(32))
        self.flood_messages = 0
        """Messages sent by FLOODER bursts (per peer copy)."""
        self.lies = 0
        """Block-sync lies sent by LYING_SYNC."""
        self.forgotten_locks: list[tuple[int, int, bytes | None]] = []
        """(height, locked round, locked value id) of every lock AMNESIAC dropped."""

    # ---- broadcasts ----

    def rewrite(self, message: SignedMessage, peers: list[int]) -> list[Send]:
        """(peer, message) pairs to send instead of broadcasting ``message`` to ``peers``."""
        fault = self.fault
        if fault is Fault.EQUIVOCATING_PROPOSER or fault is Fault.DOUBLE_VOTER:
            return self._split_in_halves(message, peers)
        if fault is Fault.MULTI_VOTER and isinstance(message, (Prevote, Precommit)):
            return self._one_vote_per_peer(message, peers)
        if fault is Fault.RESIGNER:
            return [pair for peer in peers
                    for pair in ((peer, message), (peer, resigned(message, self.key, self.chain_id, self.rng)))]
        if fault is Fault.BAD_PROPOSER:
            return [(peer, self._bad(message)) for peer in peers]
        if fault is Fault.WITHHOLDER:
            allowed = self.proposal_peers if isinstance(message, Proposal) else self.vote_peers
            return [(peer, message) for peer in peers if peer in allowed]
        return [(peer, message) for peer in peers]

    def _split_in_halves(self, message: SignedMessage, peers: list[int]) -> list[Send]:
        alternative: SignedMessage | None = None
        if self.fault is Fault.EQUIVOCATING_PROPOSER and isinstance(message, Proposal):
            # Sometimes the second block is one no honest node would accept: validity must hold anyway.
            prefix = INVALID_PREFIX if self.rng.random() < 0.5 else b"equivocation:"
            value = prefix + message.value + self.rng.randbytes(4)
            alternative = sign_proposal(self.key, self.chain_id, message.height, message.round, value, -1)
        elif self.fault is Fault.DOUBLE_VOTER and isinstance(message, Vote):
            other = phantom_id(self.rng) if message.value_id is None else None
            alternative = sign_vote(type(message), self.key, self.chain_id, message.height, message.round, other)
        if alternative is None:
            return [(peer, message) for peer in peers]
        shuffled = list(peers)
        self.rng.shuffle(shuffled)
        half = len(shuffled) // 2
        return [(p, message) for p in shuffled[:half]] + [(p, alternative) for p in shuffled[half:]]

    def _one_vote_per_peer(self, vote: Prevote | Precommit, peers: list[int]) -> list[Send]:
        """A distinct vote for each peer: the engine's own, nil, the round's other real proposals, then
        phantoms; which peer gets which is shuffled."""
        values: list[bytes | None] = [vote.value_id]
        for candidate in [None, *self._proposals.get((vote.height, vote.round), [])]:
            if candidate not in values:
                values.append(candidate)
        while len(values) < len(peers):
            values.append(phantom_id(self.rng))
        values = values[:max(len(peers), 1)]
        shuffled = list(peers)
        self.rng.shuffle(shuffled)
        sends: list[Send] = []
        for peer, value_id in zip(shuffled, values, strict=False):  # no peers: one value, nothing sent
            sent = vote if value_id == vote.value_id else sign_vote(
                type(vote), self.key, self.chain_id, vote.height, vote.round, value_id)
            sends.append((peer, sent))
        return sends

    def _bad(self, message: SignedMessage) -> SignedMessage:
        """BAD_PROPOSER: its fresh proposals become oversized or malformed, its votes for them follow."""
        if isinstance(message, Proposal):
            if message.valid_round != -1:
                return message  # a re-proposal of a value others already judged
            if self.rng.random() < 0.5:
                size = self.rng.randint(MAX_VALUE_BYTES + 1, MAX_WIRE_VALUE_BYTES)
                value = b"oversized:" + bytes(size - 10)
            else:
                value = MALFORMED_PREFIX + b"\xff" * self.rng.randint(0, 64)
            bad = sign_proposal(self.key, self.chain_id, message.height, message.round, value, -1)
            self._substituted[(message.height, message.round, message.value_id)] = bad.value_id
            return bad
        bad_id = None if message.value_id is None else self._substituted.get(
            (message.height, message.round, message.value_id))
        if bad_id is None:
            return message
        return sign_vote(type(message), self.key, self.chain_id, message.height, message.round, bad_id)

    # ---- what it hears ----

    def observe(self, message: SignedMessage) -> None:
        if isinstance(message, Proposal):
            seen = self._proposals.setdefault((message.height, message.round), [])
            if message.value_id not in seen:
                seen.append(message.value_id)

    # ---- after each event of its engine ----

    def after_event(self, engine: Engine) -> list[Send]:
        if self.fault is Fault.AMNESIAC:
            self._forget_lock(engine)
        elif self.fault is Fault.FLOODER and engine.height > self._flooded_height:
            self._flooded_height = engine.height
            burst = self._flood(engine.height)
            self.flood_messages += len(burst) * len(self.peers)
            return [(peer, message) for message in burst for peer in self.peers]
        return []

    def _forget_lock(self, engine: Engine) -> None:
        """Drop lockedRound/lockedValue (paper lines 36-43) right after the engine takes them: its next
        prevotes follow any proposal (lines 22-33 see no lock), and what it persists has no lock either."""
        if engine.locked_round == -1:
            return
        self.forgotten_locks.append((engine.height, engine.locked_round, engine.locked_value_id))
        engine.locked_round, engine.locked_value_id = -1, None

    def _flood(self, height: int) -> list[SignedMessage]:
        """Hundreds of messages for heights after ``height``: own proposals (several per round, large),
        exact and re-signed copies, an outsider's proposals, forged signatures, phantom votes."""
        burst: list[SignedMessage] = []
        filler = self.rng.randbytes(FLOOD_VALUE_BYTES - 16)
        victim = self.validators.keys[0]
        n = len(self.validators)
        index = self.validators.index_of(self.key.public_key) or 0
        for future in range(height + 1, height + 1 + FLOOD_HEIGHTS):
            first = (index - future) % n  # the proposer of (h, r) is validator (h + r) mod n
            for round_ in range(first, first + n * FLOOD_ROUNDS, n):
                for i in range(FLOOD_PROPOSALS_PER_ROUND):
                    value = b"flood:%08d" % self.rng.getrandbits(26) + filler
                    own = sign_proposal(self.key, self.chain_id, future, round_, value, -1)
                    burst.append(own)
                    burst.append(sign_proposal(self.outsider, self.chain_id, future, round_, value, -1))
                    if i == 0:
                        burst.append(own)  # an exact copy
                        burst.append(resigned(own, self.key, self.chain_id, self.rng))
                        forged = dataclasses.replace(own, proposer=victim,
                                                     signature=self.rng.randbytes(SIGNATURE_BYTES))
                        burst.append(forged)
                for sign in (sign_prevote, sign_precommit):
                    burst.append(sign(self.key, self.chain_id, future, round_, phantom_id(self.rng)))
                    burst.append(sign(self.outsider, self.chain_id, future, round_, phantom_id(self.rng)))
        return burst

    # ---- block sync ----

    def sync_answer(self, message: SignedMessage, committed: tuple[bytes, CommitCertificate] | None
                    ) -> tuple[bytes, CommitCertificate] | None:
        """LYING_SYNC: a (value, certificate) "decision" for ``message.height`` that must be refused."""
        if self.fault is not Fault.LYING_SYNC:
            return None
        self.lies += 1
        height, round_ = message.height, message.round
        value = b"lie:%d:" % height + self.rng.randbytes(8)
        value_id = hash_bytes(value)
        quorum = self.validators.quorum
        precommit = sign_precommit(self.key, self.chain_id, height, round_, value_id)
        lie = self.rng.choice(["no_quorum", "forged", "duplicate_signer", "unknown_signers", "other_value"])
        if lie == "other_value" and committed is not None:
            return value, committed[1]  # a real certificate, for another value
        if lie == "no_quorum":
            pairs = [(self.key.public_key, precommit.signature)]
        elif lie == "duplicate_signer":
            pairs = [(self.key.public_key, resigned(precommit, self.key, self.chain_id, self.rng).signature)
                     for _ in range(quorum)]
        elif lie == "unknown_signers":
            outsiders = [KeyPair.from_seed(self.rng.randbytes(32)) for _ in range(quorum)]
            pairs = [(k.public_key, sign_precommit(k, self.chain_id, height, round_, value_id).signature)
                     for k in outsiders]
        else:  # forged: a quorum of real validators, signatures that are not theirs
            pairs = [(k, self.rng.randbytes(SIGNATURE_BYTES)) for k in self.validators.keys[:quorum]]
        return value, CommitCertificate(height, round_, value_id, tuple(sorted(pairs)))
