"""How the engine counts a Byzantine validator's votes: by content, every endorsed value, bounded memory.

Regression tests for three review bugs at 02865ef, driven through ``Engine.handle`` directly:
- bug 2: the engine kept at most two votes per (validator, round, kind), so a validator sending three
  distinct prevotes to different peers made honest nodes count different polkas;
- bug 3: an identical precommit re-signed with a fresh Ed25519 nonce counted as a conflict and put the
  validator twice into the commit certificate (``duplicate_signer``: block sync could never pass it);
- bug 5: messages for future heights were buffered before any check, by count, not deduplicated.
"""

from __future__ import annotations

import dataclasses
import random

from consensus.actions import Commit, ReportEvidence
from consensus.crypto import hash_bytes
from consensus.engine import EngineLimits
from consensus.events import MessageReceived, TimeoutFired, ValueValidated
from consensus.evidence import Evidence
from consensus.messages import Precommit, Step, sign_precommit, sign_prevote, sign_proposal
from consensus.sim.byzantine import sign_with_fresh_nonce
from tests.consensus.helpers import CHAIN, KEYS, broadcasts, feed, started, validator_set

VALUE = b"block one"
VID = hash_bytes(VALUE)
PHANTOM = hash_bytes(b"nobody has this block")
BYZANTINE = 3  # KEYS[3]; the proposer of height 1 round 0 is KEYS[1]


def prevote(i: int, value_id: bytes | None, round_: int = 0) -> MessageReceived:
    return MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, round_, value_id))


def precommit(i: int, value_id: bytes | None, round_: int = 0) -> MessageReceived:
    return MessageReceived(sign_precommit(KEYS[i], CHAIN, 1, round_, value_id))


def test_a_third_distinct_prevote_for_a_polka_value_is_counted_so_this_node_locks_like_the_others() -> None:
    # Node 0 gave up on the proposal (timeout) and prevoted nil. Honest 1 and 2 prevote VALUE. The
    # Byzantine validator shows node 0 a phantom, then nil, then VALUE (and the others VALUE first, so
    # they lock on a 3-vote polka). Counting only its first two votes, node 0 never saw that polka.
    engine, _ = started(KEYS[0])
    feed(engine, TimeoutFired(1, 0, Step.PROPOSE))
    feed(engine, MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)), ValueValidated(1, VID, True))
    actions = feed(engine, prevote(BYZANTINE, PHANTOM), prevote(BYZANTINE, None), prevote(1, VID), prevote(2, VID),
                   prevote(BYZANTINE, VID))
    assert broadcasts(actions) == [sign_precommit(KEYS[0], CHAIN, 1, 0, VID)]
    assert (engine.locked_round, engine.locked_value_id) == (0, VID)
    assert engine.counters.equivocations == 1  # one piece of evidence per slot is enough


def test_every_arrival_order_of_an_equivocators_votes_gives_the_same_count_once_all_arrived() -> None:
    votes = [prevote(BYZANTINE, PHANTOM), prevote(BYZANTINE, None), prevote(BYZANTINE, VID),
             prevote(BYZANTINE, hash_bytes(b"another phantom")), prevote(1, VID), prevote(2, VID)]
    counts = set()
    rng = random.Random(5)
    for _ in range(30):
        engine, _ = started(None)  # an observer's engine: it counts, never votes
        order = list(votes)
        rng.shuffle(order)
        feed(engine, *order)
        # A vote dropped before its value was endorsed comes back with re-gossip: deliver all again.
        feed(engine, *order)
        log = engine._rounds[0]
        counts.add((log.prevotes.count(VID), log.prevotes.count(None)))
    # The phantom counts only where it arrived first (no correct validator voted for it: it can never
    # reach a quorum); every value that can matter has the same count whatever the order.
    assert counts == {(3, 1)}


def test_unendorsed_conflicting_votes_are_not_kept_and_after_evidence_not_even_verified() -> None:
    checked: list[bytes] = []

    def counting_verifier(key: bytes, digest: bytes, signature: bytes) -> bool:
        from consensus.crypto import verify
        checked.append(signature)
        return verify(key, digest, signature)

    engine, _ = started(KEYS[0], verifier=counting_verifier)
    feed(engine, prevote(BYZANTINE, VID))
    for i in range(50):
        feed(engine, prevote(BYZANTINE, hash_bytes(b"phantom %d" % i)))
    assert len(checked) == 2  # the first vote and the first conflict (evidence); the rest cost nothing
    assert engine.memory_by_signer()[KEYS[BYZANTINE].public_key] < 1000
    assert engine.counters.conflicts_dropped == 50


def test_a_re_signed_identical_precommit_is_one_vote_and_the_certificate_names_each_signer_once() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)), ValueValidated(1, VID, True))
    original = sign_precommit(KEYS[BYZANTINE], CHAIN, 1, 0, VID)
    again = dataclasses.replace(original, signature=sign_with_fresh_nonce(
        KEYS[BYZANTINE], original.digest(CHAIN), random.Random(1)))
    assert again.signature != original.signature and again.has_valid_signature(CHAIN, _verify())
    actions = feed(engine, MessageReceived(original), MessageReceived(again), precommit(1, VID), precommit(2, VID))
    assert not [a for a in actions if isinstance(a, ReportEvidence)]
    [commit] = [a for a in actions if isinstance(a, Commit)]
    signers = [key for key, _ in commit.certificate.signatures]
    assert len(signers) == len(set(signers)) == 3
    commit.certificate.verify(CHAIN, validator_set(4))  # what block sync checks on every other node


def test_evidence_always_names_two_different_contents_and_decodes() -> None:
    engine, _ = started(KEYS[0])
    original = sign_prevote(KEYS[BYZANTINE], CHAIN, 1, 0, VID)
    resigned = dataclasses.replace(original, signature=sign_with_fresh_nonce(
        KEYS[BYZANTINE], original.digest(CHAIN), random.Random(2)))
    actions = feed(engine, MessageReceived(original), MessageReceived(resigned), prevote(BYZANTINE, None))
    [report] = [a.evidence for a in actions if isinstance(a, ReportEvidence)]
    assert Evidence.decode(report.encode()) == report and report.is_valid(CHAIN)


def test_future_height_messages_from_a_non_member_or_with_bad_signatures_are_not_buffered() -> None:
    outsider = KEYS[7]
    engine, _ = started(KEYS[0])
    big = b"x" * (1024 * 1024)
    forged = [MessageReceived(sign_proposal(outsider, CHAIN, 2, r, big + bytes([r]), -1)) for r in range(50)]
    proposer = KEYS[2]  # the proposer of height 2 round 0
    bad = sign_proposal(proposer, CHAIN, 2, 0, big, -1)
    bad = dataclasses.replace(bad, signature=bytes(64))
    feed(engine, *forged, MessageReceived(bad))
    assert engine.memory_by_signer().get(outsider.public_key, 0) == 0
    assert engine.memory_by_signer().get(proposer.public_key, 0) == 0
    assert engine.counters.unknown_validator == 50 and engine.counters.bad_signature == 1


def test_future_height_messages_of_a_member_are_deduplicated_and_bounded_in_bytes() -> None:
    limits = EngineLimits(max_buffered_bytes_per_signer=3 * 1024 * 1024)
    engine, _ = started(KEYS[0], limits=limits)
    byzantine = KEYS[BYZANTINE]
    # KEYS[3] proposes at height 2 rounds 1, 5, 9, ... (index (2 + r) mod 4 == 3).
    flood = [MessageReceived(sign_proposal(byzantine, CHAIN, 2, r, b"y" * (1024 * 1024) + r.to_bytes(2, "big"), -1))
             for r in range(1, 400, 4)]
    feed(engine, *flood, *flood)
    kept = engine.memory_by_signer()[byzantine.public_key]
    assert 2 * 1024 * 1024 < kept <= limits.max_buffered_bytes_per_signer
    assert engine.counters.buffered == 2  # two fit; the copies were duplicates, the rest over budget
    assert engine.counters.duplicate >= 2 and engine.counters.over_budget >= 90


def test_a_proposers_old_unneeded_proposals_make_room_under_its_byte_budget() -> None:
    limits = EngineLimits(max_proposal_bytes_per_signer=3 * 1024 * 1024)
    engine, _ = started(KEYS[0], limits=limits)
    byzantine = KEYS[BYZANTINE]
    for r in (2, 6, 10, 14):  # KEYS[3] proposes at height 1 in rounds 2, 6, 10, 14
        engine.round = r  # the node moved on (timeouts elided): earlier rounds are old
        feed(engine, MessageReceived(sign_proposal(byzantine, CHAIN, 1, r, b"z" * (1024 * 1024) + bytes([r]), -1)))
    assert engine.memory_by_signer()[byzantine.public_key] <= limits.max_proposal_bytes_per_signer
    assert engine.counters.evicted >= 1 and 14 in {p.round for log in engine._rounds.values()
                                                      for p in log.proposals.values()}


def _verify():  # type: ignore[no-untyped-def]
    from consensus.crypto import verify
    return verify


def test_precommits_are_precommits() -> None:
    assert isinstance(sign_precommit(KEYS[0], CHAIN, 1, 0, VID), Precommit)


def test_a_proposal_repeated_with_another_valid_round_is_verified_once_then_dropped_unchecked() -> None:
    checked: list[bytes] = []

    def counting_verifier(key: bytes, digest: bytes, signature: bytes) -> bool:
        from consensus.crypto import verify
        checked.append(signature)
        return verify(key, digest, signature)

    engine, _ = started(KEYS[0], verifier=counting_verifier)
    feed(engine, MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)))
    other_round = MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, 0))
    actions = feed(engine, *[other_round] * 20)
    assert len([a for a in actions if isinstance(a, ReportEvidence)]) == 1
    assert len(checked) == 2  # the proposal, then its conflicting twin once (evidence); repeats are free


def test_re_proposals_of_one_value_are_charged_once_so_a_long_height_keeps_them_all() -> None:
    # An honest proposer re-proposes its valid value in each of its rounds: the same bytes, one charge.
    limits = EngineLimits(max_proposal_bytes_per_signer=3 * 1024 * 1024)
    engine, _ = started(KEYS[0], limits=limits)
    proposer, value = KEYS[1], b"v" * (1024 * 1024)
    rounds = [0, 4, 8, 12, 16, 20]  # KEYS[1] proposes at height 1 in rounds r with (1 + r) % 4 == 1
    for r in rounds:
        engine.round = r
        feed(engine, MessageReceived(sign_proposal(proposer, CHAIN, 1, r, value, -1 if r == 0 else 0)))
    kept = [p for log in engine._rounds.values() for p in log.proposals.values()]
    assert sorted(p.round for p in kept) == rounds and engine.counters.over_budget == 0
    assert len({id(p.value) for p in kept}) == 1  # one copy of the bytes
    assert engine.memory_by_signer()[proposer.public_key] < 1024 * 1024 + 2000
