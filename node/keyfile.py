"""Key files: Ed25519 private keys at rest, for the node and for the accounts the CLI signs with.

Written as PKCS#8 PEM, the format ``openssl`` and every HSM import tool read: ``BEGIN PRIVATE KEY``
in the clear (the testnet, so the developer loop needs no passphrase) or ``BEGIN ENCRYPTED PRIVATE
KEY`` under a passphrase (``cryptography``'s BestAvailableEncryption: PBES2, PBKDF2-HMAC-SHA256,
AES-256-CBC). Always mode 0600, replaced atomically (temp file, fsync, rename): a crash mid-write
never leaves half a key. The older JSON document ``{"public_key", "seed"}`` is still read, so data
directories written before issue 16 keep working.

A key file or passphrase file that group or others may read is refused (as ssh refuses an exposed
private key): a copy-paste ``cp`` under umask 022 must not quietly leave a validator key readable by
every account on the host. The passphrase comes from ``BAKONG_KEY_PASSPHRASE`` or a passphrase file
(``passphrase_from``); it is never logged or printed. Formats and procedures: docs/keys.md.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consensus.crypto import KeyPair

PASSPHRASE_ENV = "BAKONG_KEY_PASSPHRASE"
PEM_PLAIN = b"-----BEGIN PRIVATE KEY-----"
PEM_ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


class KeyFileError(ValueError):
    """A key or passphrase file that cannot be used; ``code`` says why, ``message`` names the file and the fix.

    Codes: ``bad_key_file`` (missing, unreadable, not a key, not Ed25519), ``key_passphrase_needed``,
    ``key_passphrase_wrong``, ``key_file_permissions`` (group/world-readable), ``bad_passphrase_file``.
    """

    code = "bad_key_file"

    def __init__(self, message: str, code: str = "bad_key_file") -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class KeyFileInfo:
    """What a key file is, read without decrypting it."""

    path: Path
    format: str  # "pkcs8-pem" or "json" (before issue 16)
    encrypted: bool
    mode: int  # permission bits, e.g. 0o600


# ---- writing ----

def encode_key(key: KeyPair, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM of ``key``, encrypted under ``passphrase`` when one is given."""
    if passphrase is not None and not passphrase:
        raise KeyFileError("an empty passphrase would encrypt nothing; give a non-empty one", "bad_passphrase")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
    private = Ed25519PrivateKey.from_private_bytes(key.seed)
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def write_key(path: str | Path, key: KeyPair, passphrase: bytes | None = None) -> None:
    """Write ``key`` to ``path`` (mode 0600, atomically), encrypted when ``passphrase`` is given."""
    write_private_file(Path(path), encode_key(key, passphrase))


def write_private_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, mode 0600: temp file in the same directory, fsync, rename, fsync
    the directory. Readers see the old file or the new one, never a torn or briefly exposed one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ---- reading ----

def read_key(path: str | Path, passphrase: bytes | None = None) -> KeyPair:
    """The key in ``path`` (PKCS#8 PEM, plain or encrypted, or the older JSON). ``passphrase`` is needed
    for an encrypted file and ignored for a plain one. Raises ``KeyFileError`` with one line."""
    p = Path(path)
    return decode_key(_read_private(p, "key file"), passphrase, f"key file {p}")


def decode_key(data: bytes, passphrase: bytes | None = None, source: str = "the key") -> KeyPair:
    """The key in a key file's bytes; ``source`` names them in errors (``key file /etc/bakong/node.key``)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return _from_pem(source, data, passphrase)
    return _from_json(source, data)


def inspect_key(path: str | Path) -> KeyFileInfo:
    """Format, encryption and mode of a key file, without a passphrase (refuses what ``read_key`` refuses
    before decrypting: a missing or exposed file)."""
    p = Path(path)
    data = _read_private(p, "key file")
    pem = data.lstrip().startswith(b"-----BEGIN")
    return KeyFileInfo(p, "pkcs8-pem" if pem else "json", pem and _is_encrypted(data),
                       stat.S_IMODE(p.stat().st_mode))


def _is_encrypted(pem: bytes) -> bool:
    return pem.lstrip().startswith(PEM_ENCRYPTED) or b"Proc-Type: 4,ENCRYPTED" in pem


def _from_pem(source: str, data: bytes, passphrase: bytes | None) -> KeyPair:
    encrypted = _is_encrypted(data)
    if encrypted and not passphrase:
        raise KeyFileError(f"{source} is encrypted and no passphrase was given "
                           f"(set {PASSPHRASE_ENV} or give a passphrase file)", "key_passphrase_needed")
    try:
        private = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if encrypted:
            raise KeyFileError(f"the passphrase does not open {source} "
                               f"(wrong passphrase, or the file is damaged)", "key_passphrase_wrong") from None
        raise KeyFileError(f"{source} is not a valid PKCS#8 PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{source} holds a {private.__class__.__name__.removeprefix('_')} key; "
                           f"an Ed25519 key is needed")
    return KeyPair.from_seed(private.private_bytes_raw())


def _from_json(source: str, data: bytes) -> KeyPair:
    try:
        doc = json.loads(data)
        key = KeyPair.from_seed(bytes.fromhex(doc["seed"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{source} is not a valid key file ({exc.__class__.__name__})") from None
    if "public_key" in doc and doc["public_key"] != key.public_key.hex():
        raise KeyFileError(f"{source}: public key does not match the seed")
    return key


def _read_private(path: Path, what: str) -> bytes:
    """The bytes of a secret-holding file, refusing one that group or others may read."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{what} {path} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(f"{what} {path} is readable by group or others (mode {mode:04o}); "
                               f"run: chmod 600 {path}", "key_file_permissions")
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise KeyFileError(f"{what} {path} cannot be read by this user") from None
    except OSError as exc:
        raise KeyFileError(f"{what} {path} cannot be read ({exc.strerror or exc.__class__.__name__})") from None


# ---- passphrases ----

def passphrase_from(file: str | Path | None) -> bytes | None:
    """The key passphrase: ``BAKONG_KEY_PASSPHRASE`` when set and not empty (it wins, so a secret store
    can inject it without touching files), else the contents of ``file`` without trailing newlines,
    else None. The file must be 0600 like a key file."""
    # The bytes as given (os.environb): a passphrase that is not valid UTF-8 must not crash the reader.
    env = (os.environb.get(PASSPHRASE_ENV.encode()) if os.supports_bytes_environ
           else os.environ.get(PASSPHRASE_ENV, "").encode())
    if env:
        return env
    if file is None:
        return None
    try:
        raw = _read_private(Path(file), "passphrase file")
    except KeyFileError as exc:
        if exc.code == "bad_key_file":
            raise KeyFileError(exc.message, "bad_passphrase_file") from None
        raise
    passphrase = raw.rstrip(b"\r\n")
    if not passphrase:
        raise KeyFileError(f"passphrase file {file} is empty", "bad_passphrase_file")
    return passphrase
