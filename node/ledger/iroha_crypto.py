"""Iroha 1's two signature schemes: parse its key and signature strings, verify at libsodium speed.

An Iroha 1 public key travels as a hex string in one of two forms (docs/iroha.md, "Signatures"):

- **standard** Ed25519, ``"ed0120" + 64 hex``: a multihash (code 0xed = ed25519-pub as the varint
  ``ed 01``, length 0x20) around the 32-byte key. RFC 8032 Ed25519 over the RAW payload bytes;
  libsodium verifies it (PyNaCl's ``crypto_sign_open``).
- **legacy**, ``64 hex``: Ed25519 with SHA3-512 wherever RFC 8032 uses SHA-512 (key expansion, nonce,
  challenge), over the 32-byte ``sha3_256(payload)`` (the transaction's hash), never the payload
  itself. libsodium has no such variant, so the equation is checked here with libsodium's point
  arithmetic (``[S]B - [k]A == R``); the official client's pure-Python verifier takes milliseconds.

Hex is accepted in either case, as Iroha's validators do (``[A-Fa-f0-9]``), and a key's ``text`` is
lower-case, the form the official client emits and Iroha stores (``lower(:pubkey)``), so one key
always names one signatory.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from dataclasses import dataclass
from enum import Enum

import nacl.bindings
import nacl.exceptions
import nacl.signing

from node.ledger.errors import StatelessError

BAD_PUBLIC_KEY = "bad_public_key"
BAD_SIGNATURE = "bad_signature"

KEY_BYTES = 32
SIGNATURE_BYTES = 64
SEED_BYTES = 32
# The multihash header of a standard key: varint 0xed (ed25519-pub) = ed 01, then the length 0x20.
STANDARD_PREFIX = bytes.fromhex("ed0120")
# The order of the prime-order subgroup of edwards25519 (RFC 8032's L).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
# The field edwards25519 is defined over, and the y of an encoded point (its top bit is x's sign).
FIELD_PRIME = 2**255 - 19
_Y_MASK = 2**255 - 1
_INVERSE_OF_8 = pow(8, -1, GROUP_ORDER)
# The canonical encoding of the neutral element (x = 0, y = 1).
IDENTITY = (1).to_bytes(32, "little")


class KeyKind(Enum):
    """Which Ed25519 an Iroha key signs with; the value is the name Iroha's crypto providers use."""

    STANDARD = "ed25519_sha2"
    LEGACY = "ed25519_sha3"


@dataclass(frozen=True, slots=True)
class IrohaPublicKey:
    """A parsed Iroha public key: its kind and the 32-byte Ed25519 point encoding."""

    kind: KeyKind
    raw: bytes

    @property
    def text(self) -> str:
        """The key as Iroha writes it (lower-case hex, the multihash prefix for a standard key)."""
        prefix = STANDARD_PREFIX if self.kind is KeyKind.STANDARD else b""
        return (prefix + self.raw).hex()


def _unhex(text: object) -> bytes | None:
    """The bytes of a hex string in either case; None for anything else (odd length, non-hex, not str)."""
    if not isinstance(text, str) or not text.isascii():
        return None
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        return None


def parse_iroha_public_key(text: str) -> IrohaPublicKey:
    """``"ed0120" + 64 hex`` -> a standard key, ``64 hex`` -> a legacy key; StatelessError otherwise.

    Only the form is checked here, as Iroha's stateless validation does; a 32-byte string that is no
    usable curve point parses, and every signature under it fails to verify.
    """
    raw = _unhex(text)
    if raw is not None and len(raw) == KEY_BYTES:
        return IrohaPublicKey(KeyKind.LEGACY, raw)
    if raw is not None and len(raw) == len(STANDARD_PREFIX) + KEY_BYTES and raw.startswith(STANDARD_PREFIX):
        return IrohaPublicKey(KeyKind.STANDARD, raw[len(STANDARD_PREFIX):])
    raise StatelessError(
        BAD_PUBLIC_KEY,
        f"bad public key {text!r}: expected 64 hex digits (legacy ed25519/sha3) or 'ed0120' + 64 hex (ed25519)",
    )


def parse_iroha_signature(text: str) -> bytes:
    """The 64 raw bytes of a signature as Iroha's protobuf ``Signature.signature`` carries it (hex)."""
    raw = _unhex(text)
    if raw is None or len(raw) != SIGNATURE_BYTES:
        raise StatelessError(BAD_SIGNATURE, f"bad signature {text!r}: expected 128 hex digits")
    return raw


def verify_iroha_signature(key: IrohaPublicKey, payload: bytes, signature: bytes,
                           payload_hash: bytes | None = None) -> bool:
    """True when ``signature`` (64 raw bytes) is ``key``'s signature of the payload bytes.
    ``payload_hash``: their sha3_256 if the caller has it (an Iroha transaction's hash), which the legacy
    kind signs, so it is not computed again."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    if key.kind is KeyKind.STANDARD:
        try:  # libsodium's verify: S < L, A canonical and not small order, R not small order
            nacl.bindings.crypto_sign_open(signature + payload, key.raw)
        except nacl.exceptions.BadSignatureError:
            return False
        return True
    message = payload_hash if payload_hash is not None else hashlib.sha3_256(payload).digest()
    return _verify_legacy(key.raw, message, signature)


def _verify_legacy(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032's check with SHA3-512, by libsodium's point arithmetic, in its fast form (docs/iroha.md,
    "Legacy signatures").

    The rules, and what each rejects (the official client's ``ed25519.checkvalid`` accepts all of them;
    no honest signer produces any):

    1. S < L: otherwise S + L, S + 2L ... verify too (malleable signatures).
    2. R is canonical (y < p) and not the neutral element in either encoding (y = 1): a signature "with
       nonce 0" (S = k * a) says nothing of the message's freshness.
    3. A is a canonical encoding of a point of order L (not small order, no torsion component):
       ``_montgomery_u`` answers None for any other A.
    4. ``[S]B - R == [k]A`` with k = SHA3-512(R || A || message) mod L, compared by Montgomery u (the
       Edwards y): one X25519 ladder for [k]A instead of ``crypto_scalarmult_ed25519_noclamp``, which
       repeats rule 3's subgroup check on every call (32 us against 66). u leaves the sign open, so
       ``[S]B - R == -[k]A`` passes too: a signature for the negated equation, which only the key's
       holder can make (it needs a) and which changes nothing a signature binds (docs/iroha.md).
       With R of any other order than L, ``[S]B - R`` has a torsion part that neither side has.
    """
    r_bytes, s_bytes = signature[:32], signature[32:]
    r_y = int.from_bytes(r_bytes, "little") & _Y_MASK
    if int.from_bytes(s_bytes, "little") >= GROUP_ORDER or r_y >= FIELD_PRIME or r_y == 1:
        return False
    u_a = _montgomery_u(public_key)
    if u_a is None:
        return False
    challenge = int.from_bytes(hashlib.sha3_512(r_bytes + public_key + message).digest(), "little") % GROUP_ORDER
    ladder = ladder_scalar(challenge)
    if ladder is None:  # k = 0, or one of about 2^-127 of challenges that no X25519 scalar reaches
        return _verify_legacy_exact(public_key, challenge, r_bytes, s_bytes)
    try:
        c_point = nacl.bindings.crypto_core_ed25519_sub(nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(s_bytes),
                                                        r_bytes)
        u_k = int.from_bytes(nacl.bindings.crypto_scalarmult(ladder, u_a), "little")
    except nacl.exceptions.RuntimeError:  # S = 0, or R no curve point
        return False
    c_y = int.from_bytes(c_point, "little") & _Y_MASK
    return u_k * (1 - c_y) % FIELD_PRIME == (1 + c_y) % FIELD_PRIME  # u = (1 + y) / (1 - y)


def _verify_legacy_exact(public_key: bytes, challenge: int, r_bytes: bytes, s_bytes: bytes) -> bool:
    """``encode([S]B - [k]A) == R`` byte for byte, with Edwards arithmetic only (twice the cost)."""
    try:
        s_b = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(s_bytes)
        k_a = nacl.bindings.crypto_scalarmult_ed25519_noclamp(challenge.to_bytes(32, "little"), public_key)
    except nacl.exceptions.RuntimeError:  # a zero scalar, or A not a point of order L
        return False
    expected_r: bytes = nacl.bindings.crypto_core_ed25519_sub(s_b, k_a)
    return expected_r == r_bytes


@functools.lru_cache(maxsize=65_536)
def _montgomery_u(public_key: bytes) -> bytes | None:
    """A's Montgomery u = (1 + y) / (1 - y) when A is a canonical point of order L; None otherwise.
    (``crypto_core_ed25519_is_valid_point`` and a division here cost 43 us; libsodium's conversion 35.)

    Cached per key (an account's key signs again and again): the subgroup check is the costly half of
    a verification. ~200 bytes an entry, so ~13 MB when full; a flood of fresh keys only evicts."""
    if len(public_key) != KEY_BYTES:
        return None
    # The conversion refuses a point off the curve, of small order, or with a torsion part. It does not
    # look at canonicity, and needs not: no point of order L has y < 19, so none has a second encoding
    # (y + p) (tests/ledger/test_iroha_crypto.py checks all 19).
    try:
        u: bytes = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(public_key)
    except nacl.exceptions.RuntimeError:
        return None
    return u


def ladder_scalar(challenge: int) -> bytes | None:
    """An X25519 scalar n with [n]P = +-[challenge]P for every P of order L, or None.

    X25519 clamps its scalar: a multiple of 8 between 2^254 and 2^255. So n = 8m with m in [2^251,
    2^252) and m = +-challenge / 8 mod L; one of the two is in range unless challenge / 8 mod L falls
    within 2^252 - L of 0 or of L (about 2^-127 of challenges), or challenge is 0."""
    m = challenge * _INVERSE_OF_8 % GROUP_ORDER
    if m < 2**251:  # then L - m is above 2^251 + (L - 2^252), and below 2^252 unless m <= L - 2^252
        m = GROUP_ORDER - m
    if m >= 2**252:
        return None
    return (8 * m).to_bytes(32, "little")


# -- signing, for tests, the benchmark and clients written in Python ---------------------------------------


@dataclass(frozen=True, slots=True)
class LegacyKeyPair:
    """A legacy (ed25519/sha3) key: the 32-byte seed (Iroha's hex "private key"), its expansion, its key."""

    seed: bytes
    scalar: int
    prefix: bytes
    public_key: IrohaPublicKey


def legacy_keypair_from_seed(seed: bytes) -> LegacyKeyPair:
    """Expand a 32-byte seed as RFC 8032 does, with SHA3-512: clamp the first half into the scalar a."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a seed is {SEED_BYTES} bytes, not {len(seed)}")
    expanded = hashlib.sha3_512(seed).digest()
    clamped = bytearray(expanded[:32])
    clamped[0] &= 248  # a multiple of the cofactor 8
    clamped[31] &= 127  # below 2^255 ...
    clamped[31] |= 64  # ... with bit 254 set
    point = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(bytes(clamped))
    return LegacyKeyPair(seed, int.from_bytes(clamped, "little"), expanded[32:], IrohaPublicKey(KeyKind.LEGACY, point))


def legacy_public_key(seed: bytes) -> IrohaPublicKey:
    return legacy_keypair_from_seed(seed).public_key


def legacy_sign(seed: bytes, payload: bytes) -> bytes:
    """The legacy signature of ``payload``: Ed25519 with SHA3-512 over ``sha3_256(payload)``."""
    return legacy_sign_expanded(legacy_keypair_from_seed(seed), payload)


def legacy_sign_expanded(pair: LegacyKeyPair, payload: bytes) -> bytes:
    """The legacy signature of ``payload`` by an expanded key (its scalar, nonce prefix and point)."""
    message = hashlib.sha3_256(payload).digest()
    nonce = int.from_bytes(hashlib.sha3_512(pair.prefix + message).digest(), "little") % GROUP_ORDER
    r_bytes = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(nonce.to_bytes(32, "little"))
    digest = hashlib.sha3_512(r_bytes + pair.public_key.raw + message).digest()
    s = (nonce + int.from_bytes(digest, "little") * pair.scalar) % GROUP_ORDER
    return bytes(r_bytes) + s.to_bytes(32, "little")


def legacy_pair_of_standard_seed(seed: bytes) -> LegacyKeyPair:
    """The expanded key of a STANDARD seed (SHA-512 expansion, RFC 8032), for signing in the legacy scheme
    with the same point: a signatory is the point, so one key can sign in either scheme (docs/iroha.md,
    "Signatories"). The benchmark uses it to sign legacy-kind transactions for accounts with one key."""
    expanded = hashlib.sha512(seed).digest()
    clamped = bytearray(expanded[:32])
    clamped[0] &= 248
    clamped[31] &= 127
    clamped[31] |= 64
    point = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(bytes(clamped))
    return LegacyKeyPair(seed, int.from_bytes(clamped, "little"), expanded[32:], IrohaPublicKey(KeyKind.LEGACY, point))


def standard_public_key(seed: bytes) -> IrohaPublicKey:
    return IrohaPublicKey(KeyKind.STANDARD, bytes(nacl.signing.SigningKey(seed).verify_key))


def standard_sign(seed: bytes, payload: bytes) -> bytes:
    """The standard Ed25519 signature of the raw payload bytes."""
    return bytes(nacl.signing.SigningKey(seed).sign(payload).signature)
