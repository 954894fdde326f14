"""Iroha 1's two key kinds verify as the official client signs them, and we refuse what libsodium refuses.

The vectors are made in the test by the official Python client (``iroha`` 1.6.0.2, its own venv, see
tests/iroha_client.py): real transactions built with ``Iroha('admin@test').transaction`` and signed
with ``IrohaCrypto.sign_transaction`` by a legacy hex private key and an ed25519/sha2 nacl key. The
other direction too: the client's own ``is_signature_valid`` accepts our legacy signatures. Two
subprocesses per module (sign, then check ours), in a module-scoped fixture.
"""

from __future__ import annotations

import hashlib
import json

import nacl.bindings
import nacl.exceptions
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.ledger import iroha_crypto
from node.ledger.errors import StatelessError
from node.ledger.iroha_crypto import (
    GROUP_ORDER,
    IDENTITY,
    IrohaPublicKey,
    KeyKind,
    ladder_scalar,
    legacy_keypair_from_seed,
    legacy_public_key,
    legacy_sign,
    parse_iroha_public_key,
    parse_iroha_signature,
    standard_public_key,
    standard_sign,
    verify_iroha_signature,
)
from tests.iroha_client import run_official

LEGACY_SEED = bytes(range(32))
STANDARD_SEED = bytes(range(100, 132))
# A point of order 8 (libsodium's small-order list): adding it to a key gives a key with a torsion part.
ORDER_8_POINT = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")

SIGN_SCRIPT = r"""
import json, sys
import nacl.signing
from iroha import Iroha, IrohaCrypto

legacy_private_key = sys.argv[1]
standard_key = nacl.signing.SigningKey(bytes.fromhex(sys.argv[2]))
iroha = Iroha("admin@test")
transactions = [
    iroha.transaction([iroha.command("TransferAsset", src_account_id="admin@test", dest_account_id="bob@test",
                                     asset_id="khr#test", description="rent", amount="1500.50")],
                      created_time=1700000000000),
    iroha.transaction([iroha.command("CreateAccount", account_name="bob", domain_id="test",
                                     public_key=IrohaCrypto.derive_public_key(standard_key))],
                      created_time=1700000000001),
    iroha.transaction([iroha.command("AddAssetQuantity", asset_id="usd#test", amount="10.00")],
                      quorum=2, created_time=1700000000002),
]
out = []
for tx in transactions:
    IrohaCrypto.sign_transaction(tx, legacy_private_key, standard_key)
    out.append({
        "payload": tx.payload.SerializeToString().hex(),
        "hash": IrohaCrypto.hash(tx).hex(),
        "signatures": [[s.public_key, s.signature] for s in tx.signatures],
    })
print(json.dumps({
    "legacy_public_key": IrohaCrypto.derive_public_key(legacy_private_key).decode(),
    "standard_public_key": IrohaCrypto.derive_public_key(standard_key),
    "transactions": out,
}))
"""

# argv[1]: JSON [[payload hex, public key, signature hex], ...] -> JSON [bool, ...] from the client's verifiers.
CHECK_SCRIPT = r"""
import json, sys
import nacl.exceptions
from iroha import IrohaCrypto, primitive_pb2, transaction_pb2

answers = []
for payload, public_key, signature_hex in json.loads(sys.argv[1]):
    tx = transaction_pb2.Transaction()
    tx.payload.ParseFromString(bytes.fromhex(payload))
    assert tx.payload.SerializeToString().hex() == payload
    signature = primitive_pb2.Signature(public_key=public_key, signature=signature_hex)
    if public_key.startswith("ed0120"):
        try:
            answers.append(IrohaCrypto.is_sha2_signature_valid(tx, signature))
        except nacl.exceptions.BadSignatureError:
            answers.append(False)
    else:
        answers.append(IrohaCrypto.is_signature_valid(tx, signature))
print(json.dumps(answers))
"""


def _times(point: bytes, n: int) -> bytes:
    """[n]P by repeated addition (works for small-order points, which libsodium's scalarmult refuses)."""
    total = IDENTITY
    for _ in range(n):
        total = nacl.bindings.crypto_core_ed25519_add(total, point)
    return total


def _torsion_forgery(seed: bytes | None, torsion: bytes, payload: bytes) -> tuple[bytes, bytes]:
    """(A, signature): A = [a]B + T (or T alone), a signature that passes the cofactorless equation.

    With R = [r]B + [j]T the equation [S]B = R + [k]A holds for S = r + k*a when j + k = 0 mod 8 (T has
    order 8; k the unreduced challenge), so try
    j = 0..7 (and new r) until the challenge fits. The official verifier accepts these; we do not.
    """
    scalar = legacy_keypair_from_seed(seed).scalar if seed is not None else 0
    base = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(scalar.to_bytes(32, "little")) if seed else IDENTITY
    public_key = nacl.bindings.crypto_core_ed25519_add(base, torsion)
    message = hashlib.sha3_256(payload).digest()
    for r in range(1, 100):
        r_b = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little"))
        for j in range(8):
            r_point = nacl.bindings.crypto_core_ed25519_add(r_b, _times(torsion, j))
            # The torsion part sees the challenge before its reduction mod L (checkvalid never reduces it).
            k = int.from_bytes(hashlib.sha3_512(r_point + public_key + message).digest(), "little")
            if (j + k) % 8 == 0:
                s = (r + k * scalar) % GROUP_ORDER
                return public_key, r_point + s.to_bytes(32, "little")
    raise AssertionError("no torsion forgery found")


def _standard_torsion_forgery(payload: bytes) -> tuple[bytes, bytes]:
    """As _torsion_forgery for RFC 8032's Ed25519 (SHA-512 over the raw payload, challenge reduced mod L)."""
    scalar = 12345
    public_key = nacl.bindings.crypto_core_ed25519_add(
        nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(scalar.to_bytes(32, "little")), ORDER_8_POINT)
    for r in range(1, 100):
        r_b = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little"))
        for j in range(8):
            r_point = nacl.bindings.crypto_core_ed25519_add(r_b, _times(ORDER_8_POINT, j))
            k = int.from_bytes(hashlib.sha512(r_point + public_key + payload).digest(), "little") % GROUP_ORDER
            if (j + k) % 8 == 0:
                return public_key, r_point + ((r + k * scalar) % GROUP_ORDER).to_bytes(32, "little")
    raise AssertionError("no torsion forgery found")


def _nonce_zero_signature(seed: bytes, payload: bytes) -> bytes:
    """R = the neutral element, S = k * a: passes the bare equation, refused by libsodium's rules."""
    pair = legacy_keypair_from_seed(seed)
    message = hashlib.sha3_256(payload).digest()
    k = int.from_bytes(hashlib.sha3_512(IDENTITY + pair.public_key.raw + message).digest(), "little") % GROUP_ORDER
    return IDENTITY + (k * pair.scalar % GROUP_ORDER).to_bytes(32, "little")


def _malleate(signature: bytes) -> bytes:
    """S + L: the same point equation, another signature string."""
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER
    return signature[:32] + s.to_bytes(32, "little")


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.fixture(scope="module")
def official() -> dict:
    signed = json.loads(run_official(SIGN_SCRIPT, LEGACY_SEED.hex(), STANDARD_SEED.hex()))
    payload = signed["transactions"][0]["payload"]
    other_payload = signed["transactions"][1]["payload"]
    raw = bytes.fromhex(payload)
    legacy = legacy_public_key(LEGACY_SEED).text
    standard = standard_public_key(STANDARD_SEED).text
    torsion_key, torsion_signature = _torsion_forgery(LEGACY_SEED, ORDER_8_POINT, raw)
    small_key, small_signature = _torsion_forgery(None, ORDER_8_POINT, raw)
    ours = {
        "legacy": [[t["payload"], legacy, legacy_sign(LEGACY_SEED, bytes.fromhex(t["payload"])).hex()]
                   for t in signed["transactions"]],
        "standard": [[t["payload"], standard, standard_sign(STANDARD_SEED, bytes.fromhex(t["payload"])).hex()]
                     for t in signed["transactions"]],
        "legacy_other_payload": [[other_payload, legacy, legacy_sign(LEGACY_SEED, raw).hex()]],
        "malleated": [[payload, legacy, _malleate(legacy_sign(LEGACY_SEED, raw)).hex()]],
        "nonce_zero": [[payload, legacy, _nonce_zero_signature(LEGACY_SEED, raw).hex()]],
        "torsion_key": [[payload, torsion_key.hex(), torsion_signature.hex()]],
        "small_order_key": [[payload, small_key.hex(), small_signature.hex()]],
    }
    cases = [case for group in ours.values() for case in group]
    answers = iter(json.loads(run_official(CHECK_SCRIPT, json.dumps(cases))))
    checked = {name: [next(answers) for _ in group] for name, group in ours.items()}
    return {"signed": signed, "ours": ours, "checked": checked}


def _signatures(official: dict) -> list[tuple[IrohaPublicKey, bytes, bytes]]:
    return [
        (parse_iroha_public_key(key), bytes.fromhex(tx["payload"]), parse_iroha_signature(signature))
        for tx in official["signed"]["transactions"]
        for key, signature in tx["signatures"]
    ]


# -- the official client's signatures ---------------------------------------------------------------------


def test_the_official_clients_keys_parse_to_the_kinds_it_signs_with_and_print_back_the_same(official) -> None:
    legacy = parse_iroha_public_key(official["signed"]["legacy_public_key"])
    standard = parse_iroha_public_key(official["signed"]["standard_public_key"])
    assert legacy.kind is KeyKind.LEGACY and standard.kind is KeyKind.STANDARD
    assert legacy.text == official["signed"]["legacy_public_key"] == legacy_public_key(LEGACY_SEED).text
    assert standard.text == official["signed"]["standard_public_key"] == standard_public_key(STANDARD_SEED).text
    kinds = [key.kind for key, _, _ in _signatures(official)]
    assert kinds == [KeyKind.LEGACY, KeyKind.STANDARD] * 3


def test_every_signature_the_official_client_makes_verifies(official) -> None:
    for key, payload, signature in _signatures(official):
        assert verify_iroha_signature(key, payload, signature), key


def test_the_official_legacy_signature_is_over_the_transaction_hash_and_equals_ours(official) -> None:
    for tx in official["signed"]["transactions"]:
        payload = bytes.fromhex(tx["payload"])
        assert hashlib.sha3_256(payload).hexdigest() == tx["hash"]
        (_, legacy_hex), (_, standard_hex) = tx["signatures"]
        assert legacy_sign(LEGACY_SEED, payload).hex() == legacy_hex  # Ed25519 is deterministic
        assert standard_sign(STANDARD_SEED, payload).hex() == standard_hex


def test_a_flipped_bit_in_payload_signature_or_key_fails_verification(official) -> None:
    for key, payload, signature in _signatures(official):
        for bit in (0, 77, 8 * len(payload) - 1):
            assert not verify_iroha_signature(key, _flip(payload, bit), signature)
        for bit in (0, 255, 256, 300, 511):
            assert not verify_iroha_signature(key, payload, _flip(signature, bit))
        for bit in (0, 100, 254, 255):
            assert not verify_iroha_signature(IrohaPublicKey(key.kind, _flip(key.raw, bit)), payload, signature)
        other = KeyKind.STANDARD if key.kind is KeyKind.LEGACY else KeyKind.LEGACY
        assert not verify_iroha_signature(IrohaPublicKey(other, key.raw), payload, signature)


def test_the_official_client_accepts_our_signatures_of_its_transactions(official) -> None:
    assert official["checked"]["legacy"] == [True, True, True]
    assert official["checked"]["standard"] == [True, True, True]
    assert official["checked"]["legacy_other_payload"] == [False]  # the checker can say no


def test_malleated_s_plus_l_is_rejected_though_the_official_client_accepts_it(official) -> None:
    (payload, key, signature), = official["ours"]["malleated"]
    assert official["checked"]["malleated"] == [True]  # its checkvalid reduces S mod L
    assert not verify_iroha_signature(parse_iroha_public_key(key), bytes.fromhex(payload), bytes.fromhex(signature))
    for key, payload, good in _signatures(official):
        assert not verify_iroha_signature(key, payload, _malleate(good))


def test_degenerate_signatures_the_official_client_accepts_are_refused_as_libsodium_refuses_them(official) -> None:
    """Nonce 0 (R = neutral), a key with a torsion part, a small-order key: each passes its equation."""
    for name in ("nonce_zero", "torsion_key", "small_order_key"):
        (payload, key, signature), = official["ours"][name]
        assert official["checked"][name] == [True], name
        assert not verify_iroha_signature(parse_iroha_public_key(key), bytes.fromhex(payload),
                                          bytes.fromhex(signature)), name


def test_the_standard_kind_is_libsodiums_verify_which_unlike_our_legacy_check_takes_a_key_with_a_torsion_part() -> None:
    """The one place the legacy check is stricter than libsodium (docs/iroha.md, "Signatures")."""
    public_key, signature = _standard_torsion_forgery(b"p")
    assert verify_iroha_signature(IrohaPublicKey(KeyKind.STANDARD, public_key), b"p", signature)
    legacy_key, legacy_signature = _torsion_forgery(LEGACY_SEED, ORDER_8_POINT, b"p")
    assert not verify_iroha_signature(IrohaPublicKey(KeyKind.LEGACY, legacy_key), b"p", legacy_signature)


# -- parsing -----------------------------------------------------------------------------------------------


def test_keys_parse_in_either_case_and_print_lower_case() -> None:
    legacy = legacy_public_key(LEGACY_SEED)
    standard = standard_public_key(STANDARD_SEED)
    assert parse_iroha_public_key(legacy.text.upper()) == legacy
    assert parse_iroha_public_key(standard.text.upper()) == standard
    assert parse_iroha_public_key(standard.text.upper()).text == standard.text
    assert standard.text == "ed0120" + standard.raw.hex() and legacy.text == legacy.raw.hex()


@pytest.mark.parametrize("text", [
    "", "00", "ab" * 31, "ab" * 33, "ab" * 31 + "a", "ab" * 32 + "a", "zz" * 32, "ed0120" + "ab" * 31,
    "ed0120" + "ab" * 33, "ed0121" + "ab" * 32, "ec0120" + "ab" * 32, "ed0020" + "ab" * 32,
    "0x" + "ab" * 32, " " + "ab" * 32, "ab" * 32 + "\n", "ａｂ" * 32, "é" * 64, b"ab" * 32, None, 7,
])
def test_anything_but_the_two_key_forms_is_a_bad_public_key(text) -> None:
    with pytest.raises(StatelessError) as caught:
        parse_iroha_public_key(text)
    assert caught.value.code == "bad_public_key"


def test_signatures_parse_from_hex_of_64_bytes_only() -> None:
    signature = legacy_sign(LEGACY_SEED, b"x")
    assert parse_iroha_signature(signature.hex()) == signature
    assert parse_iroha_signature(signature.hex().upper()) == signature
    for text in ("", signature.hex()[:-2], signature.hex() + "00", signature.hex()[:-1], "g" * 128, None, signature):
        with pytest.raises(StatelessError) as caught:
            parse_iroha_signature(text)
        assert caught.value.code == "bad_signature"


def test_a_signature_of_the_wrong_length_is_invalid_not_an_error() -> None:
    for key, sign in ((legacy_public_key(LEGACY_SEED), legacy_sign), (standard_public_key(STANDARD_SEED), standard_sign)):
        good = sign(LEGACY_SEED if key.kind is KeyKind.LEGACY else STANDARD_SEED, b"p")
        assert verify_iroha_signature(key, b"p", good)
        for bad in (b"", good[:63], good + b"\0", good[:32]):
            assert not verify_iroha_signature(key, b"p", bad)


def test_zero_scalars_and_unusable_keys_are_rejections_not_errors() -> None:
    key = legacy_public_key(LEGACY_SEED)
    good = legacy_sign(LEGACY_SEED, b"p")
    assert not verify_iroha_signature(key, b"p", good[:32] + bytes(32))  # S = 0: libsodium refuses [0]B
    assert not verify_iroha_signature(key, b"p", good[:32] + GROUP_ORDER.to_bytes(32, "little"))  # S = L
    s_below_l = (GROUP_ORDER - 1).to_bytes(32, "little")
    assert not verify_iroha_signature(key, b"p", good[:32] + s_below_l)
    assert not verify_iroha_signature(key, b"p", bytes(64))
    unusable = [IDENTITY, bytes(32), ORDER_8_POINT, b"\xff" * 32, (2**255 - 19 + 1).to_bytes(32, "little")]
    for raw in unusable:
        assert not verify_iroha_signature(IrohaPublicKey(KeyKind.LEGACY, raw), b"p", good), raw.hex()
        assert not verify_iroha_signature(IrohaPublicKey(KeyKind.STANDARD, raw), b"p", good), raw.hex()


def test_a_seed_is_32_bytes() -> None:
    for seed in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError):
            legacy_keypair_from_seed(seed)


def test_the_legacy_scalar_is_clamped_as_rfc_8032_clamps() -> None:
    for seed in (LEGACY_SEED, bytes(32), b"\xff" * 32):
        scalar = legacy_keypair_from_seed(seed).scalar
        expanded = int.from_bytes(hashlib.sha3_512(seed).digest()[:32], "little")
        assert scalar == (expanded & (2**254 - 8)) | 2**254


# -- properties --------------------------------------------------------------------------------------------


seeds = st.binary(min_size=32, max_size=32)
payloads = st.binary(max_size=300)
kinds = st.sampled_from([KeyKind.LEGACY, KeyKind.STANDARD])


def _sign(kind: KeyKind, seed: bytes, payload: bytes) -> tuple[IrohaPublicKey, bytes]:
    if kind is KeyKind.LEGACY:
        return legacy_public_key(seed), legacy_sign(seed, payload)
    return standard_public_key(seed), standard_sign(seed, payload)


@given(kind=kinds, seed=seeds, payload=payloads)
def test_sign_then_verify_round_trips_through_the_key_text(kind, seed, payload) -> None:
    key, signature = _sign(kind, seed, payload)
    parsed = parse_iroha_public_key(key.text)
    assert parsed == key
    assert verify_iroha_signature(parsed, payload, parse_iroha_signature(signature.hex()))


@given(kind=kinds, seed=seeds, payload=payloads, where=st.sampled_from(["payload", "signature", "key"]),
       bit=st.integers(min_value=0, max_value=4095))
def test_any_flipped_bit_fails_verification(kind, seed, payload, where, bit) -> None:
    key, signature = _sign(kind, seed, payload)
    if where == "payload":
        payload = _flip(payload, bit) if payload else b"\0"
    elif where == "signature":
        signature = _flip(signature, bit)
    else:
        key = IrohaPublicKey(kind, _flip(key.raw, bit))
    assert not verify_iroha_signature(key, payload, signature)


@given(seed=seeds, other=seeds, payload=payloads)
def test_a_signature_verifies_under_its_own_key_only(seed, other, payload) -> None:
    signature = legacy_sign(seed, payload)
    assert verify_iroha_signature(legacy_public_key(other), payload, signature) == (seed == other)


# -- the fast legacy check (X25519 for [k]A) against the exact Edwards one ----------------------------------


def _exact_legacy(public_key: bytes, payload: bytes, signature: bytes) -> bool:
    """The byte-exact rule, written independently: encode([S]B - [k]A) == R, S < L, R not neutral."""
    message = hashlib.sha3_256(payload).digest()
    r_bytes, s_bytes = signature[:32], signature[32:]
    if int.from_bytes(s_bytes, "little") >= GROUP_ORDER or r_bytes == IDENTITY:
        return False
    k = int.from_bytes(hashlib.sha3_512(r_bytes + public_key + message).digest(), "little") % GROUP_ORDER
    try:
        s_b = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(s_bytes)
        k_a = nacl.bindings.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), public_key)
    except nacl.exceptions.RuntimeError:
        return False
    return bytes(nacl.bindings.crypto_core_ed25519_sub(s_b, k_a)) == r_bytes


def _negated_signature(seed: bytes, payload: bytes) -> bytes:
    """What only the key's holder can make: R = [r]B, S = r - k*a, so [S]B - R = -[k]A."""
    pair = legacy_keypair_from_seed(seed)
    message = hashlib.sha3_256(payload).digest()
    r = int.from_bytes(hashlib.sha3_512(b"nonce" + payload).digest(), "little") % GROUP_ORDER
    r_bytes = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little"))
    k = int.from_bytes(hashlib.sha3_512(r_bytes + pair.public_key.raw + message).digest(), "little") % GROUP_ORDER
    return r_bytes + ((r - k * pair.scalar) % GROUP_ORDER).to_bytes(32, "little")


@given(seed=seeds, payload=payloads, bit=st.integers(min_value=-1, max_value=511))
def test_the_fast_legacy_check_agrees_with_the_exact_equation(seed, payload, bit) -> None:
    key = legacy_public_key(seed)
    signature = legacy_sign(seed, payload)
    if bit >= 0:
        signature = _flip(signature, bit)
    assert verify_iroha_signature(key, payload, signature) == _exact_legacy(key.raw, payload, signature)
    assert _exact_legacy(key.raw, payload, signature) == (bit < 0)


def test_the_one_difference_a_negated_signature_only_the_key_holder_can_make() -> None:
    """docs/iroha.md, "Legacy signatures": [S]B - R = -[k]A passes the u comparison, not the exact one.
    Making it takes the secret scalar; a third party's changes to it fail like any other (flips above)."""
    key = legacy_public_key(LEGACY_SEED)
    negated = _negated_signature(LEGACY_SEED, b"p")
    assert not _exact_legacy(key.raw, b"p", negated)
    assert verify_iroha_signature(key, b"p", negated)
    assert not verify_iroha_signature(key, b"q", negated)
    assert not verify_iroha_signature(legacy_public_key(STANDARD_SEED), b"p", negated)


def test_the_ladder_scalar_reaches_plus_or_minus_the_challenge() -> None:
    point = legacy_public_key(LEGACY_SEED).raw
    u_point = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(point)
    for k in [1, 2, 7, GROUP_ORDER - 1, 2**251, 2**252 - 1] + [
            int.from_bytes(hashlib.sha256(bytes([i])).digest(), "little") % GROUP_ORDER for i in range(40)]:
        n = ladder_scalar(k)
        assert n is not None and len(n) == 32
        value = int.from_bytes(n, "little")
        assert value % 8 == 0 and 2**254 <= value < 2**255  # X25519's clamping changes nothing
        k_point = nacl.bindings.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), point)
        assert nacl.bindings.crypto_scalarmult(n, u_point) == nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(
            k_point)
    inverse_8 = pow(8, -1, GROUP_ORDER)
    delta = GROUP_ORDER - 2**252
    # m = k / 8 mod L: 2^251 <= m < 2^252 is taken as it is, L - m when that is in range, else None.
    for m, expected in [(2**251, 2**251), (2**252 - 1, 2**252 - 1), (2**251 - 1, GROUP_ORDER - 2**251 + 1),
                        (delta + 1, 2**252 - 1), (delta, None), (1, None), (0, None), (2**252, None), (GROUP_ORDER - 1, None)]:
        k = m * 8 % GROUP_ORDER
        assert k * inverse_8 % GROUP_ORDER == m
        got = ladder_scalar(k)
        assert (None if got is None else int.from_bytes(got, "little") // 8) == expected, m


def test_a_challenge_no_ladder_scalar_reaches_is_checked_the_exact_way(monkeypatch) -> None:
    key = legacy_public_key(LEGACY_SEED)
    good = legacy_sign(LEGACY_SEED, b"p")
    monkeypatch.setattr(iroha_crypto, "ladder_scalar", lambda _k: None)
    assert verify_iroha_signature(key, b"p", good)
    assert not verify_iroha_signature(key, b"p", _flip(good, 300))
    assert not verify_iroha_signature(key, b"p", _negated_signature(LEGACY_SEED, b"p"))  # exact: refused
    assert not verify_iroha_signature(key, b"p", good[:32] + bytes(32))  # S = 0: libsodium raises, a refusal


def test_the_cached_montgomery_u_is_libsodiums_and_none_for_unusable_keys() -> None:
    for seed in (LEGACY_SEED, STANDARD_SEED, bytes(32)):
        raw = legacy_public_key(seed).raw
        assert iroha_crypto._montgomery_u(raw) == nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(raw)
    torsion_key, _signature = _torsion_forgery(LEGACY_SEED, ORDER_8_POINT, b"p")
    for raw in (torsion_key, IDENTITY, bytes(32), ORDER_8_POINT, b"\xff" * 32, (2**255 - 19 + 1).to_bytes(32, "little")):
        assert iroha_crypto._montgomery_u(raw) is None, raw.hex()
    assert iroha_crypto._montgomery_u.cache_info().maxsize == 65_536
    assert iroha_crypto._montgomery_u(legacy_public_key(LEGACY_SEED).raw[:31]) is None


def test_no_point_of_order_l_has_a_second_non_canonical_encoding() -> None:
    """Why rule 3 needs no canonicity check of its own: y + p < 2^255 only for y < 19, and no y below 19
    belongs to a point of order L (whatever x's sign), so every such A is refused as it is."""
    for y in range(19):
        for sign in (0, 2**255):
            canonical = (y | sign).to_bytes(32, "little")
            assert not nacl.bindings.crypto_core_ed25519_is_valid_point(canonical), y
            assert iroha_crypto._montgomery_u(((y + 2**255 - 19) | sign).to_bytes(32, "little")) is None, y


def test_r_must_be_canonical_and_not_neutral_in_either_encoding() -> None:
    key = legacy_public_key(LEGACY_SEED)
    good = legacy_sign(LEGACY_SEED, b"p")
    neutral_with_sign = (1 + 2**255).to_bytes(32, "little")  # y = 1 with x's sign bit: the neutral element
    non_canonical = (int.from_bytes(good[:32], "little") + 2**255 - 19).to_bytes(33, "little")[:32]
    for r_bytes in (IDENTITY, neutral_with_sign, non_canonical, (2**255 - 19).to_bytes(32, "little")):
        assert not verify_iroha_signature(key, b"p", r_bytes + good[32:])
