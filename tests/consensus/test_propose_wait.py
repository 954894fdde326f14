"""timeoutPropose waits for the validation of a proposal that arrived in time (lines 22/28 before 57).

In the paper ``valid(v)`` is instantaneous: a proposal received before timeoutPropose is prevoted for
(or against) at once. Here validation is an action the node answers later (a ~16 MB block on a loaded
host takes seconds), and the timeout used to overtake it: every validator prevoted nil on a good block
it had already received, round after round. Now the timeout, finding the round's proposal still being
validated, waits for the answer; with no proposal, or one already judged, it prevotes nil at once.

Driven by hand: n = 4, height 1, KEYS[1] proposes round 0, KEYS[2] round 1; the engine is KEYS[0].
"""

from __future__ import annotations

from consensus.actions import ValidateValue
from consensus.crypto import hash_bytes
from consensus.events import MessageReceived, TimeoutFired, ValueValidated
from consensus.messages import Prevote, Step, sign_prevote, sign_proposal
from tests.consensus.helpers import CHAIN, KEYS, broadcasts, feed, started

VALUE = b"block one"
VID = hash_bytes(VALUE)
OTHER = b"block two"


def proposal(round_: int = 0, value: bytes = VALUE, valid_round: int = -1) -> MessageReceived:
    return MessageReceived(sign_proposal(KEYS[(1 + round_) % 4], CHAIN, 1, round_, value, valid_round))


def prevote(i: int, value_id: bytes | None = VID, round_: int = 0) -> MessageReceived:
    return MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, round_, value_id))


def prevotes(actions: list) -> list[tuple[int, bytes | None]]:  # type: ignore[type-arg]
    return [(m.round, m.value_id) for m in broadcasts(actions) if isinstance(m, Prevote)]


def test_a_proposal_received_in_time_is_prevoted_when_its_validation_answers_after_the_timeout() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), TimeoutFired(1, 0, Step.PROPOSE))
    assert [a.value_id for a in actions if isinstance(a, ValidateValue)] == [VID]
    assert prevotes(actions) == [] and engine.step is Step.PROPOSE
    assert engine.counters.waited_for_validation == 1
    assert prevotes(feed(engine, ValueValidated(1, VID, True))) == [(0, VID)]


def test_an_invalid_proposal_that_outlasted_the_timeout_gets_a_nil_prevote() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), TimeoutFired(1, 0, Step.PROPOSE))
    assert prevotes(feed(engine, ValueValidated(1, VID, False))) == [(0, None)]


def test_without_a_proposal_the_timeout_prevotes_nil_at_once() -> None:
    engine, _ = started(KEYS[0])
    assert prevotes(feed(engine, TimeoutFired(1, 0, Step.PROPOSE))) == [(0, None)]
    assert engine.counters.waited_for_validation == 0


def test_a_proposal_already_judged_lets_the_timeout_prevote_nil_at_once() -> None:
    engine, _ = started(KEYS[0])
    # Round 1's proposal re-proposes a value with valid_round 0, but nobody showed us that polka: line 28
    # is not enabled, so validity alone cannot make us prevote it; the timeout does, nil.
    feed(engine, prevote(2, None, round_=1), prevote(3, None, round_=1))
    assert engine.round == 1
    feed(engine, proposal(1, OTHER, valid_round=0), ValueValidated(1, hash_bytes(OTHER), True))
    assert engine.step is Step.PROPOSE
    assert prevotes(feed(engine, TimeoutFired(1, 1, Step.PROPOSE))) == [(1, None)]
    assert engine.counters.waited_for_validation == 0


def test_a_waited_timeout_still_ends_in_nil_when_the_valid_proposal_cannot_be_prevoted() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, prevote(2, None, round_=1), prevote(3, None, round_=1))
    feed(engine, proposal(1, OTHER, valid_round=0), TimeoutFired(1, 1, Step.PROPOSE))
    assert engine.step is Step.PROPOSE and engine.counters.waited_for_validation == 1
    assert prevotes(feed(engine, ValueValidated(1, hash_bytes(OTHER), True))) == [(1, None)]


def test_a_validation_answering_after_the_round_moved_on_casts_nothing_for_the_old_round() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), TimeoutFired(1, 0, Step.PROPOSE))
    feed(engine, prevote(2, None, round_=1), prevote(3, None, round_=1))  # f+1 of round 1: skip to it
    assert engine.round == 1 and engine.step is Step.PROPOSE
    assert prevotes(feed(engine, ValueValidated(1, VID, True))) == []
    # Round 1's own timeout, with no proposal of round 1, prevotes nil in round 1.
    assert prevotes(feed(engine, TimeoutFired(1, 1, Step.PROPOSE))) == [(1, None)]


def test_with_an_equivocating_proposer_the_first_answer_decides_the_prevote_as_in_the_paper() -> None:
    engine, _ = started(KEYS[0])
    # Two proposals of round 0, both kept (the engine keeps the proposer's first few) and both pending.
    feed(engine, proposal(), proposal(value=OTHER), TimeoutFired(1, 0, Step.PROPOSE))
    assert engine.counters.equivocations == 1 and engine.counters.waited_for_validation == 1
    assert prevotes(feed(engine, ValueValidated(1, VID, True))) == [(0, VID)]  # line 22 for the first judged
    assert prevotes(feed(engine, ValueValidated(1, hash_bytes(OTHER), True))) == []


def test_a_nil_prevote_from_the_timeout_completes_a_nil_quorum_at_once() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, prevote(1, None), prevote(2, None), TimeoutFired(1, 0, Step.PROPOSE))
    # Ours makes three nil prevotes: lines 34-35 and 44-46 fire in the same step, not at the next event.
    assert [(type(m).__name__, m.value_id) for m in broadcasts(actions)] == [("Prevote", None), ("Precommit", None)]
