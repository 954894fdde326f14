"""Commit certificates: the precommits that decided a value, checkable by anyone who knows the set.

Encoding (tag 43): ``[43, 1, height, round, value_id, [[validator, signature], ...]]`` with signatures
sorted by validator key, so one certificate has one encoding. A signature is checked by rebuilding the
precommit it belongs to, so the certificate carries only 96 bytes per signer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from consensus import codec
from consensus.crypto import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from consensus.crypto import verify as ed25519_verify
from consensus.messages import MAX_HEIGHT, MAX_ROUND, VALUE_ID_BYTES, Precommit, Verifier
from consensus.validators import ValidatorSet

CERTIFICATE_TAG: Final = 43
VERSION: Final = 1
MAX_SIGNATURES: Final = 1024


class InvalidCertificate(Exception):
    """A certificate that does not prove a decision; ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class CommitCertificate:
    """Proof that 2n//3+1 validators precommitted ``value_id`` at (height, round)."""

    height: int
    """The decided height."""
    round: int
    """The round whose precommits decided it."""
    value_id: bytes
    """``hash_bytes`` of the decided value."""
    signatures: tuple[tuple[bytes, bytes], ...]
    """(validator public key, precommit signature) pairs, sorted by key."""

    @classmethod
    def from_precommits(cls, precommits: Iterable[Precommit]) -> CommitCertificate:
        votes = list(precommits)
        if not votes:
            raise ValueError("a certificate needs at least one precommit")
        first = votes[0]
        if first.value_id is None:
            raise ValueError("nil precommits decide nothing")
        for vote in votes:
            if (vote.height, vote.round, vote.value_id) != (first.height, first.round, first.value_id):
                raise ValueError("precommits of a certificate must agree on height, round and value")
        # One signature per validator: a validator may have signed the same precommit more than once
        # (another nonce, other bytes), and ``verify`` rightly refuses a certificate naming it twice.
        by_validator: dict[bytes, bytes] = {}
        for vote in votes:
            by_validator.setdefault(vote.validator, vote.signature)
        pairs = tuple(sorted(by_validator.items()))
        return cls(first.height, first.round, first.value_id, pairs)

    def precommits(self) -> list[Precommit]:
        return [Precommit(self.height, self.round, self.value_id, key, sig) for key, sig in self.signatures]

    def verify(self, chain_id: str, validators: ValidatorSet, verifier: Verifier = ed25519_verify) -> None:
        """Raise ``InvalidCertificate`` unless a quorum of ``validators`` validly precommitted the value."""
        seen: set[bytes] = set()
        for vote in self.precommits():
            if vote.validator in seen:
                raise InvalidCertificate("duplicate_signer", "a validator signs a certificate once")
            seen.add(vote.validator)
            if vote.validator not in validators:
                raise InvalidCertificate("unknown_signer", "a signer is not in the validator set")
            if not vote.has_valid_signature(chain_id, verifier):
                raise InvalidCertificate("bad_signature", "a precommit signature does not verify")
        if len(seen) < validators.quorum:
            raise InvalidCertificate(
                "no_quorum", f"{len(seen)} signers where {validators.quorum} are needed")

    def is_valid(self, chain_id: str, validators: ValidatorSet, verifier: Verifier = ed25519_verify) -> bool:
        try:
            self.verify(chain_id, validators, verifier)
        except InvalidCertificate:
            return False
        return True

    def to_record(self) -> list[Any]:
        return [CERTIFICATE_TAG, VERSION, self.height, self.round, self.value_id,
                [[key, sig] for key, sig in self.signatures]]

    def encode(self) -> bytes:
        return codec.encode(self.to_record())

    @classmethod
    def from_record(cls, value: Any) -> CommitCertificate:
        f = codec.expect_record(value, CERTIFICATE_TAG, VERSION, 4, "certificate")
        raw = codec.expect_list(f[3], "certificate.signatures", max_length=MAX_SIGNATURES)
        pairs = []
        for item in raw:
            pair = codec.expect_list(item, "certificate.signature", length=2)
            pairs.append((codec.expect_bytes(pair[0], "certificate.validator", PUBLIC_KEY_BYTES),
                          codec.expect_bytes(pair[1], "certificate.signature", SIGNATURE_BYTES)))
        if pairs != sorted(pairs):
            raise codec.NonCanonicalEncoding("certificate signatures must be sorted by validator")
        return cls(
            height=codec.expect_int(f[0], "certificate.height", 0, MAX_HEIGHT),
            round=codec.expect_int(f[1], "certificate.round", 0, MAX_ROUND),
            value_id=codec.expect_bytes(f[2], "certificate.value_id", VALUE_ID_BYTES),
            signatures=tuple(pairs),
        )

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = 256 * 1024) -> CommitCertificate:
        return cls.from_record(codec.decode(data, max_bytes))
