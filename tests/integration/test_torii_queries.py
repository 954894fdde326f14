"""Torii's QueryService_v1 on a real node process, driven by the official Iroha client (issue 18.6).

One script in the official client's venv: FetchCommits opened first (admin@nbc), then an Iroha
transfer by alice sent to Torii and followed to COMMITTED; GetAccount, GetAccountAssets, GetBlock,
GetSignatories; and alice's history walked page by page with GetAccountTransactions. Before it, the
HTTP API commits two native transfers by alice and one by bob to alice (hers must not be listed).
The script's JSON output is printed so it can be quoted.
"""

from __future__ import annotations

import json
import time

import pytest

from node.config import load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.transactions import TxPayload, build_transaction
from tests.integration.conftest import RunningNet
from tests.iroha_client import run_official

pytestmark = pytest.mark.integration

SCRIPT = """
import binascii, json, sys, threading, time
import nacl.signing
from iroha import Iroha, IrohaCrypto, IrohaGrpc
address, alice_seed, admin_seed = sys.argv[1:4]
alice_key = nacl.signing.SigningKey(binascii.unhexlify(alice_seed))
admin_key = nacl.signing.SigningKey(binascii.unhexlify(admin_seed))
alice, admin, net = Iroha('alice@aclb'), Iroha('admin@nbc'), IrohaGrpc(address, timeout=15)
out = {}

def ask(who, key, name, **fields):
    return net.send_query(IrohaCrypto.sign_query(who.query(name, **fields), key))

head = net._query_service_stub.Healthcheck(__import__('google.protobuf.empty_pb2', fromlist=['Empty']).Empty())
out['head_when_stream_opened'] = head.last_block_height
streamed = []
stream = net.send_blocks_stream_query(IrohaCrypto.sign_query(admin.blocks_query(), admin_key), timeout=15)
def read():  # every block from the one after the head, until the one holding the Iroha transfer
    for response in stream:
        block = response.block_response.block.block_v1.payload
        hashes = [binascii.hexlify(IrohaCrypto.hash(t)).decode() for t in block.transactions]
        streamed.append({'height': block.height, 'txs': hashes})
        if out.get('iroha_tx') in hashes:
            return
reader = threading.Thread(target=read)
reader.start()
time.sleep(0.5)  # the stream is open before the transaction is sent

tx = alice.transaction([alice.command('TransferAsset', src_account_id='alice@aclb', dest_account_id='bob@abaa',
                                      asset_id='khr#nbc', description='via torii', amount='3.00')])
IrohaCrypto.sign_transaction(tx, alice_key)
out['iroha_tx'] = binascii.hexlify(IrohaCrypto.hash(tx)).decode()
net.send_tx(tx)
out['statuses'] = [s[0] for s in net.tx_status_stream(tx)]
reader.join(20)
out['fetch_commits'] = streamed

account = ask(alice, alice_key, 'GetAccount', account_id='alice@aclb').account_response
out['get_account'] = {'id': account.account.account_id, 'quorum': account.account.quorum,
                      'roles': list(account.account_roles)}
assets = ask(alice, alice_key, 'GetAccountAssets', account_id='alice@aclb').account_assets_response
out['get_account_assets'] = {a.asset_id: a.balance for a in assets.account_assets}
out['get_signatories'] = list(ask(alice, alice_key, 'GetSignatories', account_id='alice@aclb').signatories_response.keys)
block = ask(admin, admin_key, 'GetBlock', height=1).block_response.block.block_v1
out['get_block_1'] = {'height': block.payload.height, 'tx_number': block.payload.tx_number,
                      'prev_block_hash': block.payload.prev_block_hash[:16]}
block = ask(admin, admin_key, 'GetBlock', height=2).block_response.block.block_v1
out['get_block_2_signers'] = [s.public_key for s in block.signatures]  # the commit certificate's precommits

pages, cursor = [], None
while True:
    page = ask(alice, alice_key, 'GetAccountTransactions', account_id='alice@aclb', page_size=2,
               first_tx_hash=cursor).transactions_page_response
    pages.append({'creators': [t.payload.reduced_payload.creator_account_id for t in page.transactions],
                  'hashes': [binascii.hexlify(IrohaCrypto.hash(t)).decode() for t in page.transactions],
                  'total': page.all_transactions_size, 'next': page.next_tx_hash})
    cursor = page.next_tx_hash
    if not cursor:
        break
out['get_account_transactions_pages'] = pages
print(json.dumps(out))
"""


def test_official_client_queries_history_blocks_and_fetch_commits(single_node: RunningNet) -> None:
    net = single_node
    torii = net.nodes[0].torii
    assert torii, "testnet.json lists no torii address"
    client = net.client()
    chain = client.chain_id

    def native(creator: str, dest: str, amount: str) -> str:
        tx = build_transaction(TxPayload(chain, creator, int(time.time() * 1000),
                                         1, (c.TransferAsset(creator, dest, "khr#nbc", "http", amount),)),
                               net.key(creator))
        client.submit(tx)
        assert client.wait_final(tx.hash.hex())["status"] == "COMMITTED"
        return tx.hash.hex()

    hers = [native("alice@aclb", "bob@abaa", "1.00"), native("alice@aclb", "bob@abaa", "2.00")]
    bobs = native("bob@abaa", "alice@aclb", "4.00")

    out = json.loads(run_official(SCRIPT, torii, net.key("alice@aclb").seed.hex(), net.key("admin@nbc").seed.hex()))
    print("\nofficial iroha 1.6.0.2 client against Torii queries:\n" + json.dumps(out, indent=1))

    assert out["statuses"][-1] == "COMMITTED"
    streamed = out["fetch_commits"]  # opened first: every block from the next one, the transfer's included
    first = streamed[0]["height"]
    # a block may commit between the Healthcheck and the stream's opening (one every 500 ms here)
    assert first - out["head_when_stream_opened"] in (1, 2)
    assert [b["height"] for b in streamed] == list(range(first, first + len(streamed)))  # none missed
    assert streamed[-1]["txs"] == [out["iroha_tx"]]
    assert out["get_account"] == {"id": "alice@aclb", "quorum": 1, "roles": ["customer"]}
    assert set(out["get_account_assets"]) == {"khr#nbc", "usd#nbc"}
    assert out["get_signatories"] == ["ed0120" + net.key("alice@aclb").public_key.hex()]
    assert out["get_block_1"]["height"] == 1 and out["get_block_1"]["prev_block_hash"] == "0" * 16
    validator = read_key(load_config(net.nodes[0].config).key_path).public_key.hex()
    assert out["get_block_2_signers"] == ["ed0120" + validator]
    pages = out["get_account_transactions_pages"]
    walked = [h for p in pages for h in p["hashes"]]
    creators = {who for p in pages for who in p["creators"]}
    # Genesis opening balances, two native payments, the Iroha one: hers, in chain order; bob's is not.
    assert creators == {"alice@aclb"} and len(walked) == pages[0]["total"] == 4
    assert walked[-1] == out["iroha_tx"]  # the client re-derives the hash of what it signed
    assert len(set(walked)) == 4 and bobs not in walked and not set(hers) & set(walked)  # native: rendered hashes
    assert [len(p["hashes"]) for p in pages] == [2, 2]
