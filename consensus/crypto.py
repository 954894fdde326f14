"""Ed25519 keys and domain-separated signing digests.

Everything signed is signed as ``sha256(domain_tag || len(chain_id) || chain_id || bytes)``: a distinct
tag per kind of message means a signature made for one purpose (a vote) can never be replayed as
another (a transaction), and the chain id keeps a testnet signature off the production chain.
PyNaCl (libsodium) does the curve work; hashes come from hashlib.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

import nacl.bindings
import nacl.exceptions
import nacl.signing

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class Domain(bytes, Enum):
    """Signing domains: one tag per kind of signed content."""

    TRANSACTION = b"bakong.tx.v1"
    QUERY = b"bakong.query.v1"
    PROPOSAL = b"bakong.proposal.v1"
    PREVOTE = b"bakong.prevote.v1"
    PRECOMMIT = b"bakong.precommit.v1"
    HANDSHAKE = b"bakong.handshake.v1"


def hash_bytes(data: bytes) -> bytes:
    """The ledger's content hash (tx hash, block hash, state root): SHA-256."""
    return hashlib.sha256(data).digest()


def signing_digest(domain: Domain, chain_id: str, message: bytes) -> bytes:
    chain = chain_id.encode()
    return hashlib.sha256(domain.value + len(chain).to_bytes(1, "big") + chain + message).digest()


def verify(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``digest`` by ``public_key``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + digest, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 signing key; ``seed`` is the 32-byte secret stored in key files."""

    seed: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(seed)

    @property
    def public_key(self) -> bytes:
        return self._signing_key.verify_key.encode()

    @property
    def _signing_key(self) -> nacl.signing.SigningKey:
        key = self.__dict__.get("_sk")
        if key is None:
            key = nacl.signing.SigningKey(self.seed)
            object.__setattr__(self, "_sk", key)
        return key

    def sign(self, digest: bytes) -> bytes:
        return self._signing_key.sign(digest).signature

    def sign_for(self, domain: Domain, chain_id: str, message: bytes) -> bytes:
        return self.sign(signing_digest(domain, chain_id, message))

    def __repr__(self) -> str:  # never print a secret
        return f"KeyPair(public_key={self.public_key.hex()[:16]}...)"
