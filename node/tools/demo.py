"""``bakong testnet run``: bring a local network up, run a short Bakong-like workload, report.

The workload is what a central bank would try first: a bank opens a customer account, the central
bank issues KHR to it, customers pay each other in KHR and USD, and four things that must fail do
fail with a code (an overdraft, a mint by a customer, a replayed payment, a forged signature). Then a
merchant's KHQR is paid by a customer and the merchant checks it by the QR's md5 through the Bakong Open
API, as merchants' systems do, and an expired KHQR is refused before anything is signed.
"""

from __future__ import annotations

import json
import random
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node.api.client import NodeClient
from node.api.open_api_tokens import create_token
from node.config import load_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.batches import build_batch
from node.ledger.khqr import KhqrError, decode_khqr, encode_khqr
from node.ledger.payments import khqr_transfer
from node.ledger.queries import GetAccountAssets
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.tools.testnet import CUSTOMERS, TestnetNode, write_manifest
from node.tools.testnet_control import stop, up


def _now() -> int:
    return int(time.time() * 1000)


class Demo:
    def __init__(self, directory: Path, client: NodeClient) -> None:
        self.dir = directory
        self.client = client
        self.chain_id = client.chain_id
        self.outcomes: dict[str, int] = {}
        self.unexpected = 0

    def key(self, account: str) -> KeyPair:
        return read_key(self.dir / "keys" / f"{account}.key")

    def tx(self, creator: str, *commands: c.Command, signer: KeyPair | None = None) -> Transaction:
        payload = TxPayload(self.chain_id, creator, _now(), 1, tuple(commands))
        return build_transaction(payload, signer or self.key(creator))

    def run_step(self, title: str, tx: Transaction, expect: str, count: bool = True) -> dict[str, Any]:
        """``count``: False for a resend, whose answer is the first submission's record, not a new one."""
        result = self.client.submit(tx)
        if result.get("status") == "STATELESS_VALIDATION_SUCCESS":
            result = self.client.wait_final(tx.hash.hex())
        status = result.get("status", "?")
        if count:
            self.outcomes[status] = self.outcomes.get(status, 0) + 1
        code = f" ({result['error_code']})" if result.get("error_code") else ""
        mark = "ok " if status == expect else "UNEXPECTED"
        self.unexpected += status != expect
        print(f"  [{mark}] {title:58} -> {status}{code}")
        return result


def fx_swap_steps(demo: Demo) -> None:
    """Issue 18's use case: an FX swap between two banks' customers (KHR one way, USD the other) as an
    ATOMIC batch, which can never half-happen: it commits whole, and a swap whose USD leg fails moves
    nothing (``node.ledger.batches``)."""
    for title, usd, expect in (("alice swaps 41000.00 KHR for bob's 10.00 USD (atomic batch)", "10.00",
                                "COMMITTED"),
                               ("a swap whose USD leg overdraws moves neither leg", "999999.00", "REJECTED")):
        now = _now()
        tied = build_batch([
            TxPayload(demo.chain_id, "alice@aclb", now, 1,
                      (c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "fx swap", "41000.00"),)),
            TxPayload(demo.chain_id, "bob@abaa", now, 1,
                      (c.TransferAsset("bob@abaa", "alice@aclb", "usd#nbc", "fx swap", usd),))])
        legs = [build_transaction(tied[0], demo.key("alice@aclb")), build_transaction(tied[1], demo.key("bob@abaa"))]
        demo.client.submit_many(legs)
        finals = [demo.client.wait_final(leg.hash.hex()) for leg in legs]
        statuses = [f.get("status", "?") for f in finals]
        same_block = len({f.get("height") for f in finals}) == 1
        ok = statuses == [expect, expect] and same_block
        demo.unexpected += not ok
        for status in statuses:
            demo.outcomes[status] = demo.outcomes.get(status, 0) + 1
        codes = "" if expect == "COMMITTED" else " (" + ", ".join(f.get("error_code") or "-" for f in finals) + ")"
        shown = f"both {statuses[0]} at height {finals[0].get('height')}{codes}" if ok else str(finals)
        print(f"  [{'ok ' if ok else 'UNEXPECTED'}] {title:58} -> {shown}")


def khqr_steps(demo: Demo, merchant_bank: TestnetNode) -> None:
    """A merchant's dynamic KHQR paid by a customer (``bakong pay --khqr`` builds the same transaction),
    then checked by the QR's md5 on the merchant bank's node (the last one: an observer in the default
    network), the way a merchant's system asks Bakong; and an expired KHQR refused."""
    now = _now()
    text = encode_khqr(account_id="bob@abaa", merchant_name="Bob Coffee", merchant_city="Phnom Penh",
                       currency="KHR", amount_minor=12000, bill_number="INV-0042", created_ms=now,
                       expires_ms=now + 10 * 60_000)
    qr = decode_khqr(text, now_ms=now)
    demo.run_step("chenda@wing pays bob@abaa's KHQR (12000 KHR, bill INV-0042)",
                  demo.tx("chenda@wing", *khqr_transfer(qr, "chenda@wing", None)), "COMMITTED")
    token, _record = create_token(load_config(merchant_bank.config).data_dir, f"demo-{now}", 1)
    request = urllib.request.Request(merchant_bank.api_url + "/v1/check_transaction_by_md5",
                                     data=json.dumps({"md5": qr.md5}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + 10
    while True:  # the merchant bank's node may apply the block a moment after the central bank's
        with urllib.request.urlopen(request, timeout=10) as reply:
            answer = json.loads(reply.read())
        if answer.get("responseCode") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    data = answer.get("data") or {}
    ok = (answer.get("responseCode") == 0 and data.get("fromAccountId") == "chenda@wing"
          and data.get("toAccountId") == "bob@abaa" and data.get("amount") == 12000)
    demo.unexpected += not ok
    title = f"bob checks it by md5 on {merchant_bank.name} (Open API)"
    print(f"  [{'ok ' if ok else 'UNEXPECTED'}] {title:58} -> "
          + (f"paid {data['amount']:g} {data['currency']} by {data['fromAccountId']}" if ok else str(answer)))
    expired = encode_khqr(account_id="bob@abaa", merchant_name="Bob Coffee", merchant_city="Phnom Penh",
                          currency="KHR", amount_minor=5000, created_ms=now - 20 * 60_000,
                          expires_ms=now - 10 * 60_000)
    try:
        decode_khqr(expired, now_ms=_now())
        refused = None
    except KhqrError as exc:
        refused = exc
    ok = refused is not None and refused.code == "khqr_expired"
    demo.unexpected += not ok
    print(f"  [{'ok ' if ok else 'UNEXPECTED'}] {'an expired KHQR is refused before anything is signed':58} -> "
          + (f"{refused.code} (tag {refused.tag})" if refused is not None else "accepted"))


def run_demo(directory: Path, *, keep: bool = False, transfers: int = 200, api_port: int = 8100,
             p2p_port: int = 7100, validators: int = 4, observers: int = 1) -> int:
    fresh = not (directory / "testnet.json").exists()
    print(f"{'Creating' if fresh else 'Starting'} a Bakong testnet in {directory}: "
          f"{validators} validators + {observers} observer(s), one OS process each")
    nodes, procs = up(directory, validators=validators, observers=observers, api_port=api_port, p2p_port=p2p_port)
    clients = [NodeClient(n.api_url) for n in nodes]
    try:
        client = clients[0]
        start_height = client.status()["height"]
        demo = Demo(directory, client)
        customer = f"kosal{_now() % 100000}@aclb"
        print("Workload (each step submitted to the central bank's node, waited on until final):")
        opening = c.CreateAccount(customer.split("@")[0], "aclb", demo.key("alice@aclb").public_key)
        demo.run_step(f"admin@aclb opens account {customer}", demo.tx("admin@aclb", opening), "COMMITTED")
        demo.run_step("admin@nbc issues 500000.00 KHR to itself", demo.tx(
            "admin@nbc", c.AddAssetQuantity("khr#nbc", "500000.00")), "COMMITTED")
        demo.run_step(f"admin@nbc pays 250000.00 KHR to {customer}", demo.tx(
            "admin@nbc", c.TransferAsset("admin@nbc", customer, "khr#nbc", "opening", "250000.00")), "COMMITTED")
        payment = demo.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "khqr coffee", "15000.50"))
        paid = demo.run_step("alice@aclb pays bob@abaa 15000.50 KHR (QR payment)", payment, "COMMITTED")
        demo.run_step("bob@abaa pays chenda@wing 12.25 USD", demo.tx(
            "bob@abaa", c.TransferAsset("bob@abaa", "chenda@wing", "usd#nbc", "", "12.25")), "COMMITTED")
        demo.run_step("chenda@wing overdraws 999999.00 USD", demo.tx(
            "chenda@wing", c.TransferAsset("chenda@wing", "alice@aclb", "usd#nbc", "", "999999.00")), "REJECTED")
        demo.run_step("alice@aclb tries to mint KHR", demo.tx(
            "alice@aclb", c.AddAssetQuantity("khr#nbc", "1000000.00")), "REJECTED")
        # A client's retry of a paid payment: answered with its record (same block, same place), never a
        # second payment and never a failure the client would show its customer (issue 16, point 9).
        again = demo.run_step("the same signed QR payment is resent (a retry)", payment, "COMMITTED", count=False)
        if (again.get("height"), again.get("index")) != (paid.get("height"), paid.get("index")):
            demo.unexpected += 1
            print(f"  [UNEXPECTED] the resend answered height {again.get('height')}, index {again.get('index')}; "
                  f"the payment is at {paid.get('height')}, {paid.get('index')}")
        forged = demo.tx("bob@abaa", c.TransferAsset("bob@abaa", "dara@aclb", "khr#nbc", "", "1.00"))
        forged = Transaction(forged.payload, forged.payload_bytes,
                             ((forged.signatures[0][0], bytes(64)),), forged.hash)
        demo.run_step("a payment with a forged signature", forged, "STATELESS_VALIDATION_FAILED")

        khqr_steps(demo, nodes[-1])
        fx_swap_steps(demo)

        print(f"Submitting {transfers} random customer payments, spread over all {len(nodes)} nodes ...")
        rng = random.Random(7)
        accounts = [f"{n}@{b}" for n, b in CUSTOMERS]
        batch = []
        for i in range(transfers):
            src, dest = rng.sample(accounts, 2)
            asset, amount = rng.choice([("khr#nbc", f"{rng.randint(100, 40000)}.00"),
                                        ("usd#nbc", f"{rng.randint(1, 20)}.{rng.randint(0, 99):02d}")])
            batch.append(demo.tx(src, c.TransferAsset(src, dest, asset, f"p{i}", amount)))
        started = time.monotonic()
        chunk = max(1, transfers // (4 * len(clients)))
        for i in range(0, transfers, chunk):
            clients[(i // chunk) % len(clients)].submit_many(batch[i:i + chunk])
        finals: dict[str, str] = {}
        while len(finals) < transfers and time.monotonic() - started < 60:
            for tx in batch:
                h = tx.hash.hex()
                if h not in finals:
                    s = client.tx_status(h)["status"]
                    if s in ("COMMITTED", "REJECTED"):
                        finals[h] = s
            if sys.stdout.isatty():  # a live counter on a terminal; logs get the final line only
                print(f"\r  {len(finals)}/{transfers} final after {time.monotonic() - started:.1f} s", end="",
                      flush=True)
            time.sleep(0.2)
        print(f"\r  {len(finals)}/{transfers} final after {time.monotonic() - started:.1f} s")
        for s in finals.values():
            demo.outcomes[s] = demo.outcomes.get(s, 0) + 1

        agreed = _wait_agreement(clients)
        status = client.status()
        print("\nSummary:")
        print(f"  blocks committed during the demo: {status['height'] - start_height} (height {status['height']})")
        for k in ("COMMITTED", "REJECTED", "STATELESS_VALIDATION_FAILED"):
            print(f"  transactions {k:28}: {demo.outcomes.get(k, 0)}")
        print(f"  all {len(nodes)} nodes at height {agreed['height']} with block hash {agreed['block_hash'][:16]}... "
              f"and state root {agreed['state_root'][:16]}..." if agreed else "  NODES DISAGREE (see statuses)")
        print("Final balances (queried by admin@nbc on the observer node):")
        admin = demo.key("admin@nbc")
        reader = clients[-1]
        for account in [*accounts, customer]:
            assets = reader.query("admin@nbc", admin, GetAccountAssets(account, 10, None))["assets"]
            shown = ", ".join(f"{a['balance']} {a['asset_id'].split('#')[0].upper()}" for a in assets)
            print(f"  {account:16} {shown}")
        ok = agreed is not None and demo.unexpected == 0 and len(finals) == transfers
        if keep:
            print(f"\nThe network keeps running (testnet.json in {directory}); stop it with Ctrl-C.")
            try:
                while all(p.poll() is None for p in procs.values()):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0 if ok else 1
    finally:
        stop(procs.values())
        write_manifest(directory, nodes, {})


def _wait_agreement(clients: list[NodeClient], timeout: float = 15.0) -> dict[str, Any] | None:
    """Wait until every node reports the same head; that head, or None if they never agree."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heads = [c.status() for c in clients]
        keys = {(h["height"], h["block_hash"], h["state_root"]) for h in heads}
        if len(keys) == 1:
            return heads[0]
        time.sleep(0.3)
    return None
