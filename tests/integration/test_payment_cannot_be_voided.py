"""Issue 14, finding 7, end to end on real node processes: a stranger who sees Alice's signed payment
before it commits re-signs her payload (same hash) with another key and sends that copy to another
node first. Her payment must still commit, and her own submission must not be answered as a replay."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.ledger import commands as c
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import CHAIN_ID
from tests.integration.conftest import RunningNet, start_network

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@aclb", "bob@abaa"


@pytest.fixture
def two_validators(tmp_path: Path) -> Iterator[RunningNet]:
    net = start_network(tmp_path / "net", validators=2, observers=0)
    try:
        yield net
    finally:
        net.stop_all()


def wait_height(net: RunningNet, name: str, height: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while net.client(name).status()["height"] < height:
        assert time.monotonic() < deadline, f"{name} did not reach height {height}"
        time.sleep(0.1)


def test_a_copy_resigned_by_a_stranger_and_sent_elsewhere_first_cannot_void_alices_payment(
        two_validators: RunningNet) -> None:
    net = two_validators
    first, second = (node.name for node in net.nodes[:2])
    mallory = KeyPair.from_seed(hashlib.sha256(b"mallory").digest())
    payload = TxPayload(CHAIN_ID, ALICE, int(time.time() * 1000), 1,
                        (c.TransferAsset(ALICE, BOB, "khr#nbc", "rent", "1.00"),))
    genuine = build_transaction(payload, net.key(ALICE))
    replaced = build_transaction(payload, mallory)
    added = build_transaction(payload, net.key(ALICE), mallory)
    assert genuine.hash == replaced.hash == added.hash
    attacker = net.client(second)
    answers = [attacker.submit(forged) for forged in (replaced, added)]
    # Give the forged copies every chance to be gossiped and put into blocks before Alice submits.
    wait_height(net, second, net.client(second).status()["height"] + 3)
    mine = net.client(first).submit(genuine)
    final = net.client(first).wait_final(genuine.hash.hex(), 30.0)
    assert final["status"] == "COMMITTED", (final, mine)
    assert mine["status"] == "STATELESS_VALIDATION_SUCCESS", mine
    # The node the stranger used refused both copies at intake (neither was queued or gossiped).
    assert [a.get("error_code") for a in answers] == ["not_a_signatory"] * 2, answers
    wait_height(net, second, final["height"])
    assert net.client(second).wait_final(genuine.hash.hex(), 30.0)["status"] == "COMMITTED"
