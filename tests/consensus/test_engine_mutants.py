"""Engine behaviours that mutation testing found no test pinned down (./scripts/mutation consensus/engine.py).

Driven by hand like tests/consensus/test_engine.py: n = 4, height 1, KEYS[1] proposes round 0, the
engine under test is validator 0 unless a test says otherwise.
"""

from __future__ import annotations

import dataclasses

from consensus.actions import Action, PersistSafety, ReportEvidence, ValidateValue
from consensus.crypto import hash_bytes, verify
from consensus.engine import Counters, Engine, EngineLimits, _size
from consensus.events import MessageReceived, StartHeight, TimeoutFired, ValueBuilt, ValueValidated
from consensus.messages import (
    Precommit,
    Prevote,
    Proposal,
    SignedMessage,
    Step,
    sign_precommit,
    sign_prevote,
    sign_proposal,
)
from consensus.safety import SafetyRecord
from tests.consensus.helpers import CHAIN, KEYS, TIMEOUTS, broadcasts, feed, started, timeouts, validator_set

VALUE = b"block one"
VID = hash_bytes(VALUE)
OID = hash_bytes(b"block two")


def prevote(i: int, value_id: bytes | None = VID, round_: int = 0, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_prevote(KEYS[i], CHAIN, height, round_, value_id))


def precommit(i: int, value_id: bytes | None = VID, round_: int = 0, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_precommit(KEYS[i], CHAIN, height, round_, value_id))


def proposal(round_: int = 0, value: bytes = VALUE, valid_round: int = -1, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_proposal(KEYS[(height + round_) % 4], CHAIN, height, round_, value, valid_round))


def counting_verifier(checked: list[bytes]):  # type: ignore[no-untyped-def]
    def check(key: bytes, digest: bytes, signature: bytes) -> bool:
        checked.append(signature)
        return verify(key, digest, signature)
    return check


# ---- what is dropped before the log ----


def test_a_message_before_any_height_started_is_dropped_as_stale() -> None:
    engine = Engine(CHAIN, KEYS[0])
    assert engine.handle(prevote(1), 0.0) == []
    assert engine.counters.stale_events == 1 and engine.counters.accepted == 0


def test_a_message_of_the_decided_height_is_dropped_as_stale() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True), precommit(1), precommit(2), precommit(3))
    assert engine.decided
    feed(engine, prevote(2))
    assert engine.counters.stale_height == 1 and KEYS[2].public_key not in engine._rounds[0].prevotes.first


def test_messages_up_to_max_future_rounds_ahead_are_kept_and_further_ones_dropped() -> None:
    engine, _ = started(KEYS[0], limits=EngineLimits(max_future_rounds=3))
    feed(engine, prevote(2, None, round_=3), prevote(2, None, round_=4))
    assert engine.counters.round_too_far == 1 and engine.counters.accepted == 1
    assert 3 in engine._rounds and 4 not in engine._rounds


def test_a_start_height_for_a_height_already_started_is_ignored() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, prevote(1))
    feed(engine, StartHeight(1, validator_set(4)))
    assert engine.counters.stale_events == 1 and engine._rounds[0].prevotes.count(VID) == 1


# ---- the future-height buffer ----


def test_messages_up_to_max_future_heights_ahead_are_buffered_and_further_ones_dropped() -> None:
    engine, _ = started(KEYS[0], limits=EngineLimits(max_future_heights=2))
    feed(engine, prevote(1, height=3), prevote(1, height=4))
    assert (engine.counters.buffered, engine.counters.buffer_full) == (1, 1)


def test_a_signer_may_fill_its_future_height_byte_budget_exactly() -> None:
    size = _size(sign_prevote(KEYS[1], CHAIN, 2, 0, VID))
    engine, _ = started(KEYS[0], limits=EngineLimits(max_buffered_bytes_per_signer=2 * size))
    feed(engine, prevote(1, height=2), prevote(1, None, height=2), prevote(1, OID, height=2))
    assert (engine.counters.buffered, engine.counters.over_budget) == (2, 1)
    assert engine.memory_by_signer() == {KEYS[1].public_key: 2 * size}


def test_the_byte_budget_of_the_future_height_buffer_is_per_signer() -> None:
    size = _size(sign_prevote(KEYS[1], CHAIN, 2, 0, VID))
    engine, _ = started(KEYS[0], limits=EngineLimits(max_buffered_bytes_per_signer=size))
    feed(engine, prevote(1, height=2), prevote(2, height=2), prevote(3, height=2))
    assert (engine.counters.buffered, engine.counters.over_budget) == (3, 0)


def test_a_future_height_message_is_verified_once_not_again_when_its_height_starts() -> None:
    checked: list[bytes] = []
    engine, _ = started(KEYS[0], verifier=counting_verifier(checked))
    feed(engine, prevote(1, height=2))
    feed(engine, proposal(), ValueValidated(1, VID, True), precommit(1), precommit(2), precommit(3))
    before = len(checked)
    feed(engine, StartHeight(2, validator_set(4)))
    assert len(checked) == before and engine._rounds[0].prevotes.count(VID) == 1


def test_buffered_messages_move_into_the_log_when_their_height_starts_and_leave_the_buffer() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, prevote(1, height=2), proposal(), ValueValidated(1, VID, True),
         precommit(1), precommit(2), precommit(3))
    feed(engine, StartHeight(2, validator_set(4)))
    assert engine.memory_by_signer() == {KEYS[1].public_key: 160}
    assert engine._rounds[0].prevotes.count(VID) == 1


# ---- memory and evidence ----


def test_memory_by_signer_adds_up_each_signers_kept_messages() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), prevote(1), prevote(1, None), prevote(2), prevote(2, OID, round_=1))
    usage = engine.memory_by_signer()
    assert usage[KEYS[1].public_key] == _size(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)) + 2 * 160
    assert usage[KEYS[2].public_key] == 2 * 160 and KEYS[3].public_key not in usage


def test_one_piece_of_evidence_per_validator_round_and_kind() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, prevote(2), prevote(2, None), prevote(2, OID),         # round 0 prevotes: one
                   precommit(2), precommit(2, None),                             # round 0 precommits: one
                   prevote(2, round_=1), prevote(2, None, round_=1),             # round 1 prevotes: one
                   prevote(3), prevote(3, None))                                 # another validator: one
    reports = [a.evidence for a in actions if isinstance(a, ReportEvidence)]
    assert [(r.validator, r.round, r.kind) for r in reports] == [
        (KEYS[2].public_key, 0, 1), (KEYS[2].public_key, 0, 2), (KEYS[2].public_key, 1, 1),
        (KEYS[3].public_key, 0, 1)]
    assert engine.counters.equivocations == 4 and engine.evidence == reports


def test_the_engine_keeps_only_the_current_heights_evidence() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, prevote(2), prevote(2, None))
    assert len(engine.evidence) == 1
    feed(engine, proposal(), ValueValidated(1, VID, True), precommit(1), precommit(2), precommit(3))
    feed(engine, StartHeight(2, validator_set(4)))
    assert engine.evidence == [] and engine.counters.equivocations == 1
    actions = feed(engine, prevote(2, height=2), prevote(2, None, height=2))
    assert len([a for a in actions if isinstance(a, ReportEvidence)]) == 1 and len(engine.evidence) == 1


def test_valid_value_is_none_until_a_polka_then_the_values_bytes() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True), prevote(1))
    assert (engine.valid_value_id, engine.valid_value) == (None, None)
    feed(engine, prevote(2))
    assert (engine.valid_value_id, engine.valid_value) == (VID, VALUE)


def test_before_its_first_height_an_engine_reports_height_minus_one_round_zero_propose_unlocked() -> None:
    engine = Engine(CHAIN, KEYS[0])  # what the status API shows of a node still starting
    assert (engine.height, engine.round, engine.step, engine.locked_round, engine.valid_round) \
        == (-1, 0, Step.PROPOSE, -1, -1)
    assert (engine.locked_value_id, engine.valid_value_id, engine.decided) == (None, None, False)


def test_a_new_height_starts_unlocked_in_round_zero() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, proposal(), ValueValidated(1, VID, True), prevote(1), prevote(2),
         precommit(1), precommit(2), precommit(3))
    assert engine.locked_round == 0 and engine.decided
    feed(engine, StartHeight(2, validator_set(4)))
    assert (engine.round, engine.locked_round, engine.locked_value_id, engine.valid_round, engine.valid_value) \
        == (0, -1, None, -1, None)
    assert engine.own_messages() == [] and engine.known_messages() == []


# ---- the default limits (docs/consensus.md, "Bounded memory") ----
# Signatures are not what these tests are about: the engine checks them with a verifier that accepts
# anything, so thousands of messages cost no signing.

MIB = 1024 * 1024
NO_SIGNATURE = bytes(64)


def accept_any(key: bytes, digest: bytes, signature: bytes) -> bool:
    return True


def unsigned_prevote(i: int, round_: int, height: int = 1, value_id: bytes | None = None) -> MessageReceived:
    return MessageReceived(Prevote(height, round_, value_id, KEYS[i].public_key, NO_SIGNATURE))


def unsigned_proposal(round_: int, value: bytes, height: int = 1) -> MessageReceived:
    return MessageReceived(Proposal(height, round_, value, -1, KEYS[(height + round_) % 4].public_key, NO_SIGNATURE))


def test_a_fresh_engine_has_every_counter_at_zero_and_reports_them_all_by_name() -> None:
    counters = Engine(CHAIN, KEYS[0]).counters.as_dict()
    assert set(counters) == {f.name for f in dataclasses.fields(Counters)} and set(counters.values()) == {0}


def test_by_default_ten_thousand_future_height_messages_are_buffered_in_all() -> None:
    engine, _ = started(KEYS[0], verifier=accept_any)
    flood = [unsigned_prevote(i, r, height=2) for r in range(2_500) for i in range(4)]
    feed(engine, *flood, unsigned_prevote(0, 2_500, height=2))
    assert (engine.counters.buffered, engine.counters.buffer_full) == (10_000, 1)


def test_by_default_a_signer_may_buffer_four_mib_for_future_heights() -> None:
    engine, _ = started(KEYS[0], verifier=accept_any)
    # KEYS[2] proposes at height 2 in rounds 0, 4, 8, ...
    feed(engine, unsigned_proposal(0, b"f" * (4 * MIB - 160 - 160), height=2), unsigned_prevote(2, 0, height=2),
         unsigned_prevote(2, 1, height=2))
    assert (engine.counters.buffered, engine.counters.over_budget) == (2, 1)
    assert engine.memory_by_signer() == {KEYS[2].public_key: 4 * MIB}


def test_by_default_messages_two_heights_ahead_are_buffered_and_three_ahead_dropped() -> None:
    engine, _ = started(KEYS[0], verifier=accept_any)
    feed(engine, unsigned_prevote(1, 0, height=3), unsigned_prevote(1, 0, height=4))
    assert (engine.counters.buffered, engine.counters.buffer_full) == (1, 1)


def test_by_default_messages_a_thousand_rounds_ahead_are_kept_and_further_ones_dropped() -> None:
    engine, _ = started(KEYS[0], verifier=accept_any)
    feed(engine, unsigned_prevote(1, 1_000), unsigned_prevote(1, 1_001))
    assert (engine.counters.accepted, engine.counters.round_too_far) == (1, 1)


def test_by_default_four_distinct_proposals_of_one_round_are_kept() -> None:
    engine, _ = started(KEYS[0], verifier=accept_any)
    feed(engine, *[unsigned_proposal(0, b"value %d" % i) for i in range(5)])
    assert len(engine._rounds[0].proposals) == 4 and engine.counters.conflicts_dropped == 1


def test_by_default_a_proposer_may_keep_64_mib_of_proposals_at_the_current_height() -> None:
    engine, _ = started(KEYS[0], verifier=accept_any)
    # KEYS[1] proposes at height 1 in rounds 0, 4, 8, ...: 63 MiB and 1 MiB fit exactly, one byte more not.
    feed(engine, unsigned_proposal(0, b"a" * (63 * MIB - 160)), unsigned_proposal(4, b"b" * (MIB - 160)))
    assert engine.counters.over_budget == 0 and len(engine._rounds[4].proposals) == 1
    feed(engine, unsigned_proposal(8, b"c"))
    assert engine.counters.over_budget == 1 and 8 not in engine._rounds


# ---- a restart resumes from the safety record ----


def locked_validator_2() -> tuple[SafetyRecord, dict[bytes, bytes], list[SignedMessage]]:
    """Validator 2 (proposer of round 1) prevotes and locks VALUE in round 0: its last record and values."""
    engine, _ = started(KEYS[2])
    actions = feed(engine, proposal(), ValueValidated(1, VID, True), prevote(1), prevote(3))
    assert engine.locked_value_id == VID
    last = [a for a in actions if isinstance(a, PersistSafety)][-1]
    return last.record, dict(last.values), broadcasts(actions)


def restarted(key_index: int, record: SafetyRecord, values: dict[bytes, bytes]) -> tuple[Engine, list[Action]]:
    engine = Engine(CHAIN, KEYS[key_index], TIMEOUTS, safety=record, values=values)
    return engine, engine.handle(StartHeight(1, validator_set(4)), 100.0)


def test_a_restarted_validator_keeps_its_valid_value_with_its_bytes_and_its_own_messages() -> None:
    record, values, sent = locked_validator_2()
    engine, _ = restarted(2, record, values)
    assert (engine.valid_round, engine.valid_value_id, engine.valid_value) == (0, VID, VALUE)
    assert engine.own_messages() == sent


def test_a_restarted_proposer_re_proposes_its_valid_value_and_prevotes_it_without_asking_again() -> None:
    record, values, _ = locked_validator_2()
    engine, _ = restarted(2, record, values)
    actions = feed(engine, TimeoutFired(1, 0, Step.PRECOMMIT))
    assert broadcasts(actions) == [sign_proposal(KEYS[2], CHAIN, 1, 1, VALUE, 0),
                                   sign_prevote(KEYS[2], CHAIN, 1, 1, VID)]
    assert not [a for a in actions if isinstance(a, ValidateValue)]  # it judged VALUE valid before


def test_a_restarted_validator_that_lost_its_valid_values_bytes_takes_them_from_a_peers_proposal() -> None:
    record, _, _ = locked_validator_2()
    engine, _ = restarted(2, record, {})
    assert (engine.valid_value_id, engine.valid_value) == (VID, None)
    feed(engine, proposal())
    assert engine.valid_value == VALUE


def test_a_restarted_proposer_that_lost_its_proposal_prevotes_it_when_a_peer_sends_it_back() -> None:
    engine, _ = started(KEYS[1])
    actions = feed(engine, ValueBuilt(1, 0, VALUE))
    first_record = next(a.record for a in actions if isinstance(a, PersistSafety))  # the proposal only
    revived, resumed = restarted(1, first_record, {})
    assert [t.step for t in timeouts(resumed)] == [Step.PROPOSE]  # it waits in the propose step, as before
    back = feed(revived, proposal())
    assert not [a for a in back if isinstance(a, ValidateValue)]  # its own value: valid to it
    assert broadcasts(back) == [sign_prevote(KEYS[1], CHAIN, 1, 0, VID)]


def test_a_validator_restarted_after_voting_schedules_no_propose_timeout() -> None:
    record, values, _ = locked_validator_2()
    _, resumed = restarted(2, record, values)
    assert timeouts(resumed) == []


def test_a_proposer_restarted_right_after_proposing_resends_its_proposal_and_prevotes_it_at_once() -> None:
    engine, _ = started(KEYS[1])
    actions = feed(engine, ValueBuilt(1, 0, VALUE))
    first = next(a for a in actions if isinstance(a, PersistSafety))  # persisted with the proposal only
    _, resumed = restarted(1, first.record, dict(first.values))
    assert broadcasts(resumed) == [sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1),
                                   sign_prevote(KEYS[1], CHAIN, 1, 0, VID)]


def test_a_restarted_proposer_that_lost_its_valid_values_bytes_proposes_nothing_until_they_return() -> None:
    record, _, _ = locked_validator_2()
    engine, _ = restarted(2, record, {})
    actions = feed(engine, TimeoutFired(1, 0, Step.PRECOMMIT))
    assert engine.round == 1 and broadcasts(actions) == []


def test_a_message_received_again_is_not_verified_again() -> None:
    checked: list[bytes] = []
    engine, _ = started(KEYS[0], verifier=counting_verifier(checked))
    feed(engine, *[prevote(1)] * 5)
    assert len(checked) == 1 and engine.counters.duplicate == 4


def test_a_future_height_message_received_twice_is_buffered_once_and_counted_as_one_duplicate() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, prevote(1, height=2), prevote(1, height=2))
    assert (engine.counters.buffered, engine.counters.duplicate) == (1, 1)


# ---- a proposer's byte budget at the current height: eviction of old, unneeded proposals ----
# KEYS[1] proposes at height 1 in rounds 0, 4, 8, ...; KEYS[2] in rounds 1, 5, 9, ... A proposal of a
# 1,000-byte value costs 1,160 bytes; the budget holds two.

COST = 1_160


def budgeted(proposals: int = 2) -> Engine:
    engine, _ = started(KEYS[0], verifier=accept_any,
                        limits=EngineLimits(max_proposal_bytes_per_signer=proposals * COST))
    return engine


def value(tag: str, length: int = 1_000) -> bytes:
    return tag.encode() * length


def advance_to(engine: Engine, round_: int) -> None:
    while engine.round < round_:
        feed(engine, TimeoutFired(1, engine.round, Step.PRECOMMIT))


def kept(engine: Engine, round_: int) -> list[bytes]:
    log = engine._rounds.get(round_)
    return [] if log is None else [p.value for p in log.proposals.values()]


def test_a_proposers_first_proposal_may_fill_its_budget_exactly_and_not_one_byte_more() -> None:
    engine = budgeted(proposals=1)
    feed(engine, unsigned_proposal(0, value("x", 1_001)), unsigned_proposal(0, value("a")))
    assert kept(engine, 0) == [value("a")] and engine.counters.over_budget == 1


def test_the_oldest_unneeded_proposal_is_evicted_just_enough_to_make_room() -> None:
    engine = budgeted()
    feed(engine, unsigned_proposal(0, value("a")), unsigned_proposal(4, value("b")))
    advance_to(engine, 8)
    feed(engine, unsigned_proposal(8, value("c")))
    assert (kept(engine, 0), kept(engine, 4), kept(engine, 8)) == ([], [value("b")], [value("c")])
    assert engine.counters.evicted == 1 and engine.counters.over_budget == 0
    assert engine.memory_by_signer()[KEYS[1].public_key] == 2 * COST


def test_as_many_old_proposals_are_evicted_as_the_new_one_needs() -> None:
    engine = budgeted()
    feed(engine, unsigned_proposal(0, value("a")), unsigned_proposal(4, value("b")))
    advance_to(engine, 8)
    feed(engine, unsigned_proposal(8, value("c", 2_000)))
    assert (kept(engine, 0), kept(engine, 4), kept(engine, 8)) == ([], [], [value("c", 2_000)])
    assert engine.counters.evicted == 2


def test_only_the_signers_own_proposals_are_evicted() -> None:
    engine = budgeted()
    feed(engine, unsigned_proposal(0, value("k")))  # KEYS[1]'s, older than anything of KEYS[2]
    advance_to(engine, 1)
    feed(engine, unsigned_proposal(1, value("a")))
    advance_to(engine, 5)
    feed(engine, unsigned_proposal(5, value("b")))
    advance_to(engine, 9)
    feed(engine, unsigned_proposal(9, value("c")))
    assert (kept(engine, 0), kept(engine, 1), kept(engine, 9)) == ([value("k")], [], [value("c")])


def test_proposals_of_the_current_round_are_never_evicted() -> None:
    engine = budgeted()
    feed(engine, *[unsigned_proposal(0, value(tag)) for tag in "abc"])
    assert kept(engine, 0) == [value("a"), value("b")] and engine.counters.evicted == 0
    assert engine.counters.over_budget == 1


def test_a_proposal_whose_value_prevotes_endorse_is_never_evicted() -> None:
    engine = budgeted()
    feed(engine, unsigned_proposal(0, value("a")), unsigned_prevote(2, 0, value_id=hash_bytes(value("a"))),
         unsigned_prevote(3, 0, value_id=hash_bytes(value("a"))), unsigned_proposal(4, value("b")))
    advance_to(engine, 8)
    feed(engine, unsigned_proposal(8, value("c")))
    assert (kept(engine, 0), kept(engine, 4)) == ([value("a")], [])


def test_a_proposal_whose_value_precommits_endorse_is_never_evicted() -> None:
    engine = budgeted()
    a = hash_bytes(value("a"))
    endorsing = [MessageReceived(Precommit(1, 0, a, KEYS[i].public_key, NO_SIGNATURE)) for i in (2, 3)]
    feed(engine, unsigned_proposal(0, value("a")), *endorsing, unsigned_proposal(4, value("b")))
    advance_to(engine, 8)
    feed(engine, unsigned_proposal(8, value("c")))
    assert (kept(engine, 0), kept(engine, 4)) == ([value("a")], [])


def test_an_evicted_proposal_is_forgotten_entirely_so_re_gossip_can_bring_it_back() -> None:
    engine = budgeted()
    feed(engine, unsigned_proposal(0, value("a")), unsigned_proposal(4, value("b")))
    advance_to(engine, 8)
    feed(engine, unsigned_proposal(8, value("c")))
    assert hash_bytes(value("a")) not in engine._values  # its bytes too
    feed(engine, unsigned_proposal(0, value("a")))  # room is made again, from round 4
    assert (kept(engine, 0), kept(engine, 4)) == ([value("a")], [])


def test_a_value_re_proposed_in_a_later_round_is_charged_once_and_outlives_the_older_proposal() -> None:
    engine = budgeted()
    feed(engine, unsigned_proposal(0, value("a")), unsigned_proposal(4, value("a")))
    assert engine.memory_by_signer()[KEYS[1].public_key] == COST + 160
    advance_to(engine, 8)
    feed(engine, unsigned_proposal(8, value("c")))
    assert (kept(engine, 0), kept(engine, 4), kept(engine, 8)) == ([], [value("a")], [value("c")])
    assert engine._values[hash_bytes(value("a"))] == value("a")
    assert engine.memory_by_signer()[KEYS[1].public_key] == 2 * COST


def test_a_restarted_validator_counts_its_own_prevote_once_though_its_polka_holds_it_too() -> None:
    record, values, _ = locked_validator_2()
    assert sign_prevote(KEYS[2], CHAIN, 1, 0, VID) in record.justification
    engine, _ = restarted(2, record, values)
    # The polka (validators 1, 2, 3) and its own precommit are accepted; its own prevote again is a duplicate.
    assert (engine.counters.accepted, engine.counters.duplicate) == (4, 1)


def test_a_value_re_proposed_in_a_later_round_is_held_as_one_copy_of_its_bytes() -> None:
    engine = budgeted()
    feed(engine, unsigned_proposal(0, value("a")), unsigned_proposal(4, value("a")))  # equal, distinct objects
    [first], [again] = engine._rounds[0].proposals.values(), engine._rounds[4].proposals.values()
    assert again.value is first.value


def test_a_value_proposed_in_two_rounds_is_validated_once() -> None:
    engine = budgeted()
    actions = feed(engine, unsigned_proposal(0, value("a")), unsigned_proposal(4, value("a")))
    assert [a.round for a in actions if isinstance(a, ValidateValue)] == [0]


# ---- signing ----


def test_own_messages_are_what_this_validator_signed_at_the_height_in_order() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), ValueValidated(1, VID, True), prevote(1), prevote(2))
    assert engine.own_messages() == broadcasts(actions) == [sign_prevote(KEYS[0], CHAIN, 1, 0, VID),
                                                           sign_precommit(KEYS[0], CHAIN, 1, 0, VID)]


def test_a_vote_the_safety_record_refuses_is_neither_sent_nor_counted() -> None:
    record = SafetyRecord.initial().after_signing(sign_prevote(KEYS[0], CHAIN, 7, 0, None))
    engine = Engine(CHAIN, KEYS[0], TIMEOUTS, safety=record)
    engine.handle(StartHeight(3, validator_set(4)), 0.0)
    actions = engine.handle(TimeoutFired(3, 0, Step.PROPOSE), 1.0)
    assert broadcasts(actions) == [] and engine.own_messages() == [] and engine.known_messages() == []
    assert engine.counters.refused_to_sign == 1 and engine.counters.accepted == 0


def test_a_proposals_bytes_are_persisted_beside_the_record_before_it_is_sent() -> None:
    engine, _ = started(KEYS[1])
    actions = feed(engine, ValueBuilt(1, 0, VALUE))
    persist, sent = actions[0], actions[1]
    assert isinstance(persist, PersistSafety) and dict(persist.values) == {VID: VALUE}
    assert broadcasts([sent]) == [sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)]
