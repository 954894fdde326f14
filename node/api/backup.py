"""``POST /v1/admin/backup``: an online backup of this node's database, taken by the node itself.

A running node holds LevelDB's lock, so no other process can open its database, and copying its files
while it commits is unsafe (``storage.backup`` says why). The node can: it copies the published state
of its last committed block (a LevelDB snapshot) into ``<data_dir>/backups/<name>/`` on a thread of
its own, while consensus, block sync and the API carry on. An operator route (``node.api.operator``);
it writes only under the node's own data directory, whatever the request says, so the route cannot be
turned into a write to an arbitrary path. ``bakong backup`` calls it and moves the result where the
operator wants it (docs/operations.md).

Body (optional): ``{"name": "<letters, digits, . _ ->"}``; default ``h<height>-<UTC time>``.
Answers 200 ``{"dir": "...", "manifest": {...}}``; 400 ``bad_request``, 409 ``backup_exists`` or
``backup_in_progress`` (one at a time), 503 ``backup_failed`` (disk full, ...).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import plyvel
from aiohttp import web

from consensus.crypto import KeyPair
from node.config import NodeConfig
from node.ledger.chain import Ledger
from node.version import VERSION
from storage.backup import BackupError, write_backup
from storage.db import StorageError

log = logging.getLogger("bakong.api")
BACKUPS = "backups"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class BackupHost(Protocol):
    """What a backup reads of the node (``node.assembly.Node``)."""

    @property
    def config(self) -> NodeConfig: ...
    @property
    def key(self) -> KeyPair: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def chain_id(self) -> str: ...


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _name(request: web.Request, height: int) -> str | web.Response:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _error(400, "bad_json", "body is not valid JSON")
    if not isinstance(body, dict) or set(body) - {"name"}:
        return _error(400, "bad_request", 'body must be {} or {"name": "..."}')
    name = body.get("name") or f"h{height}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return _error(400, "bad_request", "name: 1-64 letters, digits, '.', '_' or '-', not starting with '.' "
                                          "(the backup is written under the node's data_dir/backups/)")
    return name


def admin_backup(node: BackupHost) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route's handler for ``node`` (one backup at a time)."""
    running = asyncio.Lock()

    async def handle(request: web.Request) -> web.StreamResponse:
        state = node.ledger.store.published()  # one committed block's rows and head, frozen
        name = await _name(request, state.head.height)
        if isinstance(name, web.Response):
            return name
        dest = node.config.data_dir / BACKUPS / name
        if dest.exists():
            return _error(409, "backup_exists", f"{dest} exists; choose another name")
        if running.locked():
            return _error(409, "backup_in_progress", "a backup of this node is being written; retry when it is done")
        about: dict[str, Any] = {"node": node.config.name, "public_key": node.key.public_key.hex(),
                                 "software_version": VERSION}
        async with running:
            log.info("backup %s of height %d started", dest, state.head.height)
            try:
                manifest = await asyncio.get_running_loop().run_in_executor(None, write_backup, state, dest, about)
            except BackupError as exc:
                return _error(409, exc.code, exc.message)
            except (OSError, StorageError, plyvel.Error) as exc:
                log.error("backup %s failed: %s: %s", dest, exc.__class__.__name__, exc)
                return _error(503, "backup_failed", f"the backup could not be written: {exc.__class__.__name__}: {exc}")
        log.info("backup %s done: height %d, %d rows", dest, manifest["height"], manifest["rows"])
        return web.json_response({"dir": str(dest), "manifest": manifest})

    return handle
