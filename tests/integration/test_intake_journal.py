"""A transaction the API accepted survives a crash of the node that accepted it: restarted, the node
has it in its mempool again, and it commits once the network can make blocks."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from node.ledger import commands as c
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import init_testnet
from tests.integration.conftest import FAST_BLOCK, FAST_CONSENSUS, RunningNet, add_consensus_section, free_port_range

pytestmark = pytest.mark.integration


def test_an_accepted_transaction_outlives_a_kill_9_and_commits_later(tmp_path: Path) -> None:
    # Two validators, one running: no quorum, so nothing commits and the payment can only wait.
    nodes = init_testnet(tmp_path / "net", validators=2, base_port=free_port_range(2),
                         p2p_base_port=free_port_range(2), block=FAST_BLOCK)
    for node in nodes:
        add_consensus_section(node.config, FAST_CONSENSUS)
    net = RunningNet(tmp_path / "net", nodes)
    first, second = nodes
    net.start(first)
    try:
        client = net.client(first.name)
        payload = TxPayload(client.chain_id, "alice@aclb", int(time.time() * 1000), 1,
                            (c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "journal", "7.00"),))
        tx = build_transaction(payload, net.key("alice@aclb"))
        assert client.submit(tx)["status"] == "STATELESS_VALIDATION_SUCCESS"

        net.kill(first.name, signal.SIGKILL)
        net.start(first)
        assert client.tx_status(tx.hash.hex())["status"] == "STATELESS_VALIDATION_SUCCESS"
        assert client.status()["mempool_size"] == 1

        net.start(second)  # a quorum again: the payment commits
        final = client.wait_final(tx.hash.hex(), timeout=60)
        assert final["status"] == "COMMITTED"
        assert net.client(second.name).wait_final(tx.hash.hex(), timeout=30)["status"] == "COMMITTED"
    finally:
        net.stop_all()
