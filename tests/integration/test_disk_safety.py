"""Disk safety: a real node process refuses a database it cannot trust, with one clear line and exit 1.

Each case makes a one-validator testnet, starts the node (so genesis is committed to its LevelDB) and
stops it, then damages something and starts ``python -m node.cli node --config ...`` again. The node
must not serve, must exit non-zero, and must print exactly one line ``error: <code>: <message>`` on
stderr: no traceback, no log noise.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import plyvel
import pytest

from node.tools.testnet import init_testnet, node_command
from storage import keys
from tests.integration.conftest import ROOT, RunningNet, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def stopped_node(tmp_path: Path) -> Iterator[RunningNet]:
    """A one-validator testnet whose node has run once (genesis committed) and been stopped cleanly."""
    nodes = init_testnet(tmp_path / "net", validators=1, observers=0, base_port=free_port(),
                         p2p_base_port=free_port(), block={"batch_wait_ms": 20, "max_block_interval_ms": 500})
    net = RunningNet(tmp_path / "net", nodes)
    net.start(nodes[0])
    net.stop_all()
    try:
        yield net
    finally:
        net.stop_all()


def start_again(net: RunningNet) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(node_command(net.nodes[0].config), capture_output=True, text=True, env=env,
                          timeout=30)


def assert_refused(result: subprocess.CompletedProcess[str], code: str, *words: str) -> str:
    assert result.returncode != 0, f"node started on a bad database:\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    line = lines[0]
    assert line.startswith(f"error: {code}: "), line
    for word in words:
        assert word in line, line
    return line


def data_dir(net: RunningNet) -> Path:
    return net.dir / "data" / net.nodes[0].name / "ledger"


def edit_genesis(net: RunningNet, **changes: object) -> None:
    path = net.dir / "genesis.json"
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def test_node_refuses_a_database_of_another_chain_id(stopped_node: RunningNet) -> None:
    doc = json.loads((stopped_node.dir / "genesis.json").read_text())
    edit_genesis(stopped_node, chain_id=doc["chain_id"] + "-other")
    assert_refused(start_again(stopped_node), "chain_mismatch", repr(doc["chain_id"]),
                   repr(doc["chain_id"] + "-other"))


def test_node_refuses_a_database_made_from_a_different_genesis(stopped_node: RunningNet) -> None:
    doc = json.loads((stopped_node.dir / "genesis.json").read_text())
    edit_genesis(stopped_node, created_ms=doc["created_ms"] + 1)  # same chain id, other genesis
    assert_refused(start_again(stopped_node), "chain_mismatch", "different genesis")


def test_node_refuses_a_garbage_head_record(stopped_node: RunningNet) -> None:
    db = plyvel.DB(str(data_dir(stopped_node)))
    db.put(keys.HEAD, b"garbage")
    db.close()
    assert_refused(start_again(stopped_node), "corrupt_head", "head record")


def test_node_refuses_a_well_formed_head_that_names_no_stored_block(stopped_node: RunningNet) -> None:
    """A head record of the right shape whose hashes do not match the block it names (bit rot, a
    partial copy) is as corrupt as garbage: the node must not serve from it."""
    db = plyvel.DB(str(data_dir(stopped_node)))
    raw = bytearray(db.get(keys.HEAD))
    raw[20] ^= 0x01  # one bit of the head's block hash
    db.put(keys.HEAD, bytes(raw))
    db.close()
    assert_refused(start_again(stopped_node), "corrupt_head")


def test_second_process_on_the_same_database_is_refused_and_the_first_keeps_serving(
        stopped_node: RunningNet) -> None:
    net = stopped_node
    net.start(net.nodes[0])
    height = net.client().status()["height"]
    assert_refused(start_again(net), "database_locked", "in use by another process")
    assert net.client().healthy()
    assert net.client().status()["height"] >= height
