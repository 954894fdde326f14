"""A node SIGKILLed inside a block commit (before, during or after its synced write) restarts on a
consistent head: the block is entirely there or entirely absent, never half applied, the accepted
payment still commits exactly once, and money is conserved. The crash is real: the node kills itself at the armed point (``[testing] fault_injection``)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from node.ledger import commands as c
from node.ledger.queries import GetBlock
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import init_testnet
from tests.integration.conftest import RunningNet, free_port
from tests.integration.test_crash_recovery import total_khr

pytestmark = pytest.mark.integration


def fault_injecting_node(tmp_path: Path, block: dict[str, int] | None = None) -> RunningNet:
    """One validator with ``[testing] fault_injection = true``, started and healthy."""
    nodes = init_testnet(tmp_path / "net", validators=1, base_port=free_port(), p2p_base_port=free_port(),
                         block=block)
    with nodes[0].config.open("a") as f:
        f.write("\n[testing]\nfault_injection = true\n")
    net = RunningNet(tmp_path / "net", nodes)
    net.start(nodes[0])
    return net


@pytest.mark.parametrize("point", ["before_write", "during_write", "after_write"])
def test_a_kill_inside_a_block_commit_leaves_the_block_whole_or_absent(tmp_path: Path, point: str) -> None:
    # No heartbeat blocks within the test: the only block is the one our payment makes, so the crashed
    # commit is that block's, and after the restart nothing moves the head until we ask.
    net = fault_injecting_node(tmp_path, {"batch_wait_ms": 20, "max_block_interval_ms": 120_000})
    node = net.nodes[0]
    try:
        client = net.client()
        khr_before = total_khr(net)
        armed = client._ok(*client._request("POST", "/v1/testing/crash-at-commit", {"point": point}))
        assert armed == {"armed": point}
        height_at_arming = int(client.status()["height"])  # no commit can finish after arming
        payload = TxPayload(client.chain_id, "alice@aclb", int(time.time() * 1000), 1,
                            (c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "crash", "5.00"),))
        tx = build_transaction(payload, net.key("alice@aclb"))
        client.submit(tx)
        proc = net.procs.pop(node.name)
        assert proc.wait(timeout=15) == -signal.SIGKILL

        net.start(node)  # startup checks that the head names a stored block with that state root
        # The payment is never lost: a block killed before or during its write comes back from the
        # validator's safety record (the decided proposal) or from the intake journal, and one killed
        # after its write is there already. Either way it is block height_at_arming + 1, and nothing
        # else moves the head (no heartbeats within the test).
        final = client.wait_final(tx.hash.hex(), timeout=30)
        assert (final["status"], final["height"]) == ("COMMITTED", height_at_arming + 1)
        status = client.status()
        height = int(status["height"])
        assert height == height_at_arming + 1
        block = client.query("admin@nbc", net.key("admin@nbc"), GetBlock(height))["block"]
        assert (block["hash"], block["state_root"]) == (status["block_hash"], status["state_root"])
        assert total_khr(net) == khr_before
        # The node keeps working: a new payment commits on top of the recovered head.
        tx2 = build_transaction(TxPayload(client.chain_id, "alice@aclb", int(time.time() * 1000), 1,
                                          (c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "after", "1.00"),)),
                                net.key("alice@aclb"))
        client.submit(tx2)
        assert client.wait_final(tx2.hash.hex())["status"] == "COMMITTED"
    finally:
        net.stop_all()


def test_the_crash_endpoint_refuses_an_unknown_point(tmp_path: Path) -> None:
    net = fault_injecting_node(tmp_path)
    try:
        client = net.client()
        code, body = client._request("POST", "/v1/testing/crash-at-commit", {"point": "sometime"})
        assert code == 400 and body["error"]["code"] == "bad_request"
        assert client.healthy()
    finally:
        net.stop_all()
