"""``bakong migrate``: move a stopped node's database from its data format version to this release's.

``storage.db.FORMAT_VERSION`` is what this release reads; a node refuses a store of another version at
start (``DataFormatVersion``, exit 74) and names this command. A release that changes how stored bytes
must be read raises ``FORMAT_VERSION`` to N and registers here the step from N-1 to N (with a test that
builds a version N-1 store and checks the step). Steps run in order, each followed by recording the
version it reached, so an interrupted migration resumes at the step that did not finish: a step must be
safe to run again on a store it already partly converted.

Version 1 is the first recorded version (a store from before versions were recorded reads as 1, see
``storage.db.UNVERSIONED_FORMAT``), so today there is no step: ``bakong migrate`` reports the store
current and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from node.ops.errors import OpsError
from storage import db as storage_db
from storage.db import DatabaseLocked, LedgerStore

Migration = Callable[[LedgerStore], None]
"""Rewrite a store of version v (the key) into version v + 1; must be safe to run twice."""

MIGRATIONS: dict[int, Migration] = {}


@dataclass(frozen=True)
class Migrated:
    found: int
    reached: int

    @property
    def steps(self) -> int:
        return self.reached - self.found


def ledger_path(data_dir: Path) -> Path:
    """Where a node keeps its database in its data directory (``node.assembly.Node``)."""
    return data_dir / "ledger"


def migrate(data_dir: Path, migrations: Mapping[int, Migration] = MIGRATIONS) -> Migrated:
    """Run the steps from the store's version to ``storage.db.FORMAT_VERSION``; the node must be stopped."""
    path = ledger_path(data_dir)
    if not (path / "CURRENT").is_file():
        raise OpsError("no_database", f"{path} holds no node database (is {data_dir} a node's data_dir?)")
    target = storage_db.FORMAT_VERSION  # read at call time: a test may stand in a later release
    try:
        store = LedgerStore(path, create=False, any_version=True)
    except DatabaseLocked:
        raise OpsError("node_running", f"{path} is in use: stop the node first (a migration rewrites the "
                                       "database under it)") from None
    with store:
        found = version = store.format_version
        if found > target:
            raise OpsError("data_format_newer", f"{path} holds data format version {found}, newer than this "
                                                f"release's {target}: run the release that wrote it")
        while version < target:
            step = migrations.get(version)
            if step is None:
                raise OpsError("no_migration", f"this release has no migration from data format version {version} "
                                               f"to {version + 1}; upgrade through an intermediate release")
            step(store)
            version += 1
            store.set_format_version(version)  # after the step: an interruption repeats the step, never skips it
    return Migrated(found, version)
