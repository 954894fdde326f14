"""A validator stopped right after committing a ~6 MB block restarts (issue 14, finding 2), in real processes.

At 02865ef a legal 6 MB block bricked a validator that was stopped, by SIGKILL or even SIGTERM, within
~2 s of committing it: its safety record held the proposal (12 MB) and was over the read limit, so the
node never started again. Since issue 13 the record names proposals by id and stays small.
``tests/integration/test_large_blocks.py`` SIGKILLs a validator of four during ~16 MB blocks; this one
stops a single validator both ways the moment it reports the heavy block committed.
"""

from __future__ import annotations

import signal
import time

import pytest

from node.ledger import commands as c
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import CHAIN_ID
from tests.integration.conftest import RunningNet
from tests.integration.test_network import commit, transfer, wait_for

pytestmark = pytest.mark.integration

TXS = 100
DETAILS_PER_TX = 15  # 100 x 15 x 4 KiB: ~6 MB of transactions for one block


def submit_heavy_transactions(net: RunningNet, tag: str) -> str:
    """~6 MB of detail-setting transactions; returns the hash of the last one. Past alice's detail quota
    they are REJECTED, but a rejected transaction stays in its block: the block is as heavy either way."""
    alice = net.key("alice@aclb")
    now = int(time.time() * 1000)
    txs = [build_transaction(TxPayload(CHAIN_ID, "alice@aclb", now + i, 1, tuple(
        c.SetAccountDetail("alice@aclb", f"{tag}{i}_{j}", "x" * 4096) for j in range(DETAILS_PER_TX))), alice)
        for i in range(TXS)]
    client = net.client()
    for start in range(0, TXS, 25):
        answers = client.submit_many(txs[start:start + 25])
        assert {a["status"] for a in answers} == {"STATELESS_VALIDATION_SUCCESS"}, answers[:2]
    return txs[-1].hash.hex()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_validator_stopped_the_moment_it_commits_a_6_mb_block_starts_again_and_commits(
        single_node: RunningNet, stop: signal.Signals) -> None:
    net = single_node
    name = net.nodes[0].name
    last = submit_heavy_transactions(net, "d")
    client = net.client()
    wait_for(lambda: client.tx_status(last)["status"] in ("COMMITTED", "REJECTED"), "the heavy transactions to be final", 40)
    net.kill(name, stop)  # at once: the next height's proposal and safety record are being written
    net.start(net.node(name))
    commit(net, transfer(net, amount="3.00"), name)
