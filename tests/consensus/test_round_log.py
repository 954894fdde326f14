"""The round log's rules, one at a time: first vote kept, further votes only for endorsed values,
proposals beyond the cap only when endorsed (see ``consensus.round_log``'s docstring).

Messages are built unsigned: the log only ever receives messages whose signature was checked, and it
identifies them by content. n = 4 here, so a value is endorsed by ``n//3 + 1 = 2`` distinct voters.
"""

from __future__ import annotations

import pytest

from consensus.crypto import hash_bytes
from consensus.messages import Precommit, Prevote, Proposal
from consensus.round_log import Added, RoundLog, Tally

THRESHOLD = 2
V, W, X = hash_bytes(b"v"), hash_bytes(b"w"), hash_bytes(b"x")
SIG, OTHER_SIG = bytes(64), bytes([1]) * 64


def key(i: int) -> bytes:
    return bytes([i + 1]) * 32


def prevote(i: int, value_id: bytes | None, signature: bytes = SIG) -> Prevote:
    return Prevote(1, 0, value_id, key(i), signature)


def precommit(i: int, value_id: bytes | None) -> Precommit:
    return Precommit(1, 0, value_id, key(i), SIG)


def proposal(value: bytes, valid_round: int = -1, proposer: int = 9) -> Proposal:
    return Proposal(1, 0, value, valid_round, key(proposer), SIG)


def tally(*votes: Prevote) -> Tally[Prevote]:
    t: Tally[Prevote] = Tally(THRESHOLD)
    for vote in votes:
        t.add(vote)
    return t


def log(max_proposals: int = 2) -> RoundLog:
    return RoundLog(max_proposals, THRESHOLD)


# ---- votes ----


def test_a_validators_first_vote_is_new_and_counted() -> None:
    t: Tally[Prevote] = Tally(THRESHOLD)
    assert t.add(prevote(0, V)) == (Added.NEW, None)
    assert (t.count(V), t.total(), t.votes_for(V)) == (1, 1, [prevote(0, V)])


def test_the_same_vote_re_signed_is_a_duplicate_and_counts_once() -> None:
    t = tally(prevote(0, V))
    assert t.add(prevote(0, V, OTHER_SIG)) == (Added.DUPLICATE, None)
    assert (t.count(V), t.total(), len(t.messages())) == (1, 1, 1)


def test_a_conflicting_vote_for_an_unendorsed_value_is_evidence_but_not_kept_nor_counted() -> None:
    t = tally(prevote(0, V))
    assert t.add(prevote(0, W)) == (Added.UNENDORSED, prevote(0, V))
    assert (t.count(W), t.count(V), t.messages()) == (0, 1, [prevote(0, V)])
    assert t.votes_for(W) == []


def test_a_conflicting_vote_for_nil_is_always_kept_and_counted() -> None:
    t = tally(prevote(0, V))
    assert t.add(prevote(0, None)) == (Added.CONFLICT, prevote(0, V))
    assert (t.count(None), t.count(V), t.total()) == (1, 1, 1)
    assert t.votes_for(None) == [prevote(0, None)]


def test_a_value_is_endorsed_by_exactly_the_threshold_of_distinct_voters() -> None:
    t = tally(prevote(1, V))
    assert not t.endorsed(V)
    t.add(prevote(1, V, OTHER_SIG))  # the same voter again does not endorse
    assert not t.endorsed(V)
    t.add(prevote(2, V))
    assert t.endorsed(V) and t.endorsed(None) and not t.endorsed(W)


def test_a_conflicting_vote_for_an_endorsed_value_is_kept_and_counted() -> None:
    t = tally(prevote(0, W), prevote(1, V), prevote(2, V))
    assert t.add(prevote(0, V)) == (Added.CONFLICT, prevote(0, W))
    assert (t.count(V), t.count(W), t.total()) == (3, 1, 3)
    assert sorted(v.validator for v in t.votes_for(V)) == [key(0), key(1), key(2)]
    assert prevote(0, V) in t.messages() and prevote(0, W) in t.messages()


def test_a_kept_further_vote_arriving_again_is_a_duplicate() -> None:
    t = tally(prevote(0, W), prevote(1, V), prevote(2, V), prevote(0, V))
    assert t.holds(prevote(0, V, OTHER_SIG))
    assert t.add(prevote(0, V, OTHER_SIG)) == (Added.DUPLICATE, None)
    assert (t.count(V), len(t.messages())) == (3, 4)


def test_a_vote_not_kept_is_not_held() -> None:
    t = tally(prevote(0, V))
    t.add(prevote(0, W))
    assert not t.holds(prevote(0, W)) and not t.holds(prevote(1, V)) and t.holds(prevote(0, V))


def test_would_keep_answers_what_add_does() -> None:
    t = tally(prevote(0, V), prevote(1, W), prevote(2, W))
    cases = {prevote(3, X): True,            # a first vote
             prevote(0, V, OTHER_SIG): False,  # the same content again
             prevote(0, X): False,           # a conflict for an unendorsed value
             prevote(0, W): True,            # a conflict for an endorsed value
             prevote(1, None): True}         # a conflict for nil
    for vote, keep in cases.items():
        assert t.would_keep(vote) is keep, vote
        assert (t.add(vote)[0] in (Added.NEW, Added.CONFLICT)) is keep, vote


def test_counts_and_totals_of_an_empty_tally_are_zero() -> None:
    t: Tally[Prevote] = Tally(THRESHOLD)
    assert (t.count(V), t.count(None), t.total(), t.votes_for(V), t.messages()) == (0, 0, 0, [], [])


# ---- the round: votes ----


def test_prevotes_and_precommits_are_tallied_apart() -> None:
    r = log()
    assert r.add_vote(prevote(0, V)) == (Added.NEW, None)
    assert r.add_vote(precommit(0, W)) == (Added.NEW, None)
    assert (r.prevotes.count(V), r.precommits.count(V), r.precommits.count(W)) == (1, 0, 1)
    assert r.precommits_for(W) == [precommit(0, W)] and r.precommits_for(V) == []


def test_every_voter_is_a_sender_of_the_round() -> None:
    r = log()
    r.add_vote(prevote(0, V))
    r.add_vote(precommit(1, V))
    assert r.senders == {key(0), key(1)}


def test_a_log_refuses_what_is_not_a_vote() -> None:
    with pytest.raises(TypeError):
        log().add_vote(proposal(b"v"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        log().would_keep("a vote")  # type: ignore[arg-type]


def test_the_round_would_keep_answers_per_kind() -> None:
    r = log()
    r.add_vote(prevote(0, V))
    assert not r.would_keep(prevote(0, V)) and r.would_keep(precommit(0, V))
    r.add_vote(precommit(0, V))
    assert not r.would_keep(precommit(0, V)) and not r.would_keep(precommit(0, W))


# ---- the round: proposals ----


def test_the_first_proposal_is_new_and_its_proposer_a_sender() -> None:
    r = log()
    assert r.add_proposal(proposal(b"v")) == (Added.NEW, None)
    assert list(r.proposals) == [V] and r.senders == {key(9)}


def test_the_same_proposal_again_is_a_duplicate() -> None:
    r = log()
    r.add_proposal(proposal(b"v"))
    assert r.add_proposal(Proposal(1, 0, b"v", -1, key(9), OTHER_SIG)) == (Added.DUPLICATE, None)
    assert not r.would_keep(proposal(b"v"))


def test_the_same_value_with_another_valid_round_is_evidence_never_kept() -> None:
    r = log(max_proposals=4)
    r.add_proposal(proposal(b"v"))
    assert not r.would_keep(proposal(b"v", valid_round=0))
    assert r.add_proposal(proposal(b"v", valid_round=0)) == (Added.UNENDORSED, proposal(b"v"))
    assert r.proposals[V].valid_round == -1 and len(r.proposals) == 1


def test_proposals_up_to_the_cap_are_kept_as_conflicts_with_the_first() -> None:
    r = log(max_proposals=2)
    r.add_proposal(proposal(b"v"))
    assert r.would_keep(proposal(b"w"))
    assert r.add_proposal(proposal(b"w")) == (Added.CONFLICT, proposal(b"v"))
    assert list(r.proposals) == [V, W]


def test_a_proposal_beyond_the_cap_is_not_kept_unless_votes_endorse_its_value() -> None:
    r = log(max_proposals=2)
    r.add_proposal(proposal(b"v"))
    r.add_proposal(proposal(b"w"))
    assert not r.would_keep(proposal(b"x"))
    assert r.add_proposal(proposal(b"x")) == (Added.UNENDORSED, proposal(b"v"))
    assert X not in r.proposals


@pytest.mark.parametrize("kind", [prevote, precommit])
def test_a_proposal_beyond_the_cap_is_kept_when_prevotes_or_precommits_endorse_its_value(kind: object) -> None:
    r = log(max_proposals=1)
    r.add_proposal(proposal(b"v"))
    r.add_vote(kind(0, X))  # type: ignore[operator]
    assert not r.would_keep(proposal(b"x"))  # one voter: not endorsed yet
    r.add_vote(kind(1, X))  # type: ignore[operator]
    assert r.proposal_endorsed(X) and r.would_keep(proposal(b"x"))
    assert r.add_proposal(proposal(b"x")) == (Added.CONFLICT, proposal(b"v"))


def test_a_dropped_proposal_is_forgotten_but_its_proposer_stays_a_sender() -> None:
    r = log()
    r.add_proposal(proposal(b"v"))
    assert r.drop_proposal(V) == proposal(b"v") and r.drop_proposal(V) is None
    assert r.proposals == {} and r.senders == {key(9)}
    assert r.would_keep(proposal(b"v"))


def test_the_round_lists_every_kept_message() -> None:
    r = log()
    r.add_proposal(proposal(b"v"))
    for vote in (prevote(0, V), prevote(0, None), prevote(0, W), precommit(1, V)):
        r.add_vote(vote)
    assert r.messages() == [proposal(b"v"), prevote(0, V), prevote(0, None), precommit(1, V)]
