"""Backup of a running node (its API writes a snapshot while it holds the database), restore into a new
data directory, and the refusals around them. A real in-process node (``node.assembly.Node``: real
LevelDB, real aiohttp server on 127.0.0.1) built from a one-validator testnet in tmp_path."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from node.api.app import build_app
from node.assembly import Node
from node.cli import main
from node.config import NodeConfig, load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.chain import Ledger
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import init_testnet
from storage.db import DatabaseLocked, LedgerStore
from tests.integration.conftest import free_port


class ServedNode:
    """A node whose API is served on a background event loop, driven block by block from the test."""

    def __init__(self, config: NodeConfig, keys: Path) -> None:
        self.config, self.keys = config, keys
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        self.node = Node(self.config)
        self.runner = web.AppRunner(build_app(self.node), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def pay(self, blocks: int) -> None:
        """Commit ``blocks`` blocks of two payments each, as consensus would (on the caller's thread: nothing
        else writes to this node's ledger)."""
        ledger = self.node.ledger
        alice = read_key(self.keys / "alice@aclb.key")
        for _ in range(blocks):
            now = int(time.time() * 1000)
            txs = [build_transaction(TxPayload(self.node.chain_id, "alice@aclb", now + i, 1, (
                c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "", "1.00"),)), alice) for i in range(2)]
            block, execution = ledger.build_block(txs, now, self.node.key.public_key)
            ledger.commit(block, execution, b"")

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def close(self) -> None:
        if not self.thread.is_alive():
            return
        async def stop() -> None:
            await self.runner.cleanup()
            self.node.close()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedNode]:
    nodes = init_testnet(tmp_path / "net", validators=1)
    node = ServedNode(load_config(nodes[0].config), tmp_path / "net" / "keys")
    node.pay(3)
    try:
        yield node
    finally:
        node.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def opened(data_dir: Path, chain_id: str) -> tuple[Any, dict[str, int]]:
    with LedgerStore(data_dir / "ledger", create=False) as store:
        ledger = Ledger(store, chain_id)
        return ledger.head, ledger.balances("bob@abaa")


def test_a_running_node_is_backed_up_online_and_restores_into_a_new_dir_with_the_same_head_and_state(
        served: ServedNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = served.config.data_dir
    with pytest.raises(DatabaseLocked):  # what makes an online backup need the node itself
        LedgerStore(data_dir / "ledger")
    head = served.node.ledger.head
    balances = served.node.ledger.balances("bob@abaa")
    code, done, err = run(capsys, "backup", "--data-dir", str(data_dir), "--out", str(tmp_path / "b1"),
                          "--node", served.url)
    assert (code, err) == (0, "")
    assert done["online"] is True and done["backup"] == str(tmp_path / "b1")
    manifest = done["manifest"]
    assert (manifest["height"], manifest["block_hash"], manifest["state_root"]) == (
        3, head.block_hash.hex(), head.state_root.hex())
    assert (manifest["chain_id"], manifest["node"], manifest["data_format_version"]) == (
        served.node.chain_id, "nbc", 1)
    # The ledger database and its manifest only: not the safety record, not the key.
    assert sorted(p.name for p in (tmp_path / "b1").iterdir()) == ["ledger", "manifest.json"]
    assert (data_dir / "consensus").is_dir() and not list((data_dir / "backups").iterdir())
    served.pay(2)  # the node kept committing; the backup is the state it had when asked

    restored = tmp_path / "restored"
    code, done, err = run(capsys, "restore", "--backup", str(tmp_path / "b1"), "--data-dir", str(restored),
                          "--genesis", str(served.config.genesis_path))
    assert (code, err) == (0, "")
    assert (done["height"], done["state_root"]) == (3, head.state_root.hex())
    assert json.loads((restored / "RESTORED").read_text())["height"] == 3
    assert not (restored / "consensus").exists()
    assert opened(restored, served.node.chain_id) == (head, balances)
    node = Node(dataclasses.replace(served.config, data_dir=restored))  # a node starts on it (its start-up head check passes)
    try:
        assert node.ledger.head == head
    finally:
        node.close()




def test_the_backup_route_writes_only_under_the_nodes_data_dir_and_one_name_once(served: ServedNode) -> None:
    backups = served.config.data_dir / "backups"
    for bad in ("../../escape", "/tmp/x", ".hidden", "", "a" * 65, 7):
        status, body = served.post("/v1/admin/backup", {"name": bad})
        if bad == "":  # an empty name takes the default
            assert status == 200 and Path(body["dir"]).parent == backups
            continue
        assert (status, body["error"]["code"]) == (400, "bad_request"), bad
    assert served.post("/v1/admin/backup", {"dir": "/tmp/elsewhere"})[1]["error"]["code"] == "bad_request"
    status, body = served.post("/v1/admin/backup", {"name": "nightly-1"})
    assert status == 200 and body["dir"] == str(backups / "nightly-1")
    status, body = served.post("/v1/admin/backup", {"name": "nightly-1"})
    assert (status, body["error"]["code"]) == (409, "backup_exists")
    assert not (served.config.data_dir.parent / "escape").exists()


def test_a_stopped_node_is_backed_up_offline(served: ServedNode, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    head = served.node.ledger.head
    served.close()
    code, done, _ = run(capsys, "backup", "--data-dir", str(served.config.data_dir), "--out", str(tmp_path / "off"),
                        "--node", "http://127.0.0.1:9")  # not asked: the database is free
    assert code == 0 and done["online"] is False
    assert (done["manifest"]["height"], done["manifest"]["block_hash"]) == (head.height, head.block_hash.hex())


def test_a_backup_of_a_node_on_another_data_dir_is_refused(served: ServedNode, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    other = init_testnet(tmp_path / "other", validators=1)
    node = Node(load_config(other[0].config))  # holds its own database's lock
    try:
        code, _, err = run(capsys, "backup", "--data-dir", str(node.config.data_dir), "--node", served.url)
    finally:
        node.close()
    assert code == 1 and err.startswith("error: wrong_node: ")


def test_restore_refuses_a_non_empty_data_dir_and_a_backup_that_does_not_match_its_manifest(
        served: ServedNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "backup", "--data-dir", str(served.config.data_dir), "--out", str(tmp_path / "b"),
               "--node", served.url)[0] == 0
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "ledger").mkdir()
    code, _, err = run(capsys, "restore", "--backup", str(tmp_path / "b"), "--data-dir", str(busy))
    assert code == 1 and err.startswith("error: not_empty: ")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    (tmp_path / "b" / "manifest.json").write_text(json.dumps({**manifest, "height": manifest["height"] + 1}))
    code, _, err = run(capsys, "restore", "--backup", str(tmp_path / "b"), "--data-dir", str(tmp_path / "r"))
    assert code == 1 and err.startswith("error: backup_mismatch: ") and "height" in err
    assert list((tmp_path / "r").iterdir()) == []  # nothing half-restored left behind
    code, _, err = run(capsys, "restore", "--backup", str(tmp_path / "net"), "--data-dir", str(tmp_path / "r"))
    assert code == 1 and err.startswith("error: not_a_backup: ")


def test_a_running_node_whose_api_cannot_be_reached_is_not_copied_behind_its_back(
        served: ServedNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "backup", "--data-dir", str(served.config.data_dir), "--out", str(tmp_path / "b"),
                       "--node", f"http://127.0.0.1:{free_port()}")
    assert code == 4 and err.startswith("error: unreachable: ")  # docs/cli.md: 4 = unreachable
    assert not (tmp_path / "b").exists()
