"""Never sign twice: the persisted record, and engines rebuilt from it after a restart."""

from consensus.actions import Action, PersistSafety
from consensus.crypto import hash_bytes
from consensus.engine import Engine
from consensus.events import Event, MessageReceived, StartHeight, TimeoutFired, ValueBuilt, ValueValidated
from consensus.evidence import conflicting
from consensus.messages import SignedMessage, Step, sign_precommit, sign_prevote, sign_proposal
from consensus.safety import SafetyRecord
from tests.consensus.helpers import CHAIN, KEYS, TIMEOUTS, broadcasts, feed, started, validator_set

VALUE, OTHER = b"block one", b"block two"
VID, OID = hash_bytes(VALUE), hash_bytes(OTHER)


def last_record(actions: list[Action]) -> SafetyRecord:
    return [a.record for a in actions if isinstance(a, PersistSafety)][-1]


def restart(record: SafetyRecord, height: int = 1) -> tuple[Engine, list[Action]]:
    engine = Engine(CHAIN, KEYS[0], TIMEOUTS, safety=SafetyRecord.decode(record.encode()))
    return engine, engine.handle(StartHeight(height, validator_set(4)), 100.0)


def assert_no_conflict(before: list[SignedMessage], after: list[SignedMessage]) -> None:
    for old in before:
        for new in after:
            assert not conflicting(old, new), (old, new)


def test_the_record_round_trips_through_the_codec() -> None:
    engine, _ = started(KEYS[1])
    record = last_record(feed(engine, ValueBuilt(1, 0, VALUE)))
    assert SafetyRecord.decode(record.encode()) == record
    assert record.position == (1, 0, int(Step.PREVOTE))


def test_the_record_refuses_lower_positions_and_different_messages_at_the_same_one() -> None:
    prevote = sign_prevote(KEYS[0], CHAIN, 1, 2, VID)
    record = SafetyRecord.initial().after_signing(prevote)
    assert record.permits(prevote)  # identical bytes: harmless
    assert not record.permits(sign_prevote(KEYS[0], CHAIN, 1, 2, None))
    assert not record.permits(sign_prevote(KEYS[0], CHAIN, 1, 1, None))
    assert not record.permits(sign_proposal(KEYS[0], CHAIN, 1, 2, VALUE, -1))
    assert record.permits(sign_precommit(KEYS[0], CHAIN, 1, 2, None))
    assert record.permits(sign_prevote(KEYS[0], CHAIN, 2, 0, None))


def test_a_restarted_validator_resends_its_vote_and_does_not_vote_again() -> None:
    engine, _ = started(KEYS[0])
    proposal = MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1))
    before = feed(engine, proposal, ValueValidated(1, VID, True))
    assert broadcasts(before) == [sign_prevote(KEYS[0], CHAIN, 1, 0, VID)]
    revived, resumed = restart(last_record(before))
    assert broadcasts(resumed) == broadcasts(before)  # identical bytes again, for peers that missed it
    after = feed(revived, proposal, ValueValidated(1, VID, True), TimeoutFired(1, 0, Step.PROPOSE))
    assert broadcasts(after) == []
    assert (revived.round, revived.step) == (0, Step.PREVOTE)


def test_a_restarted_validator_keeps_its_lock() -> None:
    engine, _ = started(KEYS[0])
    events: list[Event] = [MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)),
                           ValueValidated(1, VID, True)]
    events += [MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, 0, VID)) for i in (1, 2)]
    before = feed(engine, *events)
    assert engine.locked_value_id == VID
    revived, _ = restart(last_record(before))
    assert (revived.locked_round, revived.locked_value_id) == (0, VID)
    nil_precommits = [MessageReceived(sign_precommit(KEYS[i], CHAIN, 1, 0, None)) for i in (1, 2)]
    feed(revived, *nil_precommits, TimeoutFired(1, 0, Step.PRECOMMIT))
    after = feed(revived, MessageReceived(sign_proposal(KEYS[2], CHAIN, 1, 1, OTHER, -1)),
                 ValueValidated(1, OID, True))
    assert broadcasts(after) == [sign_prevote(KEYS[0], CHAIN, 1, 1, None)]
    assert_no_conflict(broadcasts(before), broadcasts(after))


def last_values(actions: list[Action]) -> dict[bytes, bytes]:
    return dict([a.values for a in actions if isinstance(a, PersistSafety)][-1])


def test_a_restarted_proposer_re_proposes_its_valid_value_not_a_new_one() -> None:
    engine, _ = started(KEYS[1])
    before = feed(engine, ValueBuilt(1, 0, VALUE))
    assert last_values(before) == {VID: VALUE}  # the bytes travel beside the record, not in it
    revived = Engine(CHAIN, KEYS[1], TIMEOUTS, safety=last_record(before), values=last_values(before))
    resumed = revived.handle(StartHeight(1, validator_set(4)), 50.0)
    assert broadcasts(resumed) == broadcasts(before)
    assert_no_conflict(broadcasts(before), broadcasts(resumed))


def test_a_restarted_proposer_that_lost_its_value_signs_nothing_conflicting_and_waits_for_the_bytes() -> None:
    engine, _ = started(KEYS[1])
    before = feed(engine, ValueBuilt(1, 0, VALUE))
    revived = Engine(CHAIN, KEYS[1], TIMEOUTS, safety=last_record(before), values={})
    resumed = revived.handle(StartHeight(1, validator_set(4)), 50.0)
    resumed += revived.handle(ValueBuilt(1, 0, OTHER), 50.1)  # a builder answering late must not win
    assert [m for m in broadcasts(resumed) if m.kind is Step.PROPOSE] == []
    assert_no_conflict(broadcasts(before), broadcasts(resumed))
    # A peer re-gossips our own proposal: the bytes are back and the height goes on with them.
    back = revived.handle(MessageReceived(broadcasts(before)[0]), 50.2)
    assert not any(conflicting(a, b) for a in broadcasts(before) for b in broadcasts(back))
    assert revived._values.get(VID) == VALUE


def test_the_record_does_not_grow_with_the_block_and_decodes_within_its_default_limit() -> None:
    # Review bug: a 22 MiB proposal made the record undecodable (8 MiB limit), so the validator
    # could not restart. The record names values by id; only the bytes beside it grow.
    big = b"x" * (20 * 1024 * 1024)
    engine, _ = started(KEYS[1])
    actions = feed(engine, ValueBuilt(1, 0, big))
    actions += feed(engine, *[MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, 0, hash_bytes(big))) for i in (0, 2)])
    record = last_record(actions)
    assert record.valid_value_id == hash_bytes(big)
    assert len(record.encode()) < 4096
    assert SafetyRecord.decode(record.encode()) == record
    assert last_values(actions) == {hash_bytes(big): big}


def test_a_version_1_record_holding_whole_values_still_decodes_into_ids() -> None:
    from consensus import codec
    proposal = sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)
    v1 = codec.encode([44, 1, 1, 0, 0, -1, None, 0, VALUE, [proposal.to_record()], []])
    record = SafetyRecord.decode(v1)
    assert record.valid_value_id == VID and record.covers(proposal)
    assert SafetyRecord.v1_values(v1) == {VID: VALUE}
    assert not record.permits(sign_proposal(KEYS[1], CHAIN, 1, 0, OTHER, -1))


def test_a_record_from_a_later_height_blocks_signing_at_an_earlier_one() -> None:
    record = SafetyRecord.initial().after_signing(sign_prevote(KEYS[0], CHAIN, 7, 0, None))
    engine = Engine(CHAIN, KEYS[0], TIMEOUTS, safety=record)
    actions = engine.handle(StartHeight(3, validator_set(4)), 0.0)
    actions += engine.handle(TimeoutFired(3, 0, Step.PROPOSE), 1.0)
    assert broadcasts(actions) == [] and engine.counters.refused_to_sign == 1


def test_a_restarted_validator_still_holds_the_polka_behind_its_lock() -> None:
    # The prevotes it locked on may include one that only it received; it must be able to show them.
    engine, _ = started(KEYS[0])
    polka = [MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, 0, VID)) for i in (1, 2)]
    before = feed(engine, MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)),
                  ValueValidated(1, VID, True), *polka)
    record = last_record(before)
    assert {v.validator for v in record.justification} == {KEYS[i].public_key for i in (0, 1, 2)}
    revived, _ = restart(record)
    assert {m.message for m in polka} <= set(revived.known_messages())


def test_a_version_1_record_holding_a_block_over_8_mib_decodes_at_its_own_size() -> None:
    # How the driver reads its own file: with the record's size as the limit (02865ef's records held
    # 22 MiB blocks and could not be read back at all).
    from consensus import codec
    big = b"b" * (codec.DEFAULT_MAX_BYTES + 1)
    proposal = sign_proposal(KEYS[1], CHAIN, 1, 0, big, -1)
    v1 = codec.encode([44, 1, 1, 0, 0, -1, None, 0, big, [proposal.to_record()], []])
    try:
        SafetyRecord.decode(v1)
    except codec.CodecError:
        pass
    else:
        raise AssertionError("the default limit must refuse it")
    record = SafetyRecord.decode(v1, max_bytes=len(v1))
    assert record.valid_value_id == hash_bytes(big) and record.covers(proposal)
    assert SafetyRecord.v1_values(v1) == {hash_bytes(big): big}
