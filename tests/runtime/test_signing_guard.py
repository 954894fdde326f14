"""The signing guard (node.runtime.signing_guard): a precommit of our key in a committed certificate
that this process did not sign stops it signing; what it did sign, and what the safety record covered
before it started, never does."""

from __future__ import annotations

import logging

import pytest

from consensus.certificate import CommitCertificate
from consensus.crypto import KeyPair
from consensus.messages import Precommit, sign_precommit, sign_prevote
from node.runtime.signing_guard import SigningGuard

CHAIN = "test-chain"
OURS = KeyPair.from_seed(bytes([1]) * 32)
OTHERS = [KeyPair.from_seed(bytes([n]) * 32) for n in (2, 3, 4)]
VALUE = bytes([7]) * 32
OTHER_VALUE = bytes([8]) * 32


def certificate(height: int, round_: int = 0, value: bytes = VALUE, with_ours: bool = True) -> CommitCertificate:
    keys = OTHERS + ([OURS] if with_ours else [])
    return CommitCertificate.from_precommits(sign_precommit(k, CHAIN, height, round_, value) for k in keys)


def ours(height: int, round_: int = 0, value: bytes = VALUE) -> Precommit:
    return sign_precommit(OURS, CHAIN, height, round_, value)


def test_a_certificate_holding_a_precommit_this_process_signed_is_ours() -> None:
    guard = SigningGuard(OURS.public_key, record_height=4, accept_restored=False)
    guard.signed(ours(5))
    assert guard.check(certificate(5)) is None and guard.halt is None


def test_our_precommit_at_or_below_the_record_height_was_signed_before_this_start() -> None:
    guard = SigningGuard(OURS.public_key, record_height=5, accept_restored=False)
    assert guard.check(certificate(5)) is None
    assert guard.check(certificate(3)) is None
    assert guard.halt is None


def test_a_certificate_without_our_key_says_nothing() -> None:
    guard = SigningGuard(OURS.public_key, record_height=-1, accept_restored=False)
    assert guard.check(certificate(9, with_ours=False)) is None and guard.halt is None


def test_a_fresh_data_dir_meeting_its_own_old_precommits_stops_signing(caplog: pytest.LogCaptureFixture) -> None:
    guard = SigningGuard(OURS.public_key, record_height=-1, accept_restored=False)
    with caplog.at_level(logging.ERROR, "bakong.signing"):
        halt = guard.check(certificate(1))
    assert halt is not None and halt.code == "data_dir_older_than_last_signature" and halt.height == 1
    assert guard.halt is halt and "signing stopped" in caplog.text
    assert guard.check(certificate(2)) is None  # halted once, for good: no second report


def test_after_signing_a_foreign_precommit_means_another_process_holds_the_key() -> None:
    guard = SigningGuard(OURS.public_key, record_height=4, accept_restored=False)
    guard.signed(sign_prevote(OURS, CHAIN, 5, 0, VALUE))
    halt = guard.check(certificate(5))  # we prevoted but never precommitted: someone else did
    assert halt is not None and halt.code == "key_signing_elsewhere"


def test_a_precommit_for_another_value_or_round_is_not_the_one_we_signed() -> None:
    for cert in (certificate(5, value=OTHER_VALUE), certificate(5, round_=1)):
        guard = SigningGuard(OURS.public_key, record_height=4, accept_restored=False)
        guard.signed(ours(5))
        assert guard.check(cert) is not None


def test_accept_restored_takes_old_signatures_until_this_process_signs() -> None:
    guard = SigningGuard(OURS.public_key, record_height=-1, accept_restored=True)
    assert guard.check(certificate(1)) is None and guard.check(certificate(2)) is None
    assert guard.accepted_foreign == 2 and guard.halt is None
    guard.signed(ours(3))
    assert guard.check(certificate(3)) is None
    halt = guard.check(certificate(4))  # a twin started later is still caught
    assert halt is not None and halt.code == "key_signing_elsewhere"


def test_remembered_precommits_are_bounded_but_keep_the_recent_heights() -> None:
    guard = SigningGuard(OURS.public_key, record_height=-1, accept_restored=False)
    for height in range(1, 1001):
        guard.signed(ours(height))
    assert len(guard._signed) <= 4 * 64 + 1
    assert guard.check(certificate(1000)) is None and guard.check(certificate(990)) is None


def test_pruning_keeps_exactly_the_heights_within_keep_heights_of_the_newest_when_the_bound_is_passed() -> None:
    """The 257th remembered precommit (4 x 64 + 1, at height 257) prunes to heights 257 - 64 = 193 and
    above; later ones accumulate until the bound is passed again. A certificate for a forgotten own
    precommit would read as foreign: the bound must be where the docstring says, no nearer."""
    guard = SigningGuard(OURS.public_key, record_height=-1, accept_restored=False)
    for height in range(1, 301):
        guard.signed(ours(height))
    assert sorted(h for h, _r, _v in guard._signed) == list(range(193, 301))
    assert guard.check(certificate(193)) is None
    assert guard.check(certificate(192)) is not None
