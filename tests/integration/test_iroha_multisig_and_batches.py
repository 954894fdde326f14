"""Pending multisig and batches through Torii on a real 4-validator network, driven by the OFFICIAL Iroha
client (issue 18, "Tests"): an account with two signatories and quorum 2 sends a one-signature
transaction to one node (MST_PENDING) while a third validator is down; that validator, restarted, and
the observer get the pending copy from the validators' re-gossip; the first node is killed; the second signature, sent to
another node, still commits it. Then an ATOMIC batch (ListTorii) commits whole, and one with a failing
member commits nothing. The client's output is printed (``pytest -s``)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ledger.queries import GetAccountAssets
from node.tools import testnet
from tests.integration.conftest import RunningNet, start_network
from tests.iroha_client import run_official

COMMON = """
import binascii, json, sys, time
import nacl.signing
from iroha import Iroha, IrohaCrypto, IrohaGrpc
KHR = "khr#nbc"
admin_key = nacl.signing.SigningKey(binascii.unhexlify(sys.argv[2]))
key1 = nacl.signing.SigningKey(b"\\x01" * 32)
key2 = nacl.signing.SigningKey(b"\\x02" * 32)
net = IrohaGrpc(sys.argv[1], timeout=30)
admin = Iroha("admin@nbc")
joint = Iroha("joint@aclb")

def cmd(name, **fields):
    return Iroha.command(name, **fields)

def send(tx, *keys):
    IrohaCrypto.sign_transaction(tx, *keys)
    net.send_tx(tx)
    return [s[0] for s in net.tx_status_stream(tx)]

def payment(created):
    return joint.transaction([cmd("TransferAsset", src_account_id="joint@aclb", dest_account_id="admin@nbc",
                                  asset_id=KHR, description="two officers", amount="1.00")],
                             quorum=2, created_time=created)
"""

FIRST_SIGNATURE = COMMON + """
setup = send(admin.transaction([
    cmd("CreateAccount", account_name="joint", domain_id="aclb", public_key=IrohaCrypto.derive_public_key(key1)),
    cmd("AddAssetQuantity", asset_id=KHR, amount="100.00"),
    cmd("TransferAsset", src_account_id="admin@nbc", dest_account_id="joint@aclb", asset_id=KHR,
        description="opening", amount="5.00")]), admin_key)
officers = send(joint.transaction([
    cmd("AddSignatory", account_id="joint@aclb", public_key=IrohaCrypto.derive_public_key(key2)),
    cmd("SetAccountQuorum", account_id="joint@aclb", quorum=2)]), key1)
created = int(time.time() * 1000)
tx = payment(created)
IrohaCrypto.sign_transaction(tx, key1)
net.send_tx(tx)
print(json.dumps({"setup": setup, "officers": officers, "created": created,
                  "hash": binascii.hexlify(IrohaCrypto.hash(tx)).decode(), "first": list(net.tx_status(tx))}))
"""

STATUS = """
import binascii, json, sys
from iroha import IrohaGrpc, endpoint_pb2
net = IrohaGrpc(sys.argv[1], timeout=10)
r = net._command_service_stub.Status(endpoint_pb2.TxStatusRequest(tx_hash=sys.argv[2]))
print(endpoint_pb2.TxStatus.Name(r.tx_status))
"""

SECOND_SIGNATURE_AND_BATCHES = COMMON + """
tx = payment(int(sys.argv[3]))
second = send(tx, key2)

def batch(*amounts_and_payees):
    txs = [admin.transaction([cmd("TransferAsset", src_account_id="admin@nbc", dest_account_id=payee,
                                  asset_id=KHR, description="batch", amount=amount)],
                             created_time=int(time.time() * 1000) + i)
           for i, (amount, payee) in enumerate(amounts_and_payees)]
    Iroha.batch(txs, atomic=True)
    for t in txs:
        IrohaCrypto.sign_transaction(t, admin_key)
    net.send_txs(txs)  # ListTorii: the batch travels as one list
    return [[s[0] for s in net.tx_status_stream(t)][-1] for t in txs]

whole = batch(("1.00", "joint@aclb"), ("2.00", "joint@aclb"))
broken = batch(("4.00", "joint@aclb"), ("1.00", "ghost@aclb"))
print(json.dumps({"second": second, "whole": whole, "broken": broken}))
"""


def quick_pending_regossip(node: testnet.TestnetNode) -> None:
    with node.config.open("a") as f:  # init_testnet writes no [mempool] table
        f.write("\n[mempool]\npending_regossip_seconds = 1\n")


@pytest.fixture
def network(tmp_path: Path) -> Iterator[RunningNet]:
    net = start_network(tmp_path / "net", configure=quick_pending_regossip)
    try:
        yield net
    finally:
        net.stop_all()


def wait_for_status(torii: str, tx_hash: str, wanted: str, what: str, timeout: float = 30.0) -> float:
    started = deadline = time.monotonic()
    deadline += timeout
    while run_official(STATUS, torii, tx_hash).strip() != wanted:
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return time.monotonic() - started


def test_a_pending_multisig_survives_its_node_and_atomic_batches_commit_whole(network: RunningNet) -> None:
    net = network
    first_node, other, absent = net.node("nbc"), net.node("aclb"), net.node("wing")
    admin_seed = net.key("admin@nbc").seed.hex()
    net.kill(absent.name, signal.SIGTERM)  # down while the pending copy first flies (3 of 4 still commit)
    one = json.loads(run_official(FIRST_SIGNATURE, first_node.torii, admin_seed))
    print(f"\nofficial client -> {first_node.name} Torii {first_node.torii}: {one}")
    assert one["setup"][-1] == "COMMITTED" and one["officers"][-1] == "COMMITTED"
    assert one["first"][0] == "MST_PENDING"
    # gossip gives the other nodes the one-signature copy
    wait_for_status(other.torii, one["hash"], "MST_PENDING", "the pending copy never reached the other node")
    # the validator that was down comes back: it syncs the blocks and gets the copy from the re-gossip
    net.start(absent)
    took = wait_for_status(absent.torii, one["hash"], "MST_PENDING",
                           "the restarted validator never got the pending copy")
    print(f"{absent.name}, down when the copy flew, restarted: MST_PENDING after {took:.1f} s")
    # an observer (a bank's node, where a co-signer would look) has it too: validators re-send to every peer
    observer = net.node("ftb")
    took = wait_for_status(observer.torii, one["hash"], "MST_PENDING", "the observer never got the pending copy")
    print(f"{observer.name} (observer): MST_PENDING after {took:.1f} s more")
    net.kill(first_node.name)  # then the node the first signature was sent to dies
    two = json.loads(run_official(SECOND_SIGNATURE_AND_BATCHES, other.torii, admin_seed, str(one["created"])))
    print(f"official client -> {other.name} Torii {other.torii} (after killing {first_node.name}): {two}")
    assert two["second"][-1] == "COMMITTED"
    assert two["whole"] == ["COMMITTED", "COMMITTED"]
    assert two["broken"] == ["REJECTED", "REJECTED"]
    balances = {a["asset_id"]: a["balance"] for a in net.client(other.name).query(
        "admin@nbc", net.key("admin@nbc"), GetAccountAssets("joint@aclb", 10, None))["assets"]}
    assert balances["khr#nbc"] == "7.00"  # 5.00 opening - 1.00 two-officer payment + 3.00 whole batch + 0 broken
