"""Equivocation evidence: two validly signed, conflicting messages from one validator.

Two proposals, prevotes or precommits conflict when they have the same signer, kind, height and round
but different content (for votes, a different value, nil counting as one; for proposals, a different
value or valid round). Both signatures were checked before the evidence was made, so anyone with the
validator set can check it again. A proposal is kept as a ``ProposalRef`` (its signature covers the
value's id, not the value): evidence never holds a block, so it stays small whatever the block size
(a Byzantine proposer's 16 MB block once made stored evidence undecodable).

Encoding (tag 45, version 2): ``[45, 2, first_entry_record, second_entry_record]``. Version 1 held
whole proposal records; it still decodes (into references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from consensus import codec
from consensus.crypto import verify
from consensus.messages import (
    ProposalRef,
    SignedEntry,
    SignedMessage,
    Step,
    Verifier,
    entry_from_record,
    entry_of,
)

EVIDENCE_TAG: Final = 45
VERSION: Final = 2


def conflicting(a: SignedMessage | SignedEntry, b: SignedMessage | SignedEntry) -> bool:
    """True when ``a`` and ``b`` are two different answers to the same question by the same signer."""
    a, b = entry_of(a), entry_of(b)
    same_slot = (type(a) is type(b) and a.signer == b.signer and a.height == b.height and a.round == b.round)
    if not same_slot:
        return False
    if isinstance(a, ProposalRef) and isinstance(b, ProposalRef):
        return (a.value_id, a.valid_round) != (b.value_id, b.valid_round)
    return a.value_id != b.value_id


@dataclass(frozen=True)
class Evidence:
    """Proof that ``validator`` signed two conflicting messages for one (height, round, kind)."""

    first: SignedEntry
    """The message seen first (a proposal by reference)."""
    second: SignedEntry
    """The conflicting message seen later."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "first", entry_of(self.first))
        object.__setattr__(self, "second", entry_of(self.second))

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
    def from_record(cls, value: Any, max_value_bytes: int = codec.DEFAULT_MAX_BYTES) -> Evidence:
        """``max_value_bytes`` bounds a whole proposal's value in a version 1 record."""
        items = codec.expect_list(value, "evidence")
        version = VERSION if len(items) < 2 or items[1] != 1 or type(items[1]) is not int else 1
        f = codec.expect_record(value, EVIDENCE_TAG, version, 2, "evidence")
        first, second = entry_from_record(f[0], max_value_bytes), entry_from_record(f[1], max_value_bytes)
        if not conflicting(first, second):
            raise codec.UnexpectedShape("evidence: the two messages do not conflict")
        return cls(first, second)

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = codec.DEFAULT_MAX_BYTES) -> Evidence:
        return cls.from_record(codec.decode(data, max_bytes), max_bytes)

    @classmethod
    def decode_stored(cls, data: bytes) -> Evidence:
        """Evidence this node stored itself (a version 1 record may hold whole blocks of any size)."""
        return cls.decode(data, max_bytes=max(len(data), codec.DEFAULT_MAX_BYTES))
