"""``bakong key new | show | encrypt``: key files at the command line (docs/keys.md).

A passphrase comes from ``BAKONG_KEY_PASSPHRASE``, else ``--passphrase-file``, else (only when stdin is
a terminal) a prompt; it is never echoed, printed or logged. Failures are one line ``error: <code>:
<message>`` through ``node.cli.main``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node.keyfile import (
    PASSPHRASE_ENV,
    KeyFileError,
    decode_key,
    encode_key,
    inspect_key,
    passphrase_from,
    read_key,
    write_private_file,
)

EXIT_USAGE = 2  # as argparse exits on a usage error


class KeyCommandError(Exception):
    """A refused key command: one line with a code (``node.cli.main`` prints it), and its exit status."""

    def __init__(self, code: str, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.code, self.message, self.exit_code = code, message, exit_code


def _passphrase(file: str | None, *, new: bool) -> bytes:
    """The passphrase from the environment or ``file``; else a prompt on a terminal (twice for a new one)."""
    given = passphrase_from(Path(file) if file else None)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise KeyFileError(f"no passphrase: set {PASSPHRASE_ENV} or give --passphrase-file FILE (mode 0600)",
                           "key_passphrase_needed")
    typed = getpass.getpass("key passphrase: ").encode()
    if new and getpass.getpass("again: ").encode() != typed:
        raise KeyCommandError("passphrase_mismatch", "the two passphrases differ; nothing was written")
    if not typed:
        raise KeyFileError("an empty passphrase would encrypt nothing", "bad_passphrase")
    return typed


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise KeyCommandError("exists", f"{path} exists; use --force to overwrite it (the key in it is lost)")


def _describe(path: Path, key: KeyPair) -> dict[str, Any]:
    info = inspect_key(path)
    return {"file": str(path), "public_key": key.public_key.hex(), "format": info.format,
            "encrypted": info.encrypted, "mode": f"{info.mode:04o}"}


def cmd_key_new(args: argparse.Namespace) -> int:
    """A new Ed25519 key in ``--out``; prints its public key. Also ``bakong keygen``."""
    if not args.out:
        # A key printed to nowhere is a key thrown away: an account created with its public key
        # could never sign again.
        raise KeyCommandError("usage", "give --out FILE: the new private key is kept only in that file",
                              EXIT_USAGE)
    out = Path(args.out)
    _refuse_overwrite(out, args.force)
    passphrase_file = getattr(args, "passphrase_file", None)  # bakong keygen has neither option
    encrypt = getattr(args, "encrypt", False) or passphrase_file is not None
    passphrase = _passphrase(passphrase_file, new=True) if encrypt else None
    key = KeyPair.generate()
    write_private_file(out, encode_key(key, passphrase))
    print(key.public_key.hex())
    return 0


def cmd_key_show(args: argparse.Namespace) -> int:
    """Public key, format, encryption and mode of a key file; a passphrase only for an encrypted one."""
    path = Path(args.file)
    info = inspect_key(path)
    passphrase = _passphrase(args.passphrase_file, new=False) if info.encrypted else None
    print(json.dumps(_describe(path, read_key(path, passphrase)), indent=2))
    return 0


def cmd_key_encrypt(args: argparse.Namespace) -> int:
    """Re-write a plain key file encrypted (in place, or to ``--out``), atomically and mode 0600."""
    path = Path(args.file)
    if inspect_key(path).encrypted:
        raise KeyCommandError("key_already_encrypted", f"key file {path} is already encrypted")
    key = read_key(path)
    out = Path(args.out) if args.out else path
    if out != path:
        _refuse_overwrite(out, args.force)
    passphrase = _passphrase(args.passphrase_file, new=True)
    data = encode_key(key, passphrase)
    # Read the new bytes back before they replace anything: the old file goes only for a file that opens.
    if decode_key(data, passphrase, "the encrypted key").public_key != key.public_key:
        raise KeyCommandError("internal_error", "the encrypted key did not read back; nothing was written")
    write_private_file(out, data)
    print(json.dumps(_describe(out, key), indent=2))
    if out != path:
        print(f"note: the plain key {path} is still there; delete it once {out} is in use", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``key new|show|encrypt`` to the ``bakong`` parser's subcommands."""
    k = sub.add_parser("key", help="key files: new, show, encrypt (docs/keys.md)")
    ks = k.add_subparsers(dest="key_command", required=True)
    pass_help = (f"file holding the passphrase, mode 0600 ({PASSPHRASE_ENV} wins over it; "
                 "without either, a prompt when stdin is a terminal)")

    new = ks.add_parser("new", help="make an Ed25519 key file (PKCS#8 PEM, mode 0600); prints the public key")
    new.add_argument("--out", required=True, metavar="FILE", help="write the key file here")
    new.add_argument("--encrypt", action="store_true", help="encrypt the key file under a passphrase")
    new.add_argument("--passphrase-file", metavar="FILE", help=pass_help + "; implies --encrypt")
    new.add_argument("--force", action="store_true", help="overwrite an existing FILE (its key is lost)")
    new.set_defaults(func=cmd_key_new)

    show = ks.add_parser("show", help="print a key file's public key, format, encryption and mode")
    show.add_argument("file", help="the key file")
    show.add_argument("--passphrase-file", metavar="FILE", help=pass_help + "; needed only if encrypted")
    show.set_defaults(func=cmd_key_show)

    enc = ks.add_parser("encrypt", help="re-write a plain key file encrypted (atomically, mode 0600)")
    enc.add_argument("file", help="the plain key file")
    enc.add_argument("--out", metavar="NEW", help="write the encrypted key here instead of replacing FILE")
    enc.add_argument("--passphrase-file", metavar="FILE", help=pass_help)
    enc.add_argument("--force", action="store_true", help="overwrite an existing NEW")
    enc.set_defaults(func=cmd_key_encrypt)
