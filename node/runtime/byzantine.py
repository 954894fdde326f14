"""Test-only Byzantine behaviour of one validator among real node processes (``[testing] byzantine``).

The node's engine stays honest: it signs, persists its safety record and hands its messages to the
driver as usual. ``Misbehaviour`` sits between the driver and the wire and decides what really leaves,
misusing the node's own key outside the engine: nothing it signs is ever written to the safety record,
so a restart brings back the honest engine with the same misbehaviour around it. The one exception is
``amnesia``, whose whole point is an engine that forgets its lock (so that forgetting is persisted with
its next signature, as a validator that really lost its memory would).

Modes (``MODES``; ``mixed`` rotates through ``REPERTOIRE``, ``MIXED_SPAN`` heights each, so one run
exercises them all):

- ``double_vote``: every own prevote/precommit is followed by a conflicting one (nil vs a value); the
  two go to different halves of the validators, both to the first (so someone holds the pair);
- ``equivocate``: as proposer, a second, different (valid, empty) block for the same round, split alike;
- ``multi_vote``: every own vote becomes N >= 3 distinct votes for its slot (the honest one, nil or the
  value, phantom value ids), one first to each peer; then each peer also gets its neighbour's variant
  (as gossip would bring it), so the conflict is visible and recorded as evidence;
- ``resign``: every own vote is sent again re-signed with a fresh Ed25519 nonce (RFC 8032 with a random
  ``r``): the same content, other signature bytes. Not a conflict: it must count as one vote;
- ``lying_head``: every head announcement claims a height ``LIE_HEIGHTS`` above the real head (with a
  made-up hash); sync requests for those heights go unanswered (there is nothing to send);
- ``oversized``: as proposer, alternately (by its own fresh proposals) a block just over
  ``MAX_BLOCK_BYTES`` (within the frame) *instead of* the honest one, and the honest block followed by
  a malformed value (garbage bytes);
- ``future_flood``: at every height, hundreds of signed votes for heights +1 and +2 (phantom values,
  many rounds) and, every few heights, proposals of ~1 MiB garbage for them, to every validator;
- ``withhold``: own proposals and votes go to one validator only (a different one each height);
- ``amnesia``: right after each own precommit for a value the engine's lock is cleared, so it prevotes
  later rounds as if it had never locked.

``counters`` counts what was done, per behaviour; a line with them is logged every ``LOG_EVERY_S``
(``bakong chaos`` sums the last line of each process life). None of this is reachable unless
``[testing] byzantine`` is set; the network logs a loud warning at start-up when it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Final, Protocol, cast

from consensus import codec
from consensus.crypto import Domain, KeyPair, hash_bytes, signing_digest
from consensus.engine import Engine
from consensus.messages import (
    Precommit,
    Prevote,
    Proposal,
    SignedMessage,
    Vote,
    encode_message,
    proposal_signing_body,
    sign_proposal,
    sign_vote,
    vote_signing_body,
)
from consensus.sim import byzantine as sim_byzantine
from node.config import BYZANTINE_MODES
from node.ledger.blocks import BLOCK_TAG, VERSION, decode_block
from node.ledger.chain import Ledger
from node.ledger.limits import MAX_BLOCK_BYTES, MAX_PROPOSAL_BYTES

log = logging.getLogger("bakong.byzantine")

REPERTOIRE: Final = ("double_vote", "equivocate", "multi_vote", "resign", "lying_head", "oversized",
                     "future_flood", "withhold", "amnesia")
MODES: Final = ("", *REPERTOIRE, "mixed")
assert MODES == BYZANTINE_MODES, "node.config.BYZANTINE_MODES and node.byzantine.MODES must agree"

LIE_HEIGHTS: Final = 1_000_000
MULTI_VOTE_VARIANTS: Final = 3
FLOOD_ROUNDS: Final = 40  # per future height: a prevote and a precommit each -> 160 votes per flood
FLOOD_PROPOSALS_EVERY: Final = 4  # heights between bursts of large proposals
FLOOD_PROPOSAL_ROUNDS: Final = 4  # large proposals per future height in a burst
FLOOD_VALUE_BYTES: Final = 1024 * 1024
OVERSIZED_EXTRA: Final = 512  # over MAX_BLOCK_BYTES, still under MAX_PROPOSAL_BYTES (the wire accepts it)
LOG_EVERY_S: Final = 5.0
# ``mixed`` keeps each behaviour for this many consecutive heights: with 4 validators this validator
# proposes (at round 0) once in any 4 consecutive heights, so the proposer's behaviours get their turn.
MIXED_SPAN: Final = 4

assert MAX_BLOCK_BYTES + OVERSIZED_EXTRA + 256 <= MAX_PROPOSAL_BYTES


# ---- RFC 8032 signing with a random nonce ----


def sign_with_fresh_nonce(key: KeyPair, digest: bytes) -> bytes:
    """An Ed25519 signature of ``digest`` that verifies like ``key.sign(digest)`` but has other bytes
    (a random nonce): the simulator's implementation, with a nonce from the OS."""
    return sim_byzantine.sign_with_fresh_nonce(key, digest, random.Random(os.urandom(16)))


def resigned(message: SignedMessage, key: KeyPair, chain_id: str) -> SignedMessage:
    """``message`` (our own) with the same content and a new signature."""
    if isinstance(message, Proposal):
        body = proposal_signing_body(message.height, message.round, message.value_id, message.valid_round,
                                     message.proposer)
        sig = sign_with_fresh_nonce(key, signing_digest(Domain.PROPOSAL, chain_id, body))
        return Proposal(message.height, message.round, message.value, message.valid_round, message.proposer, sig)
    body = vote_signing_body(message.tag, message.height, message.round, message.value_id, message.validator)
    sig = sign_with_fresh_nonce(key, signing_digest(message.domain, chain_id, body))
    return type(message)(message.height, message.round, message.value_id, message.validator, sig)


def phantom(*parts: int | bytes) -> bytes:
    """A value id no block has."""
    return hash_bytes(b"byzantine:phantom:" + b":".join(p if isinstance(p, bytes) else str(p).encode() for p in parts))


def oversized_value(height: int) -> bytes:
    """A block-shaped record just over the block byte limit."""
    padding = b"\0" * (MAX_BLOCK_BYTES + OVERSIZED_EXTRA - 64)
    value = codec.encode_trusted([BLOCK_TAG, VERSION, b"byzantine:%d" % height, [padding]])
    assert MAX_BLOCK_BYTES < len(value) <= MAX_BLOCK_BYTES + OVERSIZED_EXTRA
    return value


class ByzantineHost(Protocol):
    """What the misbehaviour uses of the node: its key and chain (to sign outside the engine), the ledger
    and its worker thread (to build a second, conflicting block)."""

    @property
    def chain_id(self) -> str: ...
    @property
    def key(self) -> KeyPair: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def worker(self) -> Executor: ...


class Misbehaviour:
    """What a Byzantine validator sends in place of its honest engine's broadcasts (module docstring).

    ``targets()`` names the connected validators; ``send(peer, message_bytes)`` sends one consensus
    message to one of them. ``node`` gives the key, chain id, ledger and worker thread."""

    def __init__(self, mode: str, node: ByzantineHost, targets: Callable[[], list[bytes]],
                 send: Callable[[bytes, bytes], object]) -> None:
        if mode not in REPERTOIRE and mode != "mixed":
            raise ValueError(f"not a Byzantine mode: {mode!r}")
        self.mode = mode
        self.node = node
        self.key: KeyPair = node.key
        self.chain_id: str = node.chain_id
        self.targets = targets
        self.send = send
        self.counters: Counter[str] = Counter()
        self._flooded_height = -1
        self._proposals = 0
        self._logged = time.monotonic()

    def mode_at(self, height: int) -> str:
        """The behaviour at ``height`` (``mixed`` rotates through the repertoire)."""
        return REPERTOIRE[height // MIXED_SPAN % len(REPERTOIRE)] if self.mode == "mixed" else self.mode

    # ---- head announcements ----

    def announced_head(self, height: int, block_hash: bytes) -> tuple[int, bytes]:
        """What to announce instead of our real head ``(height, block_hash)``."""
        if self.mode_at(height + 1) != "lying_head":
            return height, block_hash
        self._count("heads_lied")
        return height + LIE_HEIGHTS, phantom(b"head", height)

    # ---- consensus messages ----

    async def broadcast(self, message: SignedMessage, engine: Engine) -> None:
        """Send our own ``message`` the way this height's mode wants (the honest engine emitted it)."""
        peers = self.targets()
        mode = self.mode_at(message.height)
        if mode == "future_flood":
            self._flood(message.height, peers)
        if mode == "double_vote" and isinstance(message, Vote):
            other = phantom(message.height, message.round) if message.value_id is None else None
            self._split(message, sign_vote(type(message), self.key, self.chain_id, message.height, message.round,
                                           other), peers)
            self._count("double_votes")
        elif mode == "equivocate" and isinstance(message, Proposal) and message.valid_round == -1:
            second = await self._second_block(message)
            if second is None:
                self._to_all(message, peers)
            else:
                self._split(message, second, peers)
                self._count("equivocations")
        elif mode == "multi_vote" and isinstance(message, Vote):
            self._multi_vote(message, peers)
        elif mode == "resign" and isinstance(message, Vote):
            self._to_all(message, peers)
            self._to_all(resigned(message, self.key, self.chain_id), peers)
            self._count("resigned_votes")
        elif mode == "oversized" and isinstance(message, Proposal) and message.valid_round == -1:
            self._oversized(message, peers)
        elif mode == "withhold" and peers:
            self._to(peers[message.height % len(peers)], message)
            self._count("withheld_sends", len(peers) - 1)
        else:
            self._to_all(message, peers)
        if (mode == "amnesia" and isinstance(message, Precommit) and message.value_id is not None
                and engine.locked_round != -1):
            engine.locked_round, engine.locked_value_id = -1, None
            self._count("locks_forgotten")

    def _to(self, peer: bytes, message: SignedMessage) -> None:
        self.send(peer, encode_message(message))

    def _to_all(self, message: SignedMessage, peers: list[bytes]) -> None:
        data = encode_message(message)
        for peer in peers:
            self.send(peer, data)

    def _split(self, original: SignedMessage, conflicting: SignedMessage, peers: list[bytes]) -> None:
        """The original to one half, the conflicting one to the other half, both to the first peer (so one
        honest node surely holds the pair and records evidence; re-gossip spreads both further)."""
        first, second = encode_message(original), encode_message(conflicting)
        half = (len(peers) + 1) // 2
        for i, peer in enumerate(peers):
            if i < half:
                self.send(peer, first)
            if i >= half or i == 0:
                self.send(peer, second)

    def _multi_vote(self, vote: Vote, peers: list[bytes]) -> None:
        n = max(MULTI_VOTE_VARIANTS, len(peers))
        other = None if vote.value_id is not None else phantom(vote.height, vote.round)
        values: list[bytes | None] = [vote.value_id, other]
        values += [phantom(vote.height, vote.round, vote.tag, i) for i in range(n - len(values))]
        variants = [vote] + [sign_vote(type(vote), self.key, self.chain_id, vote.height, vote.round, v)
                             for v in values[1:]]
        encoded = [encode_message(cast(SignedMessage, v)) for v in variants]  # a Vote is a Prevote or Precommit
        shift = vote.height + vote.round  # which peer gets the honest vote moves around
        for i, peer in enumerate(peers):
            self.send(peer, encoded[(i + shift) % n])
        # Then each peer its neighbour's variant too (what gossip would bring it later; "later" must be at
        # once here: a height decides within milliseconds on loopback, and a vote after it is dropped).
        for i, peer in enumerate(peers):
            self.send(peer, encoded[(i + shift + 1) % n])
        self._count("multi_votes", n - 1)

    async def _second_block(self, proposal: Proposal) -> Proposal | None:
        """A different valid (empty) block for the proposal's height and round, built on the worker."""
        node = self.node

        def build() -> bytes | None:
            if node.ledger.head.height + 1 != proposal.height:
                return None
            created_ms = decode_block(proposal.value).header.created_ms + 1
            block, _execution = node.ledger.build_block([], created_ms, self.key.public_key)
            return bytes(block.encode())

        value = await asyncio.get_running_loop().run_in_executor(node.worker, build)
        if value is None or hash_bytes(value) == proposal.value_id:
            return None
        return sign_proposal(self.key, self.chain_id, proposal.height, proposal.round, value, -1)

    def _oversized(self, proposal: Proposal, peers: list[bytes]) -> None:
        """Alternately: a block just over the limit instead of the honest one; the honest block, then
        garbage bytes as a second value (an equivocation with an invalid value)."""
        h, r = proposal.height, proposal.round
        self._proposals += 1
        if self._proposals % 2:
            big = sign_proposal(self.key, self.chain_id, h, r, oversized_value(h), -1)
            self._to_all(big, peers)
            self._count("oversized_proposals")
        else:
            self._to_all(proposal, peers)
            garbage = sign_proposal(self.key, self.chain_id, h, r, b"\xc1garbage" + os.urandom(1024), -1)
            self._to_all(garbage, peers)
            self._count("garbage_proposals")

    def _flood(self, height: int, peers: list[bytes]) -> None:
        """Once per height: signed messages for heights +1 and +2 to every validator."""
        if height <= self._flooded_height:
            return
        self._flooded_height = height
        messages: list[SignedMessage] = []
        for ahead in (1, 2):
            h = height + ahead
            for r in range(FLOOD_ROUNDS):
                for kind in (Prevote, Precommit):
                    messages.append(cast(SignedMessage, sign_vote(kind, self.key, self.chain_id, h, r,
                                                                  phantom(b"flood", h, r))))
        votes = len(messages)
        if height % FLOOD_PROPOSALS_EVERY == 0:
            filler = os.urandom(FLOOD_VALUE_BYTES)
            for ahead in (1, 2):
                for r in range(FLOOD_PROPOSAL_ROUNDS):
                    value = b"flood:%d:%d:" % (height + ahead, r) + filler
                    messages.append(sign_proposal(self.key, self.chain_id, height + ahead, r, value, -1))
        for message in messages:
            self._to_all(message, peers)
        self._count("future_votes", votes)
        self._count("future_proposals", len(messages) - votes)

    # ---- counters ----

    def _count(self, what: str, n: int = 1) -> None:
        self.counters[what] += n
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY_S:
            self._logged = now
            self.log_counters()

    def log_counters(self) -> None:
        log.warning("BYZANTINE COUNTERS %s", json.dumps(dict(sorted(self.counters.items()))))
