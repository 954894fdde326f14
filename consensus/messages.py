"""Signed consensus messages: Proposal, Prevote, Precommit.

Each message is a frozen record with one canonical encoding (``consensus.codec``):

- ``Proposal``  tag 40: ``[40, 1, height, round, value, valid_round, proposer, signature]``
- ``Prevote``   tag 41: ``[41, 1, height, round, value_id | None, validator, signature]``
- ``Precommit`` tag 42: ``[42, 1, height, round, value_id | None, validator, signature]``

What is signed is the same record *without* the signature, and for a proposal with the value replaced
by its id (``value_id = hash_bytes(value)``), so evidence and certificates never need the block itself.
Signing uses the domain of the kind (``Domain.PROPOSAL`` / ``PREVOTE`` / ``PRECOMMIT``) and the chain id.
A ``None`` value id is a vote for nil.

Messages are equal (and hash alike) when their *content* is: the signature is not compared. Ed25519
lets a signer produce many valid signatures of one message (a fresh nonce each time); a re-signed,
otherwise identical vote must count as the same vote, never as a conflict or a second signer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Final, TypeAlias, TypeVar

from consensus import codec
from consensus.crypto import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Domain, KeyPair, hash_bytes, signing_digest

PROPOSAL_TAG: Final = 40
PREVOTE_TAG: Final = 41
PRECOMMIT_TAG: Final = 42
VERSION: Final = 1
VALUE_ID_BYTES: Final = 32
# Heights and rounds are bounded so a hostile peer cannot make us do arithmetic on huge integers.
MAX_HEIGHT: Final = 2**62
MAX_ROUND: Final = 2**31

#: ``verify(public_key, digest, signature) -> bool``; injectable so a driver can share a cache.
Verifier: TypeAlias = Callable[[bytes, bytes, bytes], bool]


class Step(IntEnum):
    """Steps of a round, in the order they happen (the order matters for the never-sign-back rule)."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


@dataclass(frozen=True)
class Proposal:
    """A proposer's block for (height, round); ``valid_round`` is -1 or the round the value became valid."""

    height: int
    """The consensus instance (block height)."""
    round: int
    """The round within the height."""
    value: bytes = field(compare=False)
    """The opaque block, as the node built it (compared through ``value_id``)."""
    valid_round: int
    """-1 for a fresh value, else the round in which the proposer saw 2f+1 prevotes for it (paper's vr)."""
    proposer: bytes
    """The proposer's Ed25519 public key."""
    signature: bytes = field(compare=False)
    """Signature over the proposal's signing body (see module docstring); not part of equality."""
    value_id: bytes = field(init=False, repr=False)
    """``hash_bytes(value)``, computed once; equality compares it instead of the value's bytes."""

    kind: ClassVar[Step] = Step.PROPOSE

    def __post_init__(self) -> None:
        object.__setattr__(self, "value_id", hash_bytes(self.value))

    @property
    def signer(self) -> bytes:
        return self.proposer

    def signing_body(self) -> bytes:
        return proposal_signing_body(self.height, self.round, self.value_id, self.valid_round, self.proposer)

    def digest(self, chain_id: str) -> bytes:
        return signing_digest(Domain.PROPOSAL, chain_id, self.signing_body())

    def has_valid_signature(self, chain_id: str, verifier: Verifier) -> bool:
        return verifier(self.proposer, self.digest(chain_id), self.signature)

    def to_record(self) -> list[Any]:
        return [PROPOSAL_TAG, VERSION, self.height, self.round, self.value, self.valid_round, self.proposer,
                self.signature]


@dataclass(frozen=True)
class Vote:
    """A prevote or precommit; the two kinds differ only in tag and signing domain."""

    height: int
    """The consensus instance (block height)."""
    round: int
    """The round within the height."""
    value_id: bytes | None
    """The id of the value voted for, or None for nil."""
    validator: bytes
    """The voter's Ed25519 public key."""
    signature: bytes = field(compare=False)
    """Signature over the vote without its signature field; not part of equality."""

    kind: ClassVar[Step]
    tag: ClassVar[int]
    domain: ClassVar[Domain]

    @property
    def signer(self) -> bytes:
        return self.validator

    def signing_body(self) -> bytes:
        return vote_signing_body(self.tag, self.height, self.round, self.value_id, self.validator)

    def digest(self, chain_id: str) -> bytes:
        return signing_digest(self.domain, chain_id, self.signing_body())

    def has_valid_signature(self, chain_id: str, verifier: Verifier) -> bool:
        return verifier(self.validator, self.digest(chain_id), self.signature)

    def to_record(self) -> list[Any]:
        return [self.tag, VERSION, self.height, self.round, self.value_id, self.validator, self.signature]


@dataclass(frozen=True)
class Prevote(Vote):
    """First-stage vote: "I would accept this value in this round" (or nil)."""

    kind: ClassVar[Step] = Step.PREVOTE
    tag: ClassVar[int] = PREVOTE_TAG
    domain: ClassVar[Domain] = Domain.PREVOTE


@dataclass(frozen=True)
class Precommit(Vote):
    """Second-stage vote: 2f+1 of these for one value in one round decide it."""

    kind: ClassVar[Step] = Step.PRECOMMIT
    tag: ClassVar[int] = PRECOMMIT_TAG
    domain: ClassVar[Domain] = Domain.PRECOMMIT


SignedMessage: TypeAlias = Proposal | Prevote | Precommit

PROPOSAL_REF_TAG: Final = 46


@dataclass(frozen=True)
class ProposalRef:
    """A signed proposal without its value: what evidence and the safety record keep of a proposal.

    The proposal's signature covers the value's id, not the value, so a reference checks exactly like
    the proposal; it never grows with the block. Record (tag 46): ``[46, 1, height, round, value_id,
    valid_round, proposer, signature]``."""

    height: int
    """Height of the proposal."""
    round: int
    """Round of the proposal."""
    value_id: bytes
    """``hash_bytes`` of the proposed value."""
    valid_round: int
    """The proposal's valid round (-1 for a fresh value)."""
    proposer: bytes
    """The proposer's public key."""
    signature: bytes = field(compare=False)
    """The proposal's signature; not part of equality."""

    kind: ClassVar[Step] = Step.PROPOSE

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalRef:
        return cls(proposal.height, proposal.round, proposal.value_id, proposal.valid_round, proposal.proposer,
                   proposal.signature)

    @property
    def signer(self) -> bytes:
        return self.proposer

    def with_value(self, value: bytes) -> Proposal:
        if hash_bytes(value) != self.value_id:
            raise ValueError("these bytes are not the proposed value")
        return Proposal(self.height, self.round, value, self.valid_round, self.proposer, self.signature)

    def digest(self, chain_id: str) -> bytes:
        body = proposal_signing_body(self.height, self.round, self.value_id, self.valid_round, self.proposer)
        return signing_digest(Domain.PROPOSAL, chain_id, body)

    def has_valid_signature(self, chain_id: str, verifier: Verifier) -> bool:
        return verifier(self.proposer, self.digest(chain_id), self.signature)

    def to_record(self) -> list[Any]:
        return [PROPOSAL_REF_TAG, VERSION, self.height, self.round, self.value_id, self.valid_round, self.proposer,
                self.signature]

    @classmethod
    def from_record(cls, value: Any) -> ProposalRef:
        f = codec.expect_record(value, PROPOSAL_REF_TAG, VERSION, 6, "proposal ref")
        return cls(
            height=codec.expect_int(f[0], "proposal_ref.height", 0, MAX_HEIGHT),
            round=codec.expect_int(f[1], "proposal_ref.round", 0, MAX_ROUND),
            value_id=codec.expect_bytes(f[2], "proposal_ref.value_id", VALUE_ID_BYTES),
            valid_round=codec.expect_int(f[3], "proposal_ref.valid_round", -1, MAX_ROUND),
            proposer=codec.expect_bytes(f[4], "proposal_ref.proposer", PUBLIC_KEY_BYTES),
            signature=codec.expect_bytes(f[5], "proposal_ref.signature", SIGNATURE_BYTES),
        )


SignedEntry: TypeAlias = ProposalRef | Prevote | Precommit
"""A signed message as kept for the record: proposals by reference, votes whole (they are small)."""


def entry_of(message: SignedMessage | SignedEntry) -> SignedEntry:
    return ProposalRef.of(message) if isinstance(message, Proposal) else message


def entry_from_record(value: Any, max_value_bytes: int = codec.DEFAULT_MAX_BYTES) -> SignedEntry:
    """A ``ProposalRef``, prevote or precommit record (a whole proposal, whose value may be up to
    ``max_value_bytes``, is turned into its reference)."""
    items = codec.expect_list(value, "signed entry")
    if items and type(items[0]) is int and items[0] == PROPOSAL_REF_TAG:
        return ProposalRef.from_record(value)
    return entry_of(message_from_record(value, max_value_bytes))


def proposal_signing_body(height: int, round_: int, value_id: bytes, valid_round: int, proposer: bytes) -> bytes:
    return codec.encode_trusted([PROPOSAL_TAG, VERSION, height, round_, value_id, valid_round, proposer])


def vote_signing_body(tag: int, height: int, round_: int, value_id: bytes | None, validator: bytes) -> bytes:
    return codec.encode_trusted([tag, VERSION, height, round_, value_id, validator])


def sign_proposal(key: KeyPair, chain_id: str, height: int, round_: int, value: bytes, valid_round: int) -> Proposal:
    body = proposal_signing_body(height, round_, hash_bytes(value), valid_round, key.public_key)
    return Proposal(height, round_, value, valid_round, key.public_key,
                    key.sign_for(Domain.PROPOSAL, chain_id, body))


VoteT = TypeVar("VoteT", bound=Vote)


def sign_vote(kind: type[VoteT], key: KeyPair, chain_id: str, height: int, round_: int,
              value_id: bytes | None) -> VoteT:
    body = vote_signing_body(kind.tag, height, round_, value_id, key.public_key)
    return kind(height, round_, value_id, key.public_key, key.sign_for(kind.domain, chain_id, body))


def sign_prevote(key: KeyPair, chain_id: str, height: int, round_: int, value_id: bytes | None) -> Prevote:
    return sign_vote(Prevote, key, chain_id, height, round_, value_id)


def sign_precommit(key: KeyPair, chain_id: str, height: int, round_: int, value_id: bytes | None) -> Precommit:
    return sign_vote(Precommit, key, chain_id, height, round_, value_id)


# ---- decoding (untrusted input): every failure is a codec.CodecError subclass ----


def message_from_record(value: Any, max_value_bytes: int = codec.DEFAULT_MAX_BYTES) -> SignedMessage:
    """Build a message from a decoded record, checking every field's type and range."""
    items = codec.expect_list(value, "consensus message")
    if len(items) < 1 or type(items[0]) is not int:
        raise codec.UnexpectedShape("consensus message: missing tag")
    tag = items[0]
    if tag == PROPOSAL_TAG:
        f = codec.expect_record(value, PROPOSAL_TAG, VERSION, 6, "proposal")
        return Proposal(
            height=codec.expect_int(f[0], "proposal.height", 0, MAX_HEIGHT),
            round=codec.expect_int(f[1], "proposal.round", 0, MAX_ROUND),
            value=codec.expect_bytes(f[2], "proposal.value", max_length=max_value_bytes),
            valid_round=codec.expect_int(f[3], "proposal.valid_round", -1, MAX_ROUND),
            proposer=codec.expect_bytes(f[4], "proposal.proposer", PUBLIC_KEY_BYTES),
            signature=codec.expect_bytes(f[5], "proposal.signature", SIGNATURE_BYTES),
        )
    kinds: dict[int, type[Vote]] = {PREVOTE_TAG: Prevote, PRECOMMIT_TAG: Precommit}
    kind = kinds.get(tag)
    if kind is None:
        raise codec.UnknownTag(f"consensus message: unknown tag {tag}")
    name = kind.__name__.lower()
    f = codec.expect_record(value, tag, VERSION, 5, name)
    value_id = None if f[2] is None else codec.expect_bytes(f[2], f"{name}.value_id", VALUE_ID_BYTES)
    vote = kind(
        height=codec.expect_int(f[0], f"{name}.height", 0, MAX_HEIGHT),
        round=codec.expect_int(f[1], f"{name}.round", 0, MAX_ROUND),
        value_id=value_id,
        validator=codec.expect_bytes(f[3], f"{name}.validator", PUBLIC_KEY_BYTES),
        signature=codec.expect_bytes(f[4], f"{name}.signature", SIGNATURE_BYTES),
    )
    assert isinstance(vote, (Prevote, Precommit))
    return vote


def encode_message(message: SignedMessage) -> bytes:
    return codec.encode(message.to_record())


def decode_message(data: bytes, max_bytes: int = codec.DEFAULT_MAX_BYTES) -> SignedMessage:
    """Decode a consensus message from the wire; raises ``codec.CodecError`` on anything malformed."""
    return message_from_record(codec.decode(data, max_bytes), max_bytes)
