"""Validator-set thresholds, proposer rotation, and commit certificates an observer can check."""

import pytest

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
