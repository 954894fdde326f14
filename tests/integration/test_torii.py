"""Torii against a real node process, driven by the OFFICIAL Iroha client (``iroha`` 1.6.0.2, its own
venv: tests/iroha_client.py), as a bank's integration drives Iroha (issue 18, "Tests"): CreateAccount +
AddAssetQuantity + TransferAsset signed by the testnet's admin key as an ``ed25519_sha2`` key, followed
by StatusStream to COMMITTED; Status of a hash nobody sent is NOT_RECEIVED; a transfer to a missing
account is STATEFUL_VALIDATION_FAILED naming TransferAsset, its index and Iroha's code 4, and the stream
ends with the final REJECTED. The client's output is printed (``pytest -s`` shows it)."""

from __future__ import annotations

import json

from node.ledger.queries import GetAccountAssets
from tests.integration.conftest import RunningNet
from tests.iroha_client import run_official

# argv: Torii address, the admin's seed (hex), a fresh account name. Prints one JSON object.
CLIENT_SCRIPT = """
import binascii, json, sys
import nacl.signing
from iroha import Iroha, IrohaCrypto, IrohaGrpc
from iroha import endpoint_pb2, endpoint_pb2_grpc

address, seed, name = sys.argv[1:4]
net = IrohaGrpc(address, timeout=20)
key = nacl.signing.SigningKey(binascii.unhexlify(seed))  # an ed25519_sha2 key for the client
iroha = Iroha("admin@nbc")
stub = endpoint_pb2_grpc.CommandService_v1Stub(net._channel)

def signed(*commands):
    tx = iroha.transaction(list(commands))
    IrohaCrypto.sign_transaction(tx, key)
    return tx

def every_field(tx):  # the full ToriiResponses (the client's tuples leave out the command's name and index)
    request = endpoint_pb2.TxStatusRequest(tx_hash=binascii.hexlify(IrohaCrypto.hash(tx)))
    return [[endpoint_pb2.TxStatus.Name(r.tx_status), r.tx_hash, r.err_or_cmd_name, r.failed_cmd_index,
             r.error_code] for r in stub.StatusStream(request, timeout=20)]

payment = signed(
    iroha.command("CreateAccount", account_name=name, domain_id="aclb",
                  public_key=IrohaCrypto.derive_public_key(nacl.signing.SigningKey.generate())),
    iroha.command("AddAssetQuantity", asset_id="khr#nbc", amount="10.00"),
    iroha.command("TransferAsset", src_account_id="admin@nbc", dest_account_id=name + "@aclb",
                  asset_id="khr#nbc", description="torii", amount="2.50"))
net.send_tx(payment)
followed = [list(s) for s in net.tx_status_stream(payment)]

never_sent = signed(iroha.command("AddAssetQuantity", asset_id="khr#nbc", amount="1.00"))
unknown = list(net.tx_status(never_sent))

lost = signed(
    iroha.command("AddAssetQuantity", asset_id="khr#nbc", amount="1.00"),
    iroha.command("TransferAsset", src_account_id="admin@nbc", dest_account_id="ghost@aclb",
                  asset_id="khr#nbc", description="nobody there", amount="1.00"))
net.send_tx(lost)
lost_followed = [list(s) for s in net.tx_status_stream(lost)]
print(json.dumps({"payment_hash": binascii.hexlify(IrohaCrypto.hash(payment)).decode(), "payment": followed,
                  "unknown": unknown, "lost": lost_followed, "lost_fields": every_field(lost),
                  "lost_status": list(net.tx_status(lost))}))
"""


def test_official_client_commits_through_torii_and_reads_iroha_statuses(single_node: RunningNet) -> None:
    net = single_node
    torii = net.nodes[0].torii
    out = json.loads(run_official(CLIENT_SCRIPT, torii, net.key("admin@nbc").seed.hex(), "torii_it"))
    print(f"\nofficial client (iroha 1.6.0.2) against Torii {torii}:")
    for key in ("payment", "unknown", "lost", "lost_fields", "lost_status"):
        print(f"  {key}: {out[key]}")

    assert [s[0] for s in out["payment"]] == ["STATELESS_VALIDATION_SUCCESS", "STATEFUL_VALIDATION_SUCCESS",
                                              "COMMITTED"]
    assert out["unknown"] == ["NOT_RECEIVED", 7, 0]
    assert out["lost"] == [["STATELESS_VALIDATION_SUCCESS", 1, 0], ["STATEFUL_VALIDATION_FAILED", 2, 4],
                           ["REJECTED", 4, 4]]
    assert [f[2:] for f in out["lost_fields"]] == [["TransferAsset", 1, 4], ["TransferAsset", 1, 4]]
    assert [f[0] for f in out["lost_fields"]] == ["STATEFUL_VALIDATION_FAILED", "REJECTED"]
    assert out["lost_status"] == ["REJECTED", 4, 4]
    # the same ledger, read through the native API: the payment landed under the client's own hash
    status = net.client().tx_status(out["payment_hash"])
    assert status["status"] == "COMMITTED"
    balances = {a["asset_id"]: a["balance"] for a in net.client().query(
        "admin@nbc", net.key("admin@nbc"), GetAccountAssets("torii_it@aclb", 10, None))["assets"]}
    assert balances["khr#nbc"] == "2.50"

