"""Equivocation evidence and proposal references on their own (``consensus.evidence``, ``ProposalRef``)."""

from __future__ import annotations

import pytest

from consensus import codec
from consensus.crypto import hash_bytes
from consensus.evidence import Evidence, conflicting
from consensus.messages import (
    ProposalRef,
    entry_from_record,
    entry_of,
    sign_precommit,
    sign_prevote,
    sign_proposal,
)
from tests.consensus.helpers import CHAIN, KEYS

KEY = KEYS[1]
A, B = b"block a", b"block b"


def test_two_proposals_conflict_by_value_or_by_valid_round() -> None:
    first = sign_proposal(KEY, CHAIN, 1, 0, A, -1)
    assert conflicting(first, sign_proposal(KEY, CHAIN, 1, 0, B, -1))
    assert conflicting(first, sign_proposal(KEY, CHAIN, 1, 0, A, 0))
    assert not conflicting(first, sign_proposal(KEY, CHAIN, 1, 0, A, -1))


def test_messages_of_different_slots_or_signers_never_conflict() -> None:
    vote = sign_prevote(KEY, CHAIN, 1, 0, hash_bytes(A))
    assert conflicting(vote, sign_prevote(KEY, CHAIN, 1, 0, None))
    assert not conflicting(vote, sign_prevote(KEYS[2], CHAIN, 1, 0, None))
    assert not conflicting(vote, sign_prevote(KEY, CHAIN, 2, 0, None))
    assert not conflicting(vote, sign_prevote(KEY, CHAIN, 1, 1, None))
    assert not conflicting(vote, sign_precommit(KEY, CHAIN, 1, 0, None))


def test_evidence_names_the_signer_height_round_and_kind_of_its_messages() -> None:
    evidence = Evidence(sign_precommit(KEY, CHAIN, 3, 2, None), sign_precommit(KEY, CHAIN, 3, 2, hash_bytes(A)))
    assert (evidence.validator, evidence.height, evidence.round, int(evidence.kind)) == (KEY.public_key, 3, 2, 2)
    assert evidence.is_valid(CHAIN) and not evidence.is_valid("another-chain")


def test_evidence_of_messages_that_do_not_conflict_is_not_valid_and_does_not_decode() -> None:
    vote = sign_prevote(KEY, CHAIN, 1, 0, None)
    evidence = Evidence(vote, vote)
    assert not evidence.is_valid(CHAIN)
    with pytest.raises(codec.CodecError):
        Evidence.decode(evidence.encode())


def test_evidence_with_one_forged_signature_is_not_valid() -> None:
    first, second = sign_prevote(KEY, CHAIN, 1, 0, None), sign_prevote(KEY, CHAIN, 1, 0, hash_bytes(A))
    forged = type(second)(1, 0, second.value_id, KEY.public_key, first.signature)
    assert not Evidence(first, forged).is_valid(CHAIN) and not Evidence(forged, first).is_valid(CHAIN)


def test_version_1_evidence_with_whole_proposals_decodes_into_references() -> None:
    first, second = sign_proposal(KEY, CHAIN, 1, 0, A, -1), sign_proposal(KEY, CHAIN, 1, 0, B, -1)
    v1 = codec.encode([45, 1, first.to_record(), second.to_record()])
    evidence = Evidence.decode(v1)
    assert (evidence.first, evidence.second) == (ProposalRef.of(first), ProposalRef.of(second))
    assert evidence.is_valid(CHAIN)
    assert Evidence.decode(evidence.encode()) == evidence and evidence.to_record()[1] == 2  # re-encoded as v2


def test_stored_version_1_evidence_of_blocks_over_8_mib_still_decodes() -> None:
    big = b"x" * (codec.DEFAULT_MAX_BYTES + 10)
    first, second = sign_proposal(KEY, CHAIN, 1, 0, big, -1), sign_proposal(KEY, CHAIN, 1, 0, big + b"!", -1)
    v1 = codec.encode([45, 1, first.to_record(), second.to_record()])
    with pytest.raises(codec.CodecError):
        Evidence.decode(v1)
    assert Evidence.decode_stored(v1).first == ProposalRef.of(first)


def test_a_reference_checks_like_its_proposal_and_gives_it_back_only_for_its_own_value() -> None:
    proposal = sign_proposal(KEY, CHAIN, 4, 1, A, 0)
    ref = ProposalRef.of(proposal)
    assert (ref.signer, ref.value_id, ref.valid_round) == (KEY.public_key, hash_bytes(A), 0)
    assert ref.has_valid_signature(CHAIN, _verify()) and ref.digest(CHAIN) == proposal.digest(CHAIN)
    assert ref.with_value(A) == proposal and ref.with_value(A).signature == proposal.signature
    with pytest.raises(ValueError):
        ref.with_value(B)


def test_a_reference_round_trips_as_its_documented_record_and_a_whole_proposal_becomes_one() -> None:
    proposal = sign_proposal(KEY, CHAIN, 4, 1, A, -1)
    ref = ProposalRef.of(proposal)
    assert ref.to_record() == [46, 1, 4, 1, hash_bytes(A), -1, KEY.public_key, proposal.signature]
    assert entry_from_record(ref.to_record()) == ref
    assert entry_from_record(proposal.to_record()) == ref
    vote = sign_prevote(KEY, CHAIN, 4, 1, None)
    assert entry_from_record(vote.to_record()) == vote == entry_of(vote) and entry_of(proposal) == ref


@pytest.mark.parametrize("index, bad", [(2, -1), (3, -1), (4, b"short"), (5, -2), (6, b"short"), (7, b"short")])
def test_a_reference_with_a_field_out_of_range_does_not_decode(index: int, bad: object) -> None:
    record = ProposalRef.of(sign_proposal(KEY, CHAIN, 4, 1, A, -1)).to_record()
    record[index] = bad
    with pytest.raises(codec.CodecError):
        entry_from_record(record)


def test_a_reference_at_height_and_round_zero_with_valid_round_minus_one_decodes() -> None:
    ref = ProposalRef.of(sign_proposal(KEY, CHAIN, 0, 0, A, -1))
    assert entry_from_record(ref.to_record()) == ref


def _verify():  # type: ignore[no-untyped-def]
    from consensus.crypto import verify
    return verify


def test_evidence_built_from_whole_proposals_keeps_only_their_references() -> None:
    first, second = sign_proposal(KEY, CHAIN, 1, 0, A * 1000, -1), sign_proposal(KEY, CHAIN, 1, 0, B * 1000, -1)
    evidence = Evidence(first, second)
    assert (evidence.first, evidence.second) == (ProposalRef.of(first), ProposalRef.of(second))
    assert isinstance(evidence.first, ProposalRef) and isinstance(evidence.second, ProposalRef)
    assert len(evidence.encode()) < 400


@pytest.mark.parametrize("record", [[], [45], [45, 1], [45, 2], [45, 2, [41]]])
def test_truncated_evidence_is_refused_with_a_codec_error(record: list[object]) -> None:
    with pytest.raises(codec.CodecError):
        Evidence.decode(codec.encode(record))


def test_stored_evidence_decodes_as_it_was_stored() -> None:
    evidence = Evidence(sign_prevote(KEY, CHAIN, 1, 0, None), sign_prevote(KEY, CHAIN, 1, 0, hash_bytes(A)))
    assert Evidence.decode_stored(evidence.encode()) == evidence
