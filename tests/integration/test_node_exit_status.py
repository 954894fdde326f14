"""A node that stops on an error names the cause and exits with its class's status (issue 14, finding 12).

At 1212d3c every crash inside the running node printed ``error: ExceptionGroup: unhandled errors in a
TaskGroup`` and exited 1, whatever the cause (disk full, an oversized block, an unreadable safety
record). Now the exception group is unwrapped, the cause is logged with its traceback, the last line on
stderr names it, and the exit status says its class (docs/reliability.md, "When a node stops on an
error"). Real node processes, started as ``python -m node.cli node --config ...``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.assembly import (
    EXIT_CONFIG,
    EXIT_INTERNAL,
    EXIT_SAFETY_RECORD,
    EXIT_STORAGE,
    node_failure,
)
from node.runtime.safety_store import MAGIC
from node.tools.testnet import init_testnet, node_command
from tests.integration.conftest import ROOT, RunningNet, free_port

pytestmark = pytest.mark.integration

_SLOT_HEADER = struct.Struct(">4sQQ32s")  # node.runtime.safety_store's slot layout


@pytest.fixture
def stopped_validator(tmp_path: Path) -> Iterator[RunningNet]:
    """A one-validator testnet whose node has committed blocks (so it holds a safety record) and stopped."""
    nodes = init_testnet(tmp_path / "net", validators=1, observers=0, base_port=free_port(),
                         p2p_base_port=free_port(), block={"batch_wait_ms": 20, "max_block_interval_ms": 500})
    net = RunningNet(tmp_path / "net", nodes)
    net.start(nodes[0])
    try:
        client = net.client()
        deadline = time.monotonic() + 30
        while client.status()["height"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        net.stop_all()
        yield net
    finally:
        net.stop_all()


def start_again(net: RunningNet) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(node_command(net.nodes[0].config), capture_output=True, text=True, env=env, timeout=60)


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines, f"nothing on stderr; stdout:\n{result.stdout}"
    return lines[-1]


def consensus_dir(net: RunningNet) -> Path:
    return net.dir / "data" / net.nodes[0].name / "consensus"


def test_a_validator_whose_safety_record_does_not_decode_names_it_and_exits_with_the_safety_status(
        stopped_validator: RunningNet) -> None:
    # An intact slot (magic, checksum) with the highest sequence, whose body is not a safety record.
    body = b"\x93\x01\x02garbage that is not a safety record"
    slot = _SLOT_HEADER.pack(MAGIC, 2**40, len(body), hashlib.sha256(body).digest()) + body
    (consensus_dir(stopped_validator) / "safety.a").write_bytes(slot)
    result = start_again(stopped_validator)
    assert result.returncode == EXIT_SAFETY_RECORD, result.stderr[-3000:]
    line = last_line(result)
    assert line.startswith("error: safety_record_unreadable: "), line
    assert "does not decode" in line and "ExceptionGroup" not in result.stderr
    assert "Traceback" in result.stderr  # the node log has the decoder's own error, with its traceback


def test_a_data_directory_the_node_cannot_use_names_it_and_exits_with_the_storage_status(
        stopped_validator: RunningNet) -> None:
    directory = consensus_dir(stopped_validator)
    shutil.rmtree(directory)
    directory.write_text("not a directory\n")  # where the safety files must be
    result = start_again(stopped_validator)
    assert result.returncode == EXIT_STORAGE, result.stderr[-3000:]
    line = last_line(result)
    assert line.startswith("error: storage_error: "), line
    assert "data/nbc/consensus" in line and "ExceptionGroup" not in result.stderr
    assert "Traceback" in result.stderr


def test_a_config_the_node_cannot_use_names_it_and_exits_with_the_config_status(
        stopped_validator: RunningNet) -> None:
    config = stopped_validator.nodes[0].config
    config.write_text(config.read_text() + "\n[mempool]\nno_such_key = 1\n")
    result = start_again(stopped_validator)
    assert result.returncode == EXIT_CONFIG, result.stderr[-3000:]
    assert "no_such_key" in last_line(result)


def test_an_exception_group_is_unwrapped_to_the_error_inside_it() -> None:
    async def crash() -> None:
        async def fails() -> None:
            raise OSError(28, "No space left on device", "/data/ledger/000123.log")

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(fails())
            tasks.create_task(asyncio.sleep(10))  # cancelled: not a cause

    with pytest.raises(BaseExceptionGroup) as caught:
        asyncio.run(crash())
    failure = node_failure(caught.value)
    assert failure.exit_code == EXIT_STORAGE
    assert str(failure).startswith("storage_error: OSError: [Errno 28] No space left on device")
    assert node_failure(ExceptionGroup("outer", [ExceptionGroup("inner", [KeyError("x")])])).exit_code \
        == EXIT_INTERNAL
