"""Validator-set thresholds, proposer rotation, and commit certificates an observer can check."""

import msgpack
import pytest

from consensus import codec
from consensus.certificate import CommitCertificate, InvalidCertificate
from consensus.messages import sign_precommit
from consensus.validators import ValidatorSet
from tests.consensus.helpers import CHAIN, KEYS, validator_set

VALUE_ID = b"\x22" * 32


@pytest.mark.parametrize("n,quorum,skip", [(1, 1, 1), (4, 3, 2), (5, 4, 2), (7, 5, 3), (10, 7, 4)])
def test_thresholds_follow_two_thirds_and_one_third(n: int, quorum: int, skip: int) -> None:
    validators = validator_set(n)
    assert (validators.quorum, validators.skip_threshold) == (quorum, skip)


def test_proposer_rotates_with_height_plus_round() -> None:
    validators = validator_set(4)
    assert validators.proposer(1, 0) == KEYS[1].public_key
    assert validators.proposer(1, 3) == KEYS[0].public_key
    assert validators.proposer(6, 1) == KEYS[3].public_key


def test_a_validator_set_refuses_duplicates() -> None:
    with pytest.raises(ValueError):
        ValidatorSet([KEYS[0].public_key, KEYS[0].public_key])


def certificate(signers: list[int], height: int = 3, round_: int = 1) -> CommitCertificate:
    return CommitCertificate.from_precommits(
        sign_precommit(KEYS[i], CHAIN, height, round_, VALUE_ID) for i in signers)


def test_a_quorum_of_precommits_makes_a_verifiable_certificate() -> None:
    cert = certificate([0, 1, 3])
    cert.verify(CHAIN, validator_set(4))
    assert CommitCertificate.decode(cert.encode()) == cert


def test_a_certificate_without_a_quorum_is_refused() -> None:
    with pytest.raises(InvalidCertificate) as raised:
        certificate([0, 1]).verify(CHAIN, validator_set(4))
    assert raised.value.code == "no_quorum"


def test_a_certificate_signed_by_outsiders_is_refused() -> None:
    with pytest.raises(InvalidCertificate) as raised:
        certificate([0, 1, 5]).verify(CHAIN, validator_set(4))
    assert raised.value.code == "unknown_signer"


def test_a_certificate_with_a_forged_signature_is_refused() -> None:
    good = certificate([0, 1, 2])
    pairs = list(good.signatures)
    pairs[0] = (pairs[0][0], bytes(64))
    with pytest.raises(InvalidCertificate) as raised:
        CommitCertificate(good.height, good.round, good.value_id, tuple(pairs)).verify(CHAIN, validator_set(4))
    assert raised.value.code == "bad_signature"


def test_a_certificate_for_another_chain_is_refused() -> None:
    assert not certificate([0, 1, 2]).is_valid("other-chain", validator_set(4))


def test_a_certificate_counting_one_signer_twice_is_refused() -> None:
    good = certificate([0, 1])
    doubled = CommitCertificate(good.height, good.round, good.value_id, good.signatures + good.signatures[:1])
    with pytest.raises(InvalidCertificate) as raised:
        doubled.verify(CHAIN, validator_set(4))
    assert raised.value.code == "duplicate_signer"


def test_a_validator_set_needs_at_least_one_validator() -> None:
    with pytest.raises(ValueError):
        ValidatorSet([])


@pytest.mark.parametrize("length", [31, 33])
def test_a_validator_set_refuses_keys_that_are_not_32_bytes(length: int) -> None:
    with pytest.raises(ValueError):
        ValidatorSet([KEYS[0].public_key, b"\x01" * length])


def test_a_validator_set_knows_its_size_members_and_their_positions() -> None:
    validators = validator_set(4)
    assert len(validators) == 4
    assert [validators.index_of(KEYS[i].public_key) for i in range(4)] == [0, 1, 2, 3]
    assert validators.index_of(KEYS[5].public_key) is None
    assert KEYS[3].public_key in validators and KEYS[5].public_key not in validators


@pytest.mark.parametrize("n,f", [(1, 0), (3, 0), (4, 1), (6, 1), (7, 2), (9, 2), (10, 3)])
def test_the_fault_bound_is_n_minus_one_over_three(n: int, f: int) -> None:
    assert validator_set(n).max_faulty == f


def test_a_certificate_encodes_as_its_documented_record() -> None:
    cert = certificate([2, 0, 1])
    assert [k for k, _ in cert.signatures] == sorted(KEYS[i].public_key for i in (0, 1, 2))
    assert msgpack.unpackb(cert.encode()) == [43, 1, 3, 1, VALUE_ID, [list(pair) for pair in cert.signatures]]


def test_a_certificate_at_height_and_round_zero_round_trips() -> None:
    cert = certificate([0, 1, 2], height=0, round_=0)
    assert CommitCertificate.decode(cert.encode()) == cert


@pytest.mark.parametrize("field,value", [(2, -1), (3, -1)])
def test_a_certificate_with_a_negative_height_or_round_does_not_decode(field: int, value: int) -> None:
    record = certificate([0, 1, 2]).to_record()
    record[field] = value
    with pytest.raises(codec.CodecError):
        CommitCertificate.decode(msgpack.packb(record, use_bin_type=True))


def test_a_certificate_with_unsorted_signatures_does_not_decode() -> None:
    record = certificate([0, 1, 2]).to_record()
    record[5] = list(reversed(record[5]))
    with pytest.raises(codec.NonCanonicalEncoding):
        CommitCertificate.decode(msgpack.packb(record, use_bin_type=True))


@pytest.mark.parametrize("signers,decodes", [(1024, True), (1025, False)])
def test_a_certificate_holds_at_most_1024_signatures(signers: int, decodes: bool) -> None:
    pairs = [[i.to_bytes(32, "big"), bytes(64)] for i in range(signers)]
    data = msgpack.packb([43, 1, 3, 1, VALUE_ID, pairs], use_bin_type=True)
    if decodes:
        assert len(CommitCertificate.decode(data).signatures) == signers
    else:
        with pytest.raises(codec.CodecError):
            CommitCertificate.decode(data)


def test_a_certificate_needs_precommits_for_one_value() -> None:
    with pytest.raises(ValueError):
        CommitCertificate.from_precommits([])
    with pytest.raises(ValueError):
        CommitCertificate.from_precommits([sign_precommit(KEYS[0], CHAIN, 3, 1, None)])
    for other in [(4, 1, VALUE_ID), (3, 2, VALUE_ID), (3, 1, b"\x33" * 32)]:
        with pytest.raises(ValueError):
            CommitCertificate.from_precommits([sign_precommit(KEYS[0], CHAIN, 3, 1, VALUE_ID),
                                               sign_precommit(KEYS[1], CHAIN, *other)])


def test_a_refused_certificate_says_why() -> None:
    with pytest.raises(InvalidCertificate) as raised:
        certificate([0]).verify(CHAIN, validator_set(4))
    assert str(raised.value) == "no_quorum: 1 signers where 3 are needed"


def test_is_valid_answers_true_for_a_good_certificate() -> None:
    assert certificate([0, 1, 2]).is_valid(CHAIN, validator_set(4))
