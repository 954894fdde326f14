"""Upgrades: a release that reads a later data format version refuses an older store at start (exit 74,
one line naming both versions and ``bakong migrate``); ``bakong migrate`` runs the registered steps;
the node then opens the store. A fake release (FORMAT_VERSION 2, a step 1 -> 2) stands in through the
test seams ``storage.db.FORMAT_VERSION`` and ``node.ops.migrate.MIGRATIONS``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from node.assembly import EXIT_STORAGE, Node, node_failure
from node.cli import main
from node.config import load_config
from node.ops.migrate import MIGRATIONS
from node.tools.testnet import init_testnet
from storage import db as storage_db
from storage import keys
from storage.db import DataFormatVersion, LedgerStore

STEP_ROW = keys.META + b"test:migrated"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    """A node's config whose data dir holds a version-1 store (the node started once)."""
    config = init_testnet(tmp_path / "net", validators=1)[0].config
    Node(load_config(config)).close()
    return config


def test_a_newer_release_refuses_the_store_then_migrate_moves_it_on_and_the_node_opens_it(
        node_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(node_dir)
    data_dir = str(config.data_dir)
    monkeypatch.setattr(storage_db, "FORMAT_VERSION", 2)  # the fake release

    with pytest.raises(DataFormatVersion) as info:
        Node(config)
    failure = node_failure(info.value)  # how `bakong node` ends on it
    assert (failure.code, failure.exit_code) == ("data_format_version", EXIT_STORAGE)
    assert "version 1" in failure.message and "version 2" in failure.message
    assert f"bakong migrate --data-dir {data_dir}" in failure.message

    code, _, err = run(capsys, "migrate", "--data-dir", data_dir)  # this fake release forgot its step
    assert code == 1 and err.startswith("error: no_migration: ")

    seen: list[int] = []

    def step(store: LedgerStore) -> None:
        seen.append(store.format_version)
        store.put_durable(STEP_ROW, b"1->2")

    monkeypatch.setitem(MIGRATIONS, 1, step)
    code, done, err = run(capsys, "migrate", "--data-dir", data_dir)
    assert (code, err) == (0, "")
    assert (done["found"], done["reached"], done["steps"], done["current"]) == (1, 2, 1, True)
    assert seen == [1]
    node = Node(config)
    try:
        assert node.store.format_version == 2 and node.store.get(STEP_ROW) == b"1->2"
    finally:
        node.close()
    code, done, _ = run(capsys, "migrate", "--data-dir", data_dir)  # already current: nothing runs
    assert (code, done["steps"], seen) == (0, 0, [1])


def test_migrate_on_a_current_store_changes_nothing(node_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, done, _ = run(capsys, "migrate", "--data-dir", str(load_config(node_dir).data_dir))
    assert code == 0 and (done["found"], done["reached"], done["steps"]) == (1, 1, 0)


def test_migrate_refuses_a_running_node_and_a_directory_without_a_database(
        node_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(node_dir)
    node = Node(config)
    try:
        code, _, err = run(capsys, "migrate", "--data-dir", str(config.data_dir))
    finally:
        node.close()
    assert code == 1 and err.startswith("error: node_running: ")
    code, _, err = run(capsys, "migrate", "--data-dir", str(tmp_path / "nothing"))
    assert code == 1 and err.startswith("error: no_database: ")
