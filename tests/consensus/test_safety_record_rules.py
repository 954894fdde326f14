"""The safety record on its own: what it keeps of the signed messages, and what it refuses to decode.

See ``consensus.safety``'s docstring: own messages of the last ``KEEP_ROUNDS`` rounds signed in at the
record's height, proposals by reference, values by id, only prevotes as justification.
"""

from __future__ import annotations

import pytest

from consensus import codec
from consensus.crypto import hash_bytes
from consensus.messages import ProposalRef, Step, sign_precommit, sign_prevote, sign_proposal
from consensus.safety import KEEP_ROUNDS, SafetyRecord
from tests.consensus.helpers import CHAIN, KEYS

VALUE = b"block one"
VID = hash_bytes(VALUE)
KEY = KEYS[1]


def signed_through(rounds: range, height: int = 1) -> SafetyRecord:
    record = SafetyRecord.initial()
    for r in rounds:
        record = record.after_signing(sign_prevote(KEY, CHAIN, height, r, None))
        record = record.after_signing(sign_precommit(KEY, CHAIN, height, r, None))
    return record


def test_the_record_keeps_own_messages_of_the_last_32_rounds_signed_in() -> None:
    record = signed_through(range(KEEP_ROUNDS + 3))
    assert KEEP_ROUNDS == 32
    assert sorted({m.round for m in record.signed}) == list(range(3, KEEP_ROUNDS + 3))
    assert len(record.signed) == 2 * KEEP_ROUNDS


def test_signing_at_a_new_height_forgets_the_previous_heights_messages() -> None:
    record = signed_through(range(3)).after_signing(sign_prevote(KEY, CHAIN, 2, 0, None))
    assert [(m.height, m.round) for m in record.signed] == [(2, 0)]
    assert record.position == (2, 0, int(Step.PREVOTE))


def test_a_message_signed_again_is_kept_once_and_the_position_never_goes_back() -> None:
    prevote = sign_prevote(KEY, CHAIN, 1, 0, VID)
    record = SafetyRecord.initial().after_signing(prevote).after_signing(sign_precommit(KEY, CHAIN, 1, 0, VID))
    again = record.after_signing(prevote)
    assert again.signed == record.signed and again.position == (1, 0, int(Step.PRECOMMIT))


def test_the_record_names_the_values_of_its_own_proposals_and_its_valid_value() -> None:
    proposal = sign_proposal(KEY, CHAIN, 1, 0, VALUE, -1)
    other = hash_bytes(b"valid value")
    record = SafetyRecord.initial().after_signing(proposal, valid_round=0, valid_value_id=other)
    assert record.value_ids() == {VID, other}
    assert record.signed == (ProposalRef.of(proposal),)
    assert SafetyRecord.initial().after_signing(sign_prevote(KEY, CHAIN, 1, 0, VID)).value_ids() == set()


def test_lock_valid_round_and_justification_are_recorded_as_given() -> None:
    polka = tuple(sign_prevote(k, CHAIN, 1, 0, VID) for k in KEYS[:3])
    record = SafetyRecord.initial().after_signing(sign_precommit(KEY, CHAIN, 1, 0, VID), 0, VID, 0, VID, polka)
    decoded = SafetyRecord.decode(record.encode())
    assert (decoded.locked_round, decoded.locked_value_id, decoded.valid_round, decoded.valid_value_id) \
        == (0, VID, 0, VID)
    assert decoded.justification == polka


def test_nothing_signed_yet_is_height_minus_one_and_permits_anything() -> None:
    record = SafetyRecord.initial()
    assert (record.height, record.round, record.locked_round, record.valid_round) == (-1, -1, -1, -1)
    assert record.signed == () and record.value_ids() == set()
    assert record.permits(sign_proposal(KEY, CHAIN, 0, 0, VALUE, -1))
    assert SafetyRecord.decode(record.encode()) == record


def _v2(signed: list[object], justification: list[object] | None = None) -> bytes:
    return codec.encode([44, 2, 1, 0, 1, -1, None, -1, None, signed, justification or []])


def test_a_record_holding_a_whole_proposal_does_not_decode() -> None:
    whole = sign_proposal(KEY, CHAIN, 1, 0, VALUE, -1).to_record()
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(_v2([whole]))
    assert SafetyRecord.decode(_v2([ProposalRef.of(sign_proposal(KEY, CHAIN, 1, 0, VALUE, -1)).to_record()]))


def test_a_justification_holding_a_precommit_does_not_decode() -> None:
    prevote, precommit = sign_prevote(KEY, CHAIN, 1, 0, VID), sign_precommit(KEY, CHAIN, 1, 0, VID)
    assert SafetyRecord.decode(_v2([], [prevote.to_record()])).justification == (prevote,)
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(_v2([], [prevote.to_record(), precommit.to_record()]))


def test_a_record_holds_at_most_three_entries_per_kept_round() -> None:
    entries = [sign_prevote(KEY, CHAIN, 1, r, None).to_record() for r in range(3 * KEEP_ROUNDS + 1)]
    assert len(SafetyRecord.decode(_v2(entries[:-1])).signed) == 3 * KEEP_ROUNDS
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(_v2(entries))


def test_a_version_2_record_holds_no_values_to_hand_back() -> None:
    record = SafetyRecord.initial().after_signing(sign_proposal(KEY, CHAIN, 1, 0, VALUE, -1),
                                                  valid_round=0, valid_value_id=VID)
    assert SafetyRecord.v1_values(record.encode()) == {}


def test_a_justification_holds_at_most_4096_prevotes() -> None:
    polka = [sign_prevote(KEY, CHAIN, 1, 0, VID).to_record()] * 4_097  # decoding checks shapes, not signatures
    assert len(SafetyRecord.decode(_v2([], polka[:-1])).justification) == 4_096
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(_v2([], polka))


def test_signing_without_a_lock_records_none() -> None:
    record = SafetyRecord.initial().after_signing(sign_prevote(KEY, CHAIN, 1, 0, None))
    assert (record.locked_round, record.locked_value_id, record.valid_round, record.valid_value_id) \
        == (-1, None, -1, None)
    assert record.justification == ()


@pytest.mark.parametrize("record", [[44], [44, 1], [44, 2], []])
def test_a_truncated_record_is_refused_with_a_codec_error(record: list[object]) -> None:
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(codec.encode(record))


@pytest.mark.parametrize("entry", [[40], [], [41], [46]])
def test_a_truncated_signed_entry_is_refused_with_a_codec_error(entry: list[object]) -> None:
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(_v2([entry]))


@pytest.mark.parametrize("index, bad", [(2, -2), (3, -2), (4, -1), (4, 3), (5, -2), (7, -2), (6, b"short"),
                                        (8, b"short")])
def test_a_record_with_a_field_out_of_range_is_refused(index: int, bad: object) -> None:
    record = codec.decode(_v2([]))
    record[index] = bad
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(codec.encode(record))


@pytest.mark.parametrize("step", [Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT])
def test_a_record_at_each_step_decodes(step: Step) -> None:
    record = codec.decode(_v2([]))
    record[4] = int(step)
    assert SafetyRecord.decode(codec.encode(record)).step is step


# ---- version 1 records (they held whole values) still decode ----


def _v1(valid_value: object = None, signed: list[object] | None = None) -> list[object]:
    return [44, 1, 1, 0, 1, -1, None, -1 if valid_value is None else 0, valid_value, signed or [], []]


def test_a_version_1_record_without_a_valid_value_decodes_without_one() -> None:
    record = SafetyRecord.decode(codec.encode(_v1()))
    assert (record.height, record.round, record.step, record.valid_round, record.valid_value_id) \
        == (1, 0, Step.PREVOTE, -1, None)


def test_a_version_1_record_whose_valid_value_is_not_bytes_is_refused() -> None:
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(codec.encode(_v1(valid_value=5)))


def test_a_version_1_record_holds_at_most_three_entries_per_kept_round() -> None:
    entries = [sign_prevote(KEY, CHAIN, 1, r, None).to_record() for r in range(3 * KEEP_ROUNDS + 1)]
    assert len(SafetyRecord.decode(codec.encode(_v1(signed=entries[:-1]))).signed) == 3 * KEEP_ROUNDS
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(codec.encode(_v1(signed=entries)))


@pytest.mark.parametrize("index, bad", [(2, -2), (3, -2), (4, -1), (4, 3), (5, -2), (7, -2), (6, b"short")])
def test_a_version_1_record_with_a_field_out_of_range_is_refused(index: int, bad: object) -> None:
    record = _v1()
    record[index] = bad
    with pytest.raises(codec.CodecError):
        SafetyRecord.decode(codec.encode(record))


@pytest.mark.parametrize("step", [Step.PROPOSE, Step.PRECOMMIT])
def test_a_version_1_record_at_the_lowest_position_decodes(step: Step) -> None:
    record = _v1()
    record[2:5] = [-1, -1, int(step)]
    assert SafetyRecord.decode(codec.encode(record)).position == (-1, -1, int(step))


def test_a_record_at_the_lowest_position_decodes() -> None:
    record = codec.decode(_v2([]))
    record[2:5] = [-1, -1, 0]
    assert SafetyRecord.decode(codec.encode(record)).position == (-1, -1, 0)


def test_a_version_1_record_hands_back_its_valid_value_and_its_own_proposals_values() -> None:
    other = b"proposed in round 1"
    proposal = sign_proposal(KEY, CHAIN, 1, 1, other, -1)
    record = _v1(valid_value=VALUE, signed=[proposal.to_record(), sign_prevote(KEY, CHAIN, 1, 1, None).to_record()])
    assert SafetyRecord.v1_values(codec.encode(record)) == {VID: VALUE, hash_bytes(other): other}
