"""Key files: a small JSON document with the public key and the 32-byte Ed25519 seed, mode 0600."""

from __future__ import annotations

import json
import os
from pathlib import Path

from consensus.crypto import KeyPair


class KeyFileError(ValueError):
    code = "bad_key_file"


def write_key(path: str | Path, key: KeyPair) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"public_key": key.public_key.hex(), "seed": key.seed.hex()}, indent=2) + "\n"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def read_key(path: str | Path) -> KeyPair:
    try:
        doc = json.loads(Path(path).read_text())
        key = KeyPair.from_seed(bytes.fromhex(doc["seed"]))
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"key file {path} is not a valid key file ({exc.__class__.__name__})") from None
    if "public_key" in doc and doc["public_key"] != key.public_key.hex():
        raise KeyFileError(f"key file {path}: public key does not match the seed")
    return key
