"""``bakong key new|show|encrypt`` and ``bakong keygen``, run in-process through ``node.cli.main``: what an
operator sees on stdout and stderr, the exit status, and what lands on disk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.cli import main
from node.keyfile import PASSPHRASE_ENV, read_key, write_key

PASSPHRASE = "a long random passphrase from the vault"
HEX_KEY = re.compile(r"[0-9a-f]{64}")


@pytest.fixture(autouse=True)
def no_passphrase_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def passphrase_file(tmp_path: Path, mode: int = 0o600) -> Path:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    file.chmod(mode)
    return file


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(err: str, code: str) -> None:
    assert err.startswith(f"error: {code}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and PASSPHRASE not in err


def test_keygen_without_out_refuses_in_one_line_and_prints_no_key(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "keygen")
    assert status != 0
    assert out == "" and not HEX_KEY.search(err)
    one_line_error(err, "usage")
    assert "--out" in err


def test_keygen_with_out_writes_the_key_and_prints_its_public_key(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "kosal.key"
    status, out, _err = run(capsys, "keygen", "--out", str(out_file))
    assert status == 0 and out.strip() == read_key(out_file).public_key.hex()
    status, out, err = run(capsys, "keygen", "--out", str(out_file))  # the key in it must not be lost
    assert status != 0 and out == ""
    one_line_error(err, "exists")


def test_key_new_writes_a_plain_0600_key_file_and_prints_its_public_key(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "node.key"
    status, out, _err = run(capsys, "key", "new", "--out", str(file))
    assert status == 0
    assert out.strip() == read_key(file).public_key.hex()
    assert file.stat().st_mode & 0o777 == 0o600 and b"BEGIN PRIVATE KEY" in file.read_bytes()


def test_key_new_encrypt_takes_the_passphrase_from_a_file_or_the_environment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    by_file = tmp_path / "by-file.key"
    status, out, _err = run(capsys, "key", "new", "--out", str(by_file), "--passphrase-file",
                            str(passphrase_file(tmp_path)))
    assert status == 0 and out.strip() == read_key(by_file, PASSPHRASE.encode()).public_key.hex()
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in by_file.read_bytes()
    monkeypatch.setenv(PASSPHRASE_ENV, "from the secret store")
    by_env = tmp_path / "by-env.key"
    status, out, _err = run(capsys, "key", "new", "--out", str(by_env), "--encrypt")
    assert status == 0 and out.strip() == read_key(by_env, b"from the secret store").public_key.hex()


def test_key_new_encrypt_without_a_passphrase_fails_in_one_line_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "node.key"
    status, out, err = run(capsys, "key", "new", "--out", str(file), "--encrypt")  # stdin is not a terminal
    assert status != 0 and out == "" and not file.exists()
    one_line_error(err, "key_passphrase_needed")
    exposed = passphrase_file(tmp_path, 0o644)
    status, out, err = run(capsys, "key", "new", "--out", str(file), "--passphrase-file", str(exposed))
    assert status != 0 and not file.exists()
    one_line_error(err, "key_file_permissions")
    assert f"chmod 600 {exposed}" in err


def test_key_show_prints_public_key_format_encryption_and_mode(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    key = KeyPair.generate()
    plain, encrypted = tmp_path / "plain.key", tmp_path / "encrypted.key"
    write_key(plain, key)
    write_key(encrypted, key, PASSPHRASE.encode())
    status, out, _err = run(capsys, "key", "show", str(plain))
    assert status == 0
    assert json.loads(out) == {"file": str(plain), "public_key": key.public_key.hex(), "format": "pkcs8-pem",
                               "encrypted": False, "mode": "0600"}
    status, out, err = run(capsys, "key", "show", str(encrypted))
    assert status != 0 and out == ""
    one_line_error(err, "key_passphrase_needed")
    status, out, _err = run(capsys, "key", "show", str(encrypted), "--passphrase-file", str(passphrase_file(tmp_path)))
    shown = json.loads(out)
    assert status == 0 and shown["public_key"] == key.public_key.hex() and shown["encrypted"] is True
    assert key.seed.hex() not in out


def test_key_commands_refuse_an_exposed_key_file_or_a_wrong_passphrase_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "node.key"
    write_key(file, KeyPair.generate(), PASSPHRASE.encode())
    monkeypatch.setenv(PASSPHRASE_ENV, "not the passphrase")
    status, _out, err = run(capsys, "key", "show", str(file))
    assert status != 0
    one_line_error(err, "key_passphrase_wrong")
    assert "not the passphrase" not in err
    file.chmod(0o644)
    status, _out, err = run(capsys, "key", "show", str(file))
    assert status != 0
    one_line_error(err, "key_file_permissions")
    assert f"chmod 600 {file}" in err


def test_key_encrypt_replaces_a_plain_key_atomically_with_the_same_public_key_at_0600(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = KeyPair.generate()
    file = tmp_path / "node.key"
    write_key(file, key)
    inode = file.stat().st_ino
    status, out, _err = run(capsys, "key", "encrypt", str(file), "--passphrase-file", str(passphrase_file(tmp_path)))
    assert status == 0
    assert json.loads(out)["public_key"] == key.public_key.hex() and json.loads(out)["encrypted"] is True
    assert file.stat().st_ino != inode  # renamed over, never rewritten in place
    assert file.stat().st_mode & 0o777 == 0o600
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in file.read_bytes()
    assert read_key(file, PASSPHRASE.encode()) == key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key", "passphrase"]  # no temp file left
    status, _out, err = run(capsys, "key", "encrypt", str(file), "--passphrase-file", str(tmp_path / "passphrase"))
    assert status != 0
    one_line_error(err, "key_already_encrypted")


def test_key_encrypt_out_writes_a_new_file_and_leaves_the_plain_one(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    key = KeyPair.generate()
    plain, new = tmp_path / "old.key", tmp_path / "new.key"
    write_key(plain, key)
    status, _out, err = run(capsys, "key", "encrypt", str(plain), "--out", str(new))
    assert status != 0 and not new.exists()
    one_line_error(err, "key_passphrase_needed")
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    status, _out, err = run(capsys, "key", "encrypt", str(plain), "--out", str(new))
    assert status == 0 and "still there" in err
    assert read_key(new, PASSPHRASE.encode()) == key == read_key(plain)


def test_transactions_and_queries_sign_with_an_encrypted_account_key(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from node.cli import CliError, _keys
    from node.keyfile import KeyFileError

    key = KeyPair.generate()
    file = tmp_path / "alice.key"
    write_key(file, key, PASSPHRASE.encode())
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(KeyFileError):
        _keys(argparse.Namespace(key=[str(file)]))
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    assert [k.public_key for k in _keys(argparse.Namespace(key=[str(file)]))] == [key.public_key]
    monkeypatch.delenv("BAKONG_KEY", raising=False)
    with pytest.raises(CliError):
        _keys(argparse.Namespace(key=None))
