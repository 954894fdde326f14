"""Bearer tokens of the Bakong Open API-compatible service (``node.api.open_api``), and their rate limit.

The node's operator issues them (``bakong api-token create|revoke|list``, ``node.api_token_cli``); the
node only checks them. They live in ``<data_dir>/open_api_tokens.json``, mode 0600, replaced atomically
(``node.keyfile.write_private_file``), one record per token: its name, the sha256 of the token, when it
was made and when it expires. The token itself is printed once by ``create`` and stored nowhere: a copy
of the file (a backup, a support bundle) grants nothing.

A running node notices a change on its next request: ``TokenBook`` stats the file each time (one
``stat``, no read) and re-reads it when its modification time, size or inode changed, so ``revoke``
takes effect without a restart. Commands that change the file hold an exclusive ``flock`` on a lock file
beside it, so two operators' concurrent ``create`` calls do not lose one of the tokens.

A token is ``bkn_`` + 43 url-safe characters (32 random bytes). The prefix keeps it clear of the
``bakong-khqr`` package's relay tokens, which it recognises by their ``rbk`` prefix and sends elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.keyfile import write_private_file

log = logging.getLogger("bakong.api")

TOKENS_FILE = "open_api_tokens.json"
TOKEN_PREFIX = "bkn_"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
DAY_MS = 86_400_000
MAX_DAYS = 3650


class TokenError(Exception):
    """A refused token command: one line with a stable code (``node.cli.main`` prints it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class TokenRecord:
    name: str
    sha256: str
    """Hex sha256 of the token's text: what a presented token is compared with."""
    created_ms: int
    expires_ms: int

    def expired(self, now_ms: int) -> bool:
        return now_ms >= self.expires_ms


def tokens_path(data_dir: Path) -> Path:
    return data_dir / TOKENS_FILE


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _record(item: Any) -> TokenRecord:
    if not isinstance(item, dict):
        raise ValueError("a token record is not an object")
    name, sha, created, expires = item.get("name"), item.get("sha256"), item.get("created_ms"), item.get("expires_ms")
    if not (isinstance(name, str) and isinstance(sha, str) and len(sha) == 64 and isinstance(created, int)
            and isinstance(expires, int)):
        raise ValueError(f"token record {str(name)[:64]!r} is malformed")
    return TokenRecord(name, sha, created, expires)


def read_tokens(path: Path) -> list[TokenRecord]:
    """The records in ``path`` (none when it does not exist); ``TokenError`` when it cannot be read."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError, RecursionError) as exc:
        raise TokenError("bad_token_file", f"{path} cannot be read: {exc}") from None
    try:
        items = doc["tokens"] if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise ValueError('no "tokens" list')
        return [_record(item) for item in items]
    except ValueError as exc:
        raise TokenError("bad_token_file", f"{path}: {exc}") from None


def _write(path: Path, records: list[TokenRecord]) -> None:
    body = json.dumps({"tokens": [asdict(r) for r in records]}, indent=2) + "\n"
    write_private_file(path, body.encode())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def create_token(data_dir: Path, name: str, days: int, now_ms: int | None = None) -> tuple[str, TokenRecord]:
    """A new token named ``name`` valid ``days`` days: the token (shown once) and its stored record."""
    if not NAME.fullmatch(name):
        raise TokenError("bad_name", "a token name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a "
                                     "letter or digit")
    if not 1 <= days <= MAX_DAYS:
        raise TokenError("bad_days", f"--days must be from 1 to {MAX_DAYS}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    path = tokens_path(data_dir)
    with _locked(path):
        records = read_tokens(path)
        if any(r.name == name for r in records):
            raise TokenError("token_exists", f"a token named {name!r} exists; revoke it first or choose another name")
        token = new_token()
        record = TokenRecord(name, digest(token), now, now + days * DAY_MS)
        _write(path, [*records, record])
    return token, record


def revoke_token(data_dir: Path, name: str) -> TokenRecord:
    """Delete the token named ``name``: a running node refuses it from its next request."""
    path = tokens_path(data_dir)
    with _locked(path):
        records = read_tokens(path)
        gone = [r for r in records if r.name == name]
        if not gone:
            raise TokenError("unknown_token", f"no token named {name!r} (bakong api-token list)")
        _write(path, [r for r in records if r.name != name])
    return gone[0]


class TokenBook:
    """The tokens a running node accepts, re-read whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._by_digest: dict[str, TokenRecord] = {}

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            seen = (0, 0, 0)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            records = read_tokens(self.path)
        except TokenError as exc:  # a broken file grants nothing (fail closed) until it is fixed
            log.warning("open API tokens refused until fixed: %s", exc.message)
            records = []
        self._by_digest = {r.sha256: r for r in records}

    def holder(self, authorization: str | None, now_ms: int) -> TokenRecord | None:
        """The record of the unexpired token in an ``Authorization: Bearer <token>`` header, or None.

        Looked up by the token's sha256: the dictionary probe compares digests of what the client sent,
        which it cannot steer towards a stored digest, so no constant-time comparison is needed."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 512:
            return None
        self._refresh()
        record = self._by_digest.get(digest(token))
        return None if record is None or record.expired(now_ms) else record


class RateLimit:
    """A token bucket per API token: ``burst`` requests at once, refilled at ``rate_per_s``."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.burst = rate_per_s, burst
        self._buckets: dict[str, tuple[float, float]] = {}  # token digest -> (tokens left, at monotonic time)

    def take(self, key: str, now: float | None = None) -> int | None:
        """None when the request may go ahead; else the whole seconds to wait (``Retry-After``)."""
        at = time.monotonic() if now is None else now
        left, then = self._buckets.get(key, (float(self.burst), at))
        left = min(float(self.burst), left + (at - then) * self.rate)
        if left >= 1.0:
            self._buckets[key] = (left - 1.0, at)
            return None
        self._buckets[key] = (left, at)
        return max(1, math.ceil((1.0 - left) / self.rate))
