"""Key files at rest (node/keyfile.py): PKCS#8 PEM plain or encrypted, mode 0600, written atomically;
exposed files refused; the pre-issue-16 JSON format still read; passphrases from env or a private file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from consensus.crypto import Domain, KeyPair, signing_digest, verify
from node.keyfile import PASSPHRASE_ENV, KeyFileError, inspect_key, passphrase_from, read_key, write_key
from node.signer import Signer

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(autouse=True)
def no_passphrase_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def refusal(path: Path, passphrase: bytes | None = None) -> KeyFileError:
    with pytest.raises(KeyFileError) as caught:
        read_key(path, passphrase)
    return caught.value


def test_a_plain_key_file_is_pkcs8_pem_at_mode_0600_and_reads_back(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "keys" / "node.key"
    write_key(path, key)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_key(path) == key
    assert read_key(str(path), PASSPHRASE) == key  # a passphrase is ignored for a plain key
    info = inspect_key(path)
    assert (info.format, info.encrypted, info.mode) == ("pkcs8-pem", False, 0o600)


def test_an_encrypted_key_file_opens_only_with_its_passphrase_and_never_shows_the_seed(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "node.key"
    write_key(path, key, PASSPHRASE)
    raw = path.read_bytes()
    assert raw.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    private = serialization.load_pem_private_key(raw, PASSPHRASE)  # a standard file: any PKCS#8 reader opens it
    assert private.public_key().public_bytes_raw() == key.public_key  # type: ignore[union-attr]
    assert path.stat().st_mode & 0o777 == 0o600 and inspect_key(path).encrypted
    assert read_key(path, PASSPHRASE) == key
    needed = refusal(path)
    assert needed.code == "key_passphrase_needed" and str(path) in needed.message and PASSPHRASE_ENV in needed.message
    wrong = refusal(path, b"Tr0ub4dor&3")
    assert wrong.code == "key_passphrase_wrong" and str(path) in wrong.message
    for error in (needed, wrong):
        assert "\n" not in error.message and "Tr0ub4dor" not in error.message and key.seed.hex() not in error.message


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
@pytest.mark.parametrize("encrypted", [False, True])
def test_a_key_file_that_group_or_others_may_read_is_refused_with_the_chmod_fix(tmp_path: Path, mode: int,
                                                                                encrypted: bool) -> None:
    path = tmp_path / "node.key"
    write_key(path, KeyPair.generate(), PASSPHRASE if encrypted else None)
    path.chmod(mode)
    refused = refusal(path, PASSPHRASE)
    assert refused.code == "key_file_permissions"
    assert f"mode {mode:04o}" in refused.message and f"chmod 600 {path}" in refused.message
    path.chmod(0o400)  # owner-only, even read-only, is fine
    read_key(path, PASSPHRASE)


def test_a_key_file_written_before_issue_16_as_json_still_reads(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "old.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:  # byte for byte what write_key wrote until issue 16
        f.write(json.dumps({"public_key": key.public_key.hex(), "seed": key.seed.hex()}, indent=2) + "\n")
    assert read_key(path) == key
    assert inspect_key(path).format == "json" and not inspect_key(path).encrypted
    path.write_text(json.dumps({"public_key": KeyPair.generate().public_key.hex(), "seed": key.seed.hex()}))
    assert "does not match" in refusal(path).message


def test_a_missing_damaged_or_non_ed25519_key_file_is_a_bad_key_file(tmp_path: Path) -> None:
    assert refusal(tmp_path / "nowhere.key").code == "bad_key_file"
    damaged = tmp_path / "damaged.key"
    write_key(damaged, KeyPair.generate())
    damaged.write_bytes(damaged.read_bytes()[:60] + b"\n-----END PRIVATE KEY-----\n")
    assert refusal(damaged).code == "bad_key_file"
    ec_key = tmp_path / "ec.key"
    ec_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ec_key.chmod(0o600)
    wrong_kind = refusal(ec_key)
    assert wrong_kind.code == "bad_key_file" and "Ed25519" in wrong_kind.message
    directory = tmp_path / "dir.key"
    directory.mkdir(mode=0o700)
    assert refusal(directory).code == "bad_key_file"


def test_rewriting_a_key_file_replaces_it_whole_at_0600_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_text("an exposed old file\n")
    path.chmod(0o644)
    before = path.stat().st_ino
    key = KeyPair.generate()
    write_key(path, key, PASSPHRASE)
    assert path.stat().st_ino != before  # a new file renamed over the old one, not the old one truncated
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]
    assert read_key(path, PASSPHRASE) == key


def test_the_passphrase_comes_from_the_environment_first_then_a_private_file(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert passphrase_from(None) is None
    file = tmp_path / "passphrase"
    file.write_bytes(PASSPHRASE + b"\n")
    file.chmod(0o600)
    assert passphrase_from(file) == PASSPHRASE  # the trailing newline of `echo ... > file` is not part of it
    monkeypatch.setenv(PASSPHRASE_ENV, "from the environment")
    assert passphrase_from(file) == b"from the environment"
    assert passphrase_from(None) == b"from the environment"
    monkeypatch.setenv(PASSPHRASE_ENV, "")  # set but empty: as if unset
    assert passphrase_from(file) == PASSPHRASE


def test_a_passphrase_file_must_be_private_present_and_not_empty(tmp_path: Path) -> None:
    file = tmp_path / "passphrase"
    file.write_bytes(PASSPHRASE)
    file.chmod(0o644)
    with pytest.raises(KeyFileError) as exposed:
        passphrase_from(file)
    assert exposed.value.code == "key_file_permissions" and f"chmod 600 {file}" in exposed.value.message
    assert PASSPHRASE.decode() not in exposed.value.message
    file.chmod(0o600)
    file.write_bytes(b"\n")
    with pytest.raises(KeyFileError) as empty:
        passphrase_from(file)
    assert empty.value.code == "bad_passphrase_file" and "empty" in empty.value.message
    with pytest.raises(KeyFileError) as missing:
        passphrase_from(tmp_path / "nowhere")
    assert missing.value.code == "bad_passphrase_file"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_key_encrypted_by_openssl_with_more_kdf_rounds_reads(tmp_path: Path) -> None:
    """Operators may re-wrap a key with their own tools (docs/keys.md): any PKCS#8 Ed25519 key reads."""
    key = KeyPair.generate()
    plain, wrapped = tmp_path / "plain.key", tmp_path / "wrapped.key"
    write_key(plain, key)
    subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", "200000", "-in", str(plain),
                    "-out", str(wrapped), "-passout", "pass:" + PASSPHRASE.decode()], check=True)
    wrapped.chmod(0o600)
    assert read_key(wrapped, PASSPHRASE) == key


def test_a_key_pair_is_a_signer_whose_signatures_verify() -> None:
    key = KeyPair.generate()
    signer: Signer = key
    assert isinstance(key, Signer)
    digest = signing_digest(Domain.PREVOTE, "bakong-testnet", b"a vote")
    assert verify(signer.public_key, digest, signer.sign(digest))


def test_a_passphrase_in_the_environment_that_is_not_utf8_is_taken_as_its_bytes(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environb, PASSPHRASE_ENV.encode(), b"\xff\xfe binary")
    key = KeyPair.generate()
    write_key(tmp_path / "node.key", key, b"\xff\xfe binary")
    assert read_key(tmp_path / "node.key", passphrase_from(None)) == key
