"""The engine's rules one at a time, driven by hand (n = 4, height 1: KEYS[1] proposes round 0)."""

import pytest

from consensus.actions import Broadcast, BuildValue, Commit, PersistSafety, ReportEvidence, ValidateValue
from consensus.certificate import CommitCertificate
from consensus.crypto import hash_bytes
from consensus.engine import Engine, EngineLimits
from consensus.events import (
    DecisionReceived,
    MessageReceived,
    StartHeight,
    TimeoutFired,
    ValueBuilt,
    ValueValidated,
)
from consensus.evidence import Evidence
from consensus.messages import (
    Precommit,
    Prevote,
    Proposal,
    ProposalRef,
    Step,
    sign_precommit,
    sign_prevote,
    sign_proposal,
)
from tests.consensus.helpers import (
    CHAIN,
    KEYS,
    broadcasts,
    feed,
    started,
    timeouts,
    validator_set,
)

VALUE = b"block one"
VID = hash_bytes(VALUE)
OTHER = b"block two"
OID = hash_bytes(OTHER)


def proposal(round_: int = 0, value: bytes = VALUE, valid_round: int = -1, height: int = 1) -> MessageReceived:
    key = KEYS[(height + round_) % 4]
    return MessageReceived(sign_proposal(key, CHAIN, height, round_, value, valid_round))


def prevotes(signers: list[int], value_id: bytes | None = VID, round_: int = 0, height: int = 1) -> list[MessageReceived]:
    return [MessageReceived(sign_prevote(KEYS[i], CHAIN, height, round_, value_id)) for i in signers]


def precommits(signers: list[int], value_id: bytes | None = VID, round_: int = 0,
               height: int = 1) -> list[MessageReceived]:
    return [MessageReceived(sign_precommit(KEYS[i], CHAIN, height, round_, value_id)) for i in signers]


def test_the_proposer_builds_a_value_then_persists_before_proposing_it() -> None:
    engine, actions = started(KEYS[1])
    assert BuildValue(1, 0) in actions
    actions = feed(engine, ValueBuilt(1, 0, VALUE))
    kinds = [type(a) for a in actions]
    assert kinds[:2] == [PersistSafety, Broadcast]
    sent = broadcasts(actions)
    assert isinstance(sent[0], Proposal) and sent[0].value == VALUE and sent[0].valid_round == -1
    # Its own proposal is valid to it, so it prevotes it right away, again persisting first.
    assert kinds[2:4] == [PersistSafety, Broadcast] and sent[1] == sign_prevote(KEYS[1], CHAIN, 1, 0, VID)


def test_every_broadcast_is_preceded_by_a_persisted_record_that_covers_it() -> None:
    engine, _ = started(KEYS[1])
    actions = feed(engine, ValueBuilt(1, 0, VALUE), *prevotes([0, 2]), *precommits([0, 2]))
    for i, action in enumerate(actions):
        if isinstance(action, Broadcast):
            record = actions[i - 1]
            assert isinstance(record, PersistSafety) and record.record.covers(action.message)


def test_a_validator_waits_for_the_validity_answer_before_prevoting() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal())
    assert [a for a in actions if isinstance(a, ValidateValue)] == [ValidateValue(1, 0, VID, VALUE)]
    assert broadcasts(actions) == []
    actions = feed(engine, ValueValidated(1, VID, True))
    assert broadcasts(actions) == [sign_prevote(KEYS[0], CHAIN, 1, 0, VID)]


def test_an_invalid_proposal_gets_a_nil_prevote() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), ValueValidated(1, VID, False))
    assert broadcasts(actions) == [sign_prevote(KEYS[0], CHAIN, 1, 0, None)]


def test_without_a_proposal_in_time_the_validator_prevotes_nil() -> None:
    engine, actions = started(KEYS[0])
    assert [(t.step, t.at) for t in timeouts(actions)] == [(Step.PROPOSE, 3.0)]
    actions = feed(engine, TimeoutFired(1, 0, Step.PROPOSE), now=3.0)
    assert broadcasts(actions) == [sign_prevote(KEYS[0], CHAIN, 1, 0, None)]


def test_a_timeout_of_a_round_already_left_does_nothing() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True))
    assert broadcasts(feed(engine, TimeoutFired(1, 0, Step.PROPOSE))) == []
    assert engine.counters.stale_events == 1


def test_timeouts_grow_with_the_round() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, TimeoutFired(1, 0, Step.PROPOSE))
    actions = feed(engine, *prevotes([1, 2], None))
    assert [(t.step, t.at) for t in timeouts(actions)] == [(Step.PREVOTE, 1.0)]
    actions = feed(engine, TimeoutFired(1, 0, Step.PREVOTE), *precommits([1, 2], None), now=1.0)
    assert [(t.step, t.at) for t in timeouts(actions)] == [(Step.PRECOMMIT, 2.0)]
    actions = feed(engine, TimeoutFired(1, 0, Step.PRECOMMIT), now=2.0)
    assert engine.round == 1
    assert [(t.step, t.at) for t in timeouts(actions)] == [(Step.PROPOSE, 2.0 + 3.0 + 1.0)]


def test_a_quorum_of_prevotes_locks_the_value_and_precommits_it() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), ValueValidated(1, VID, True), *prevotes([1, 2]))
    assert broadcasts(actions)[-1] == sign_precommit(KEYS[0], CHAIN, 1, 0, VID)
    assert (engine.locked_round, engine.locked_value_id) == (0, VID)
    assert (engine.valid_round, engine.valid_value) == (0, VALUE)


def test_a_quorum_of_nil_prevotes_gives_a_nil_precommit() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, TimeoutFired(1, 0, Step.PROPOSE), *prevotes([1, 2], None))
    assert broadcasts(actions)[-1] == sign_precommit(KEYS[0], CHAIN, 1, 0, None)
    assert engine.locked_round == -1


def test_a_proposal_and_a_quorum_of_precommits_commit_with_a_verifiable_certificate() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), ValueValidated(1, VID, True), *precommits([1, 2, 3]))
    commits = [a for a in actions if isinstance(a, Commit)]
    assert len(commits) == 1 and commits[0].value == VALUE and commits[0].height == 1
    commits[0].certificate.verify(CHAIN, validator_set(4))
    assert engine.decided
    # The next height starts only when the node says so, with the set it read from its state.
    feed(engine, StartHeight(2, validator_set(4)))
    assert (engine.height, engine.round, engine.decided) == (2, 0, False)


def test_a_decision_from_an_earlier_round_is_taken_whatever_the_current_round() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, *prevotes([2, 3], None, round_=4))  # f+1 in round 4: skip there
    assert engine.round == 4
    actions = feed(engine, proposal(), ValueValidated(1, VID, True), *precommits([1, 2, 3]))
    assert [a.round for a in actions if isinstance(a, Commit)] == [0]


def test_a_locked_validator_prevotes_nil_for_another_fresh_value() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True), *prevotes([1, 2]))
    feed(engine, *precommits([1, 2], None), TimeoutFired(1, 0, Step.PRECOMMIT))
    assert engine.round == 1
    actions = feed(engine, proposal(round_=1, value=OTHER), ValueValidated(1, OID, True))
    assert broadcasts(actions) == [sign_prevote(KEYS[0], CHAIN, 1, 1, None)]


def test_a_locked_validator_accepts_another_value_backed_by_a_later_polka() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True), *prevotes([1, 2]))
    feed(engine, *precommits([1, 2], None), TimeoutFired(1, 0, Step.PRECOMMIT))
    feed(engine, *prevotes([1, 2, 3], OID, round_=1), TimeoutFired(1, 1, Step.PROPOSE))
    feed(engine, *precommits([1, 2], None, round_=1), TimeoutFired(1, 1, Step.PRECOMMIT))
    assert engine.round == 2
    # Round 2's proposer re-proposes OTHER with valid_round 1: the polka of round 1 beats our lock of round 0.
    actions = feed(engine, proposal(round_=2, value=OTHER, valid_round=1), ValueValidated(1, OID, True))
    assert broadcasts(actions)[0] == sign_prevote(KEYS[0], CHAIN, 1, 2, OID)


def test_f_plus_one_messages_from_a_higher_round_make_the_validator_skip_to_it() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, *prevotes([2], None, round_=5))
    assert engine.round == 0
    feed(engine, *precommits([3], None, round_=5))
    assert engine.round == 5


def test_an_observer_follows_and_commits_without_ever_signing() -> None:
    engine, actions = started(None)
    actions += feed(engine, proposal(), ValueValidated(1, VID, True), *prevotes([1, 2, 3]),
                    TimeoutFired(1, 0, Step.PROPOSE), *precommits([1, 2, 3]))
    assert not [a for a in actions if isinstance(a, (Broadcast, PersistSafety, BuildValue))]
    assert len([a for a in actions if isinstance(a, Commit)]) == 1


def test_bad_signatures_outsiders_wrong_proposers_and_duplicates_are_dropped_and_counted() -> None:
    engine, _ = started(KEYS[0])
    good = sign_prevote(KEYS[1], CHAIN, 1, 0, VID)
    forged = Prevote(1, 0, VID, KEYS[2].public_key, good.signature)
    outsider = sign_prevote(KEYS[7], CHAIN, 1, 0, VID)
    usurper = sign_proposal(KEYS[3], CHAIN, 1, 0, VALUE, -1)
    for message in (good, good, forged, outsider, usurper):
        assert feed(engine, MessageReceived(message)) == []
    c = engine.counters
    assert (c.accepted, c.duplicate, c.bad_signature, c.unknown_validator, c.wrong_proposer) == (1, 1, 1, 1, 1)


def test_messages_for_a_past_height_are_dropped_and_counted() -> None:
    engine, _ = started(KEYS[0], height=5)
    feed(engine, *prevotes([1], height=4))
    assert engine.counters.stale_height == 1


def test_messages_for_a_future_height_are_buffered_and_replayed_when_it_starts() -> None:
    engine, _ = started(KEYS[0])
    early = [*prevotes([1, 2, 3], OID, height=2), proposal(height=2, value=OTHER)]
    assert feed(engine, *early) == []
    assert engine.counters.buffered == 4
    feed(engine, proposal(), ValueValidated(1, VID, True), *precommits([1, 2, 3]))
    actions = feed(engine, StartHeight(2, validator_set(4)))
    assert ValidateValue(2, 0, OID, OTHER) in actions


def test_the_future_height_buffer_is_bounded() -> None:
    engine, _ = started(KEYS[0], limits=EngineLimits(max_buffered_messages=2))
    feed(engine, *prevotes([1, 2, 3], height=2), *prevotes([1], height=9))
    assert (engine.counters.buffered, engine.counters.buffer_full) == (2, 2)


def test_conflicting_votes_are_reported_as_evidence_naming_the_validator() -> None:
    engine, _ = started(KEYS[0])
    first, second = prevotes([2], VID)[0], prevotes([2], OID)[0]
    feed(engine, first)
    actions = feed(engine, second)
    reports = [a.evidence for a in actions if isinstance(a, ReportEvidence)]
    assert len(reports) == 1 and reports[0].validator == KEYS[2].public_key
    assert reports[0].is_valid(CHAIN) and engine.evidence == reports
    # The second vote's value (OID) has no other voter: it is evidence but not kept. A vote for nil
    # (always endorsed) is kept and counted; no second piece of evidence for the slot.
    feed(engine, prevotes([2], None)[0])
    assert engine.counters.equivocations == 1 and engine.counters.conflicts_dropped == 1
    assert engine._rounds[0].prevotes.count(None) == 1 and engine._rounds[0].prevotes.count(OID) == 0


def test_an_equivocating_proposer_is_reported() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(value=VALUE), proposal(value=OTHER))
    reports = [a.evidence for a in actions if isinstance(a, ReportEvidence)]
    assert [r.validator for r in reports] == [KEYS[1].public_key]
    # Proposals are kept by reference: evidence never holds a block, whatever its size.
    assert isinstance(reports[0].first, ProposalRef) and isinstance(reports[0].second, ProposalRef)
    assert reports[0].is_valid(CHAIN) and Evidence.decode(reports[0].encode()) == reports[0]
    assert len(reports[0].encode()) < 400


def test_evidence_of_a_proposer_signing_two_huge_blocks_stays_small_and_decodes() -> None:
    engine, _ = started(KEYS[0])
    huge = b"h" * (17 * 1024 * 1024)
    actions = feed(engine, proposal(value=huge), proposal(value=huge + b"!"))
    [report] = [a.evidence for a in actions if isinstance(a, ReportEvidence)]
    assert len(report.encode()) < 400 and Evidence.decode(report.encode()).is_valid(CHAIN)


def test_a_synced_decision_with_a_valid_certificate_commits() -> None:
    engine, _ = started(KEYS[0])
    cert_votes = [m.message for m in precommits([1, 2, 3])]
    assert all(isinstance(v, Precommit) for v in cert_votes)
    cert = CommitCertificate.from_precommits(v for v in cert_votes if isinstance(v, Precommit))
    assert feed(engine, DecisionReceived(OTHER, cert)) == []  # value does not match the certificate
    actions = feed(engine, DecisionReceived(VALUE, cert))
    assert [a.value for a in actions if isinstance(a, Commit)] == [VALUE]
    assert engine.counters.bad_decisions == 1


def test_an_event_of_an_unknown_kind_is_a_caller_bug_and_fails_loudly() -> None:
    with pytest.raises(TypeError):
        Engine(CHAIN, KEYS[0]).handle("not an event", 0.0)  # type: ignore[arg-type]
