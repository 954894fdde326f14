"""Equivocation evidence: two validly signed, conflicting messages from one validator.

Two proposals, prevotes or precommits conflict when they have the same signer, kind, height and round
but different values (for votes, nil counts as a value). Both signatures were checked before the
evidence was made, so anyone with the validator set can check it again. Encoding (tag 45):
``[45, 1, first_message_record, second_message_record]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from consensus import codec
from consensus.crypto import verify
from consensus.messages import Proposal, SignedMessage, Step, Verifier, message_from_record

EVIDENCE_TAG: Final = 45
VERSION: Final = 1


def conflicting(a: SignedMessage, b: SignedMessage) -> bool:
    """True when ``a`` and ``b`` are two different answers to the same question by the same signer."""
    same_slot = (type(a) is type(b) and a.signer == b.signer and a.height == b.height and a.round == b.round)
    if not same_slot:
        return False
    if isinstance(a, Proposal) and isinstance(b, Proposal):
        return (a.value_id, a.valid_round) != (b.value_id, b.valid_round)
    return a.value_id != b.value_id


@dataclass(frozen=True)
class Evidence:
    """Proof that ``validator`` signed two conflicting messages for one (height, round, kind)."""

    first: SignedMessage
    """The message seen first."""
    second: SignedMessage
    """The conflicting message seen later."""

    @property
    def validator(self) -> bytes:
        return self.first.signer

    @property
    def height(self) -> int:
        return self.first.height

    @property
    def round(self) -> int:
        return self.first.round

    @property
    def kind(self) -> Step:
        return self.first.kind

    def is_valid(self, chain_id: str, verifier: Verifier = verify) -> bool:
        return (conflicting(self.first, self.second)
                and self.first.has_valid_signature(chain_id, verifier)
                and self.second.has_valid_signature(chain_id, verifier))

    def to_record(self) -> list[Any]:
        return [EVIDENCE_TAG, VERSION, self.first.to_record(), self.second.to_record()]

    def encode(self) -> bytes:
        return codec.encode(self.to_record())

    @classmethod
    def from_record(cls, value: Any) -> Evidence:
        f = codec.expect_record(value, EVIDENCE_TAG, VERSION, 2, "evidence")
        first, second = message_from_record(f[0]), message_from_record(f[1])
        if not conflicting(first, second):
            raise codec.UnexpectedShape("evidence: the two messages do not conflict")
        return cls(first, second)

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = codec.DEFAULT_MAX_BYTES) -> Evidence:
        return cls.from_record(codec.decode(data, max_bytes))
