"""The engine's upon-rules (lines 22-67 of the Tendermint algorithm) at the edges mutation testing found
unpinned (./scripts/mutation consensus/engine.py::Engine._try_decide and the other rule functions).

Driven by hand like tests/consensus/test_engine.py: n = 4, height 1, KEYS[1] proposes round 0, the
engine under test is validator 0 unless a test says otherwise.
"""

from __future__ import annotations

from consensus.actions import BuildValue, Commit, PersistSafety, ValidateValue
from consensus.certificate import CommitCertificate
from consensus.crypto import hash_bytes
from consensus.engine import Engine
from consensus.events import (
    DecisionReceived,
    MessageReceived,
    StartHeight,
    TimeoutFired,
    ValueBuilt,
    ValueValidated,
)
from consensus.messages import Step, sign_precommit, sign_prevote, sign_proposal
from consensus.safety import SafetyRecord
from tests.consensus.helpers import CHAIN, KEYS, TIMEOUTS, broadcasts, feed, started, timeouts, validator_set

VALUE = b"block one"
VID = hash_bytes(VALUE)


def prevote(i: int, value_id: bytes | None = VID, round_: int = 0, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_prevote(KEYS[i], CHAIN, height, round_, value_id))


def precommit(i: int, value_id: bytes | None = VID, round_: int = 0, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_precommit(KEYS[i], CHAIN, height, round_, value_id))


def proposal(round_: int = 0, value: bytes = VALUE, valid_round: int = -1, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_proposal(KEYS[(height + round_) % 4], CHAIN, height, round_, value, valid_round))


def commits(actions: list) -> list[Commit]:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, Commit)]


# ---- deciding (lines 49-54) ----

def test_a_quorum_of_precommits_does_not_decide_a_value_not_yet_validated() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), precommit(1), precommit(2), precommit(3))
    assert any(isinstance(a, ValidateValue) for a in actions)
    assert commits(actions) == []
    decided = feed(engine, ValueValidated(1, VID, True))
    assert [(c.height, c.round, c.value) for c in commits(decided)] == [(1, 0, VALUE)]


def test_a_quorum_of_precommits_never_decides_a_value_found_invalid() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), precommit(1), precommit(2), precommit(3), ValueValidated(1, VID, False))
    assert commits(actions) == []


# ---- one event fires every rule it enables ----

def test_a_prevote_that_completes_a_polka_already_seen_is_followed_by_the_precommit_in_the_same_step() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, prevote(1), prevote(2), prevote(3), proposal())
    actions = feed(engine, ValueValidated(1, VID, True))
    assert [(type(m).__name__, m.value_id) for m in broadcasts(actions)] == [("Prevote", VID), ("Precommit", VID)]
    assert engine.locked_value_id == VID and engine.locked_round == 0


def test_a_decision_is_the_last_thing_the_engine_does_even_when_a_higher_round_beckons() -> None:
    # Locked on VALUE in round 0, then restarted with the value's bytes lost: 2f+1 precommits for it cannot
    # decide until a round 1 proposal brings the bytes back, the message that also makes f+1 senders
    # in round 1. The engine decides round 0 and does not go on to start round 1.
    engine, _ = started(KEYS[0])
    before = feed(engine, proposal(), ValueValidated(1, VID, True), prevote(1), prevote(2))
    assert engine.locked_value_id == VID
    record = [a for a in before if isinstance(a, PersistSafety)][-1].record
    revived = Engine(CHAIN, KEYS[0], TIMEOUTS, safety=record, values={})
    feed(revived, StartHeight(1, validator_set(4)), precommit(1), precommit(2), precommit(3, None, round_=1))
    assert revived._decided is False
    actions = feed(revived, proposal(round_=1, valid_round=0))
    assert isinstance(actions[-1], Commit) and (actions[-1].round, actions[-1].value) == (0, VALUE)
    assert timeouts(actions) == [] and revived.round == 0


# ---- lines 28-46: locks, valid values, precommits ----

def test_a_polka_seen_after_precommitting_nil_updates_the_valid_value_but_not_the_lock() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, TimeoutFired(1, 0, Step.PROPOSE), proposal(), TimeoutFired(1, 0, Step.PREVOTE))
    assert engine.step is Step.PRECOMMIT  # prevoted nil (the proposal came late), then precommitted nil
    actions = feed(engine, ValueValidated(1, VID, True), prevote(1), prevote(2), prevote(3))
    assert broadcasts(actions) == []
    assert (engine.valid_round, engine.valid_value) == (0, VALUE)  # lines 42-43
    assert (engine.locked_round, engine.locked_value_id) == (-1, None)  # lines 38-41 need the prevote step


def test_a_precommit_that_completes_a_quorum_already_seen_decides_in_the_same_step() -> None:
    engine, _ = started(KEYS[0])
    # Lines 47-48 fired already (three precommits, one nil); validator 0's precommit will make the third for VID.
    feed(engine, proposal(), precommit(1), precommit(2), precommit(3, None), prevote(1), prevote(2), prevote(3))
    actions = feed(engine, ValueValidated(1, VID, True))
    assert [(type(m).__name__, m.value_id) for m in broadcasts(actions)] == [("Prevote", VID), ("Precommit", VID)]
    assert [(c.round, c.value) for c in commits(actions)] == [(0, VALUE)]


def test_a_proposal_whose_valid_round_is_not_below_its_round_is_prevoted_for_by_no_rule() -> None:
    engine, _ = started(KEYS[0])
    # A polka for the value in round 0 itself: valid_round 0 in round 0 names no earlier round (line 28: vr < r).
    actions = feed(engine, prevote(1), prevote(2), prevote(3), proposal(valid_round=0), ValueValidated(1, VID, True))
    assert broadcasts(actions) == []
    # Only the propose timeout moves it: nil (then the polka's precommit, lines 36-43).
    assert broadcasts(feed(engine, TimeoutFired(1, 0, Step.PROPOSE)))[0] == sign_prevote(KEYS[0], CHAIN, 1, 0, None)


# ---- timeouts (lines 57-67) ----

def test_a_timeout_of_an_earlier_round_is_stale_counted_once_and_changes_nothing() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, TimeoutFired(1, 0, Step.PRECOMMIT))
    assert engine.round == 1
    stale = engine.counters.stale_events
    assert feed(engine, TimeoutFired(1, 0, Step.PRECOMMIT)) == []
    assert engine.round == 1 and engine.counters.stale_events == stale + 1


def test_a_timeout_after_the_decision_is_stale_counted_once_and_changes_nothing() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True), precommit(1), precommit(2), precommit(3))
    stale = engine.counters.stale_events
    assert feed(engine, TimeoutFired(1, 0, Step.PRECOMMIT)) == []
    assert engine.round == 0 and engine.counters.stale_events == stale + 1


# ---- decisions obtained by block sync ----

def certificate_of(value: bytes, height: int = 1, round_: int = 0) -> CommitCertificate:
    return CommitCertificate.from_precommits(
        sign_precommit(KEYS[i], CHAIN, height, round_, hash_bytes(value)) for i in (1, 2, 3))


def test_a_synced_decision_for_another_height_is_stale_counted_once_and_commits_nothing() -> None:
    engine, _ = started(KEYS[0])
    stale = engine.counters.stale_events
    assert feed(engine, DecisionReceived(VALUE, certificate_of(VALUE, height=2))) == []
    assert engine.counters.stale_events == stale + 1 and engine.counters.bad_decisions == 0


def test_a_synced_decision_after_the_height_is_decided_commits_nothing_more() -> None:
    engine, _ = started(KEYS[0])
    first = feed(engine, DecisionReceived(VALUE, certificate_of(VALUE)))
    assert len(commits(first)) == 1
    stale = engine.counters.stale_events
    assert feed(engine, DecisionReceived(VALUE, certificate_of(VALUE, round_=1))) == []
    assert engine.counters.stale_events == stale + 1


def test_a_synced_decision_before_any_height_started_is_stale() -> None:
    engine = Engine(CHAIN, KEYS[0], TIMEOUTS)
    assert engine.handle(DecisionReceived(VALUE, certificate_of(VALUE)), 0.0) == []
    assert engine.counters.stale_events == 1


def test_a_synced_decision_whose_certificate_lacks_a_quorum_is_a_bad_decision_and_commits_nothing() -> None:
    engine, _ = started(KEYS[0])
    short = CommitCertificate.from_precommits(sign_precommit(KEYS[i], CHAIN, 1, 0, VID) for i in (1, 2))
    assert feed(engine, DecisionReceived(VALUE, short)) == []
    assert engine.counters.bad_decisions == 1
    assert len(commits(feed(engine, DecisionReceived(VALUE, certificate_of(VALUE))))) == 1


# ---- what is persisted beside a vote ----

def test_the_polka_behind_a_valid_value_without_a_lock_is_persisted_with_the_next_vote() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, TimeoutFired(1, 0, Step.PROPOSE), proposal(), TimeoutFired(1, 0, Step.PREVOTE),
         ValueValidated(1, VID, True), prevote(1), prevote(2), prevote(3))
    assert (engine.valid_round, engine.locked_round) == (0, -1)
    actions = feed(engine, TimeoutFired(1, 0, Step.PRECOMMIT), TimeoutFired(1, 1, Step.PROPOSE))
    assert broadcasts(actions) == [sign_prevote(KEYS[0], CHAIN, 1, 1, None)]
    record = [a.record for a in actions if isinstance(a, PersistSafety)][-1]
    assert set(record.justification) == {prevote(i).message for i in (1, 2, 3)}


# ---- answers of the node: built and validated values ----

def test_a_built_value_nobody_asked_for_is_stale_counted_once_and_proposes_nothing() -> None:
    engine, _ = started(KEYS[0])  # not the proposer of round 0: it asked for no value
    assert feed(engine, ValueBuilt(1, 0, VALUE)) == []
    assert engine.counters.stale_events == 1


def test_a_built_value_arriving_after_the_decision_is_stale_and_proposes_nothing() -> None:
    engine, started_actions = started(KEYS[1])  # the proposer of round 0: it asked for a value
    assert any(isinstance(a, BuildValue) for a in started_actions)
    feed(engine, DecisionReceived(VALUE, certificate_of(VALUE)))
    assert feed(engine, ValueBuilt(1, 0, VALUE)) == []
    assert engine.counters.stale_events == 1


def test_a_validation_answer_for_another_height_or_an_unknown_value_is_stale_counted_once() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal())
    assert feed(engine, ValueValidated(2, VID, True)) == []
    assert engine.counters.stale_events == 1
    assert feed(engine, ValueValidated(1, hash_bytes(b"never proposed"), True)) == []
    assert engine.counters.stale_events == 2
    assert broadcasts(feed(engine, ValueValidated(1, VID, True))) == [sign_prevote(KEYS[0], CHAIN, 1, 0, VID)]


def test_a_validation_answer_after_the_decision_is_stale() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), DecisionReceived(VALUE, certificate_of(VALUE)))
    assert feed(engine, ValueValidated(1, VID, True)) == []
    assert engine.counters.stale_events == 1


def test_the_first_validation_verdict_on_a_value_stands() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True))
    assert feed(engine, ValueValidated(1, VID, False)) == []
    assert len(commits(feed(engine, precommit(1), precommit(2), precommit(3)))) == 1


def test_a_value_is_built_for_one_proposal_only_even_when_signing_it_was_refused() -> None:
    # A record from a later height refuses every signature: the built value is not proposed, and a second
    # answer for the same round is stale, not a second attempt.
    record = SafetyRecord.initial().after_signing(sign_prevote(KEYS[1], CHAIN, 7, 0, None))
    engine = Engine(CHAIN, KEYS[1], TIMEOUTS, safety=record)
    assert any(isinstance(a, BuildValue) for a in engine.handle(StartHeight(1, validator_set(4)), 0.0))
    assert broadcasts(feed(engine, ValueBuilt(1, 0, VALUE), ValueBuilt(1, 0, VALUE))) == []
    assert (engine.counters.refused_to_sign, engine.counters.stale_events) == (1, 1)
