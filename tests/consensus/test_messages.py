"""Consensus messages: one canonical encoding, signatures bound to kind, chain and content."""

import pytest

from consensus import codec
from consensus.crypto import verify
from consensus.messages import (
    Precommit,
    Prevote,
    SignedMessage,
    decode_message,
    encode_message,
    sign_precommit,
    sign_prevote,
    sign_proposal,
)
from tests.consensus.helpers import CHAIN, KEYS

VALUE_ID = b"\x11" * 32


def test_every_message_kind_round_trips_through_the_codec() -> None:
    messages: list[SignedMessage] = [
        sign_proposal(KEYS[0], CHAIN, 5, 2, b"block", 1),
        sign_prevote(KEYS[1], CHAIN, 5, 2, VALUE_ID),
        sign_prevote(KEYS[1], CHAIN, 5, 2, None),
        sign_precommit(KEYS[2], CHAIN, 5, 2, VALUE_ID),
    ]
    for message in messages:
        assert decode_message(encode_message(message)) == message


def test_a_signed_message_verifies_and_a_tampered_one_does_not() -> None:
    vote = sign_prevote(KEYS[0], CHAIN, 1, 0, VALUE_ID)
    assert vote.has_valid_signature(CHAIN, verify)
    assert not Prevote(1, 1, VALUE_ID, vote.validator, vote.signature).has_valid_signature(CHAIN, verify)
    assert not vote.has_valid_signature("other-chain", verify)


def test_a_prevote_signature_cannot_be_replayed_as_a_precommit() -> None:
    vote = sign_prevote(KEYS[0], CHAIN, 1, 0, VALUE_ID)
    forged = Precommit(1, 0, VALUE_ID, vote.validator, vote.signature)
    assert not forged.has_valid_signature(CHAIN, verify)


def test_a_proposal_signature_covers_its_value() -> None:
    proposal = sign_proposal(KEYS[0], CHAIN, 1, 0, b"block", -1)
    swapped = type(proposal)(1, 0, b"other block", -1, proposal.proposer, proposal.signature)
    assert not swapped.has_valid_signature(CHAIN, verify)


def test_decoding_rejects_non_canonical_and_malformed_input() -> None:
    data = encode_message(sign_prevote(KEYS[0], CHAIN, 1, 0, VALUE_ID))
    with pytest.raises(codec.CodecError):
        decode_message(data + b"\x00")
    with pytest.raises(codec.CodecError):
        decode_message(codec.encode([41, 1, 1, 0, b"short", KEYS[0].public_key, b"\x00" * 64]))
    with pytest.raises(codec.CodecError):
        decode_message(codec.encode([49, 1, 1, 0]))
    with pytest.raises(codec.CodecError):
        decode_message(codec.encode([40, 1, 1, 0, b"v", -2, KEYS[0].public_key, b"\x00" * 64]))
