"""``bakong backup`` and ``bakong restore``: a node's database out to a backup directory and back.

Backup. A running node holds its database's lock (LevelDB allows one process), and copying the files
under it is unsafe (``storage.backup``), so the backup of a running node is taken BY the node: ``POST
/v1/admin/backup`` copies the published state of its last committed block (a LevelDB snapshot) into
``<data_dir>/backups/<name>/``; this command asks for it and moves the result to ``--out``. A stopped
node's database is opened here directly and copied the same way. Either way the backup holds the ledger
database and a manifest (chain id, head, data format version, node, software version, time), and NOT:

- the consensus safety record (``<data_dir>/consensus/``): a validator's record of what it last signed.
  Restored from a backup it is OLDER than what the validator has signed since, and the validator would
  then sign a second, conflicting vote for a height and round it already voted in (equivocation: the
  one thing BFT consensus cannot absorb from more than f validators). Without a record the restored node
  starts a fresh one; the runtime refuses to sign on a restored validator until the operator says so
  (``bakong node --accept-restored-safety``, docs/operations.md);
- the node key or its passphrase: a key is custody, not data (docs/keys.md); the restored node uses the
  key its config names.

Restore. Only into an empty data directory (a node's data is never overwritten). The copy is opened and
checked before it is kept: the manifest's chain, head and data format version, and the head block itself
(the check a node makes at start). A ``RESTORED`` file in the data directory marks it: the backup's height
and when it was restored, for the runtime's signing-safety check. The node then catches up from its peers
by block sync.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.ledger.chain import Ledger
from node.ledger.genesis import GenesisError, load_genesis
from node.ops.errors import OpsError
from node.ops.migrate import ledger_path
from node.version import VERSION
from storage import db as storage_db
from storage.backup import LEDGER, check_against_manifest, read_manifest, write_backup
from storage.db import DatabaseLocked, Head, LedgerStore

BACKUPS = "backups"  # under the data dir: where a running node writes (node.api.backup.BACKUPS)
BACKUP_ROUTE = "/v1/admin/backup"
RESTORED = "RESTORED"
"""The marker a restore leaves in the data directory (JSON: the backup's height, block hash, when)."""
OPERATOR_TOKEN_ENV = "BAKONG_OPERATOR_TOKEN"


@dataclass(frozen=True)
class BackupDone:
    directory: Path
    manifest: dict[str, Any]
    online: bool
    """Taken by the running node (True) or from a stopped node's database here (False)."""


@dataclass(frozen=True)
class Restored:
    data_dir: Path
    head: Head
    manifest: dict[str, Any]
    marker: Path
    needs_migration: bool
    """The backup's data format version is older than this release's: run ``bakong migrate`` next."""


def _default_name() -> str:
    return time.strftime("offline-%Y%m%dT%H%M%SZ", time.gmtime())


def _ask_node(node_url: str, name: str | None, timeout: float) -> dict[str, Any]:
    """The running node writes the backup; returns its answer ``{"dir", "manifest"}``."""
    body = json.dumps({"name": name} if name else {}).encode()
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(OPERATOR_TOKEN_ENV, "").strip()
    if token:  # an operator route: needed unless we are on the node's host (docs/operations.md)
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(node_url.rstrip("/") + BACKUP_ROUTE, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "http_error", f"HTTP {exc.code}"
        raise OpsError(code, f"the node at {node_url} refused the backup: {message}", 3) from None
    except (urllib.error.URLError, OSError) as exc:
        raise OpsError("unreachable", f"the database is in use, so a node runs on it, but the node's API at "
                                      f"{node_url} cannot be reached ({getattr(exc, 'reason', exc)}); give "
                                      "--node URL", 4) from None


def backup(data_dir: Path, out: Path | None, node_url: str, name: str | None = None,
           timeout: float = 3600.0) -> BackupDone:
    """Back up the node whose data directory is ``data_dir`` into ``out`` (default: its backups/ folder)."""
    path = ledger_path(data_dir)
    if not (path / "CURRENT").is_file():
        raise OpsError("no_database", f"{path} holds no node database (is {data_dir} a node's data_dir?)")
    if out is not None and out.exists():
        raise OpsError("exists", f"{out} exists; give a new directory")
    try:
        store = LedgerStore(path, create=False)
    except DatabaseLocked:
        return _backup_online(data_dir, out, node_url, name, timeout)
    with store:
        dest = out if out is not None else data_dir / BACKUPS / (name or _default_name())
        dest.parent.mkdir(parents=True, exist_ok=True)
        manifest = write_backup(store.published(), dest, {"node": None, "software_version": VERSION})
    return BackupDone(dest, manifest, online=False)


def _backup_online(data_dir: Path, out: Path | None, node_url: str, name: str | None,
                   timeout: float) -> BackupDone:
    answer = _ask_node(node_url, name, timeout)
    written = Path(answer["dir"])
    # The node that answered must be the one running on data_dir: --node pointing at another node of the
    # same host would otherwise hand back (and move) that node's backup as this one's.
    if written.resolve().parent != (data_dir / BACKUPS).resolve():
        raise OpsError("wrong_node", f"the node at {node_url} wrote its backup to {written}, which is not under "
                                     f"{data_dir / BACKUPS}: it is not the node using {data_dir}")
    dest = written
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        dest = Path(shutil.move(str(written), str(out)))
    return BackupDone(dest, dict(answer["manifest"]), online=True)


# ---- restore ----

def _check_empty(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise OpsError("not_empty", f"{data_dir} is not an empty directory: a restore never overwrites a node's "
                                    "data (move it away, or restore into a new directory and point the config at it)")


def _check_head_block(ledger: Ledger) -> None:
    """The check a node makes at start (``node.assembly.check_head``): the head names a stored block."""
    head = ledger.head
    block = ledger.block(head.height)
    if block is None or block.hash != head.block_hash or block.header.state_root != head.state_root:
        raise OpsError("corrupt_head", f"the restored head names block {head.height}, which is missing or differs")


def _verify(path: Path, manifest: dict[str, Any], genesis_file: Path | None) -> tuple[Head, bool]:
    with LedgerStore(path, create=False, any_version=True) as store:
        head = check_against_manifest(store, manifest)
        if store.format_version != storage_db.FORMAT_VERSION:
            return head, True  # its blocks are read after `bakong migrate`; the manifest checks held
        ledger = Ledger(store, manifest["chain_id"])
        _check_head_block(ledger)
        if genesis_file is not None:
            try:
                genesis = load_genesis(genesis_file)
            except GenesisError as exc:
                raise OpsError(exc.code, f"{genesis_file}: {exc.message}") from None
            if genesis.chain_id != manifest["chain_id"]:
                raise OpsError("chain_mismatch", f"the backup is of chain {manifest['chain_id']!r}, {genesis_file} "
                                                 f"is chain {genesis.chain_id!r}")
            ledger.ensure_genesis(genesis)  # the stored genesis fingerprint must be this file's (reads only)
    return head, False


def restore(backup_dir: Path, data_dir: Path, genesis: Path | None = None) -> Restored:
    """Restore ``backup_dir`` into the empty ``data_dir``; checks it, then leaves the ``RESTORED`` marker."""
    manifest = read_manifest(backup_dir)
    _check_empty(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = ledger_path(data_dir)
    try:
        shutil.copytree(backup_dir / LEDGER, path)
        head, needs_migration = _verify(path, manifest, genesis)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # leave the data dir as empty as it was
        raise
    marker = data_dir / RESTORED
    marker.write_text(json.dumps({
        "height": head.height, "block_hash": head.block_hash.hex(), "backup": str(backup_dir.resolve()),
        "backup_created_ms": manifest.get("created_ms"), "backup_node": manifest.get("node"),
        "restored_ms": int(time.time() * 1000)}, indent=2) + "\n")
    return Restored(data_dir, head, manifest, marker, needs_migration)

