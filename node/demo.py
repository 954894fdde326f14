"""``bakong testnet run``: bring a local network up, run a short Bakong-like workload, report.

The workload is what a central bank would try first: a bank opens a customer account, the central
bank issues KHR to it, customers pay each other in KHR and USD, and four things that must fail do
fail with a code (an overdraft, a mint by a customer, a replayed payment, a forged signature).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node import commands as c
from node.client import NodeClient
from node.keyfile import read_key
from node.queries import GetAccountAssets
from node.testnet import CUSTOMERS, init_testnet, load_nodes, start_node
from node.transactions import Transaction, TxPayload, build_transaction


def _now() -> int:
    return int(time.time() * 1000)


class Demo:
    def __init__(self, directory: Path, client: NodeClient) -> None:
        self.dir = directory
        self.client = client
        self.chain_id = client.chain_id
        self.outcomes: dict[str, int] = {}

    def key(self, account: str) -> KeyPair:
        return read_key(self.dir / "keys" / f"{account}.key")

    def tx(self, creator: str, *commands: c.Command, signer: KeyPair | None = None) -> Transaction:
        payload = TxPayload(self.chain_id, creator, _now(), 1, tuple(commands))
        return build_transaction(payload, signer or self.key(creator))

    def run_step(self, title: str, tx: Transaction, expect: str) -> dict[str, Any]:
        result = self.client.submit(tx)
        if result.get("status") == "STATELESS_VALIDATION_SUCCESS":
            result = self.client.wait_final(tx.hash.hex())
        status = result.get("status", "?")
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        code = f" ({result['error_code']})" if result.get("error_code") else ""
        mark = "ok " if status == expect else "UNEXPECTED"
        print(f"  [{mark}] {title:58} -> {status}{code}")
        return result


def wait_healthy(client: NodeClient, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with code {proc.returncode}; see its log")
        if client.healthy():
            return
        time.sleep(0.1)
    raise RuntimeError("node did not become healthy in time")


def run_demo(directory: Path, *, keep: bool = False, transfers: int = 200, api_port: int = 8100,
             p2p_port: int = 7100) -> int:
    if not (directory / "testnet.json").exists():
        print(f"Creating a one-validator Bakong testnet in {directory}")
        init_testnet(directory, validators=1, observers=0, base_port=api_port, p2p_base_port=p2p_port)
    nodes = load_nodes(directory)
    procs = []
    try:
        for n in nodes:
            procs.append(start_node(directory, n))
        client = NodeClient(nodes[0].api_url)
        for n, proc in zip(nodes, procs):
            wait_healthy(NodeClient(n.api_url), proc)
            print(f"node {n.name:6} {n.role:9} up at {n.api_url} (pid {proc.pid}, log {directory}/logs/{n.name}.log)")
        start_height = client.status()["height"]
        demo = Demo(directory, client)
        customer = f"kosal{_now() % 100000}@aclb"
        print("Workload:")
        demo.run_step(f"admin@aclb opens account {customer}", demo.tx(
            "admin@aclb", c.CreateAccount(customer.split("@")[0], "aclb", demo.key("alice@aclb").public_key)), "COMMITTED")
        demo.run_step("admin@nbc issues 500000.00 KHR to itself", demo.tx(
            "admin@nbc", c.AddAssetQuantity("khr#nbc", "500000.00")), "COMMITTED")
        demo.run_step(f"admin@nbc pays 250000.00 KHR to {customer}", demo.tx(
            "admin@nbc", c.TransferAsset("admin@nbc", customer, "khr#nbc", "opening", "250000.00")), "COMMITTED")
        payment = demo.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@abaa", "khr#nbc", "khqr coffee", "15000.50"))
        demo.run_step("alice@aclb pays bob@abaa 15000.50 KHR (QR payment)", payment, "COMMITTED")
        demo.run_step("bob@abaa pays chenda@wing 12.25 USD", demo.tx(
            "bob@abaa", c.TransferAsset("bob@abaa", "chenda@wing", "usd#nbc", "", "12.25")), "COMMITTED")
        demo.run_step("chenda@wing overdraws 999999.00 USD", demo.tx(
            "chenda@wing", c.TransferAsset("chenda@wing", "alice@aclb", "usd#nbc", "", "999999.00")), "REJECTED")
        demo.run_step("alice@aclb tries to mint KHR", demo.tx(
            "alice@aclb", c.AddAssetQuantity("khr#nbc", "1000000.00")), "REJECTED")
        demo.run_step("the same signed QR payment is submitted again", payment, "REJECTED")
        forged = demo.tx("bob@abaa", c.TransferAsset("bob@abaa", "dara@aclb", "khr#nbc", "", "1.00"))
        forged = Transaction(forged.payload, forged.payload_bytes,
                             ((forged.signatures[0][0], bytes(64)),), forged.hash)
        demo.run_step("a payment with a forged signature", forged, "STATELESS_VALIDATION_FAILED")

        print(f"Submitting {transfers} random customer payments in one batch ...")
        rng = random.Random(7)
        accounts = [f"{n}@{b}" for n, b in CUSTOMERS]
        batch = []
        for i in range(transfers):
            src, dest = rng.sample(accounts, 2)
            asset, amount = rng.choice([("khr#nbc", f"{rng.randint(100, 40000)}.00"), ("usd#nbc", f"{rng.randint(1, 20)}.{rng.randint(0, 99):02d}")])
            batch.append(demo.tx(src, c.TransferAsset(src, dest, asset, f"p{i}", amount)))
        started = time.monotonic()
        client.submit_many(batch)
        finals = [client.wait_final(tx.hash.hex()) for tx in batch]
        elapsed = time.monotonic() - started
        for f in finals:
            demo.outcomes[f["status"]] = demo.outcomes.get(f["status"], 0) + 1
        committed = sum(1 for f in finals if f["status"] == "COMMITTED")
        print(f"  {committed}/{transfers} committed in {elapsed:.2f} s")

        status = client.status()
        print("\nSummary:")
        print(f"  blocks committed during the demo: {status['height'] - start_height} (height {status['height']})")
        for k in ("COMMITTED", "REJECTED", "STATELESS_VALIDATION_FAILED"):
            print(f"  transactions {k:28}: {demo.outcomes.get(k, 0)}")
        print(f"  state root {status['state_root']}")
        print("Final balances (queried by admin@nbc):")
        admin = demo.key("admin@nbc")
        for account in [*accounts, customer]:
            assets = client.query("admin@nbc", admin, GetAccountAssets(account, 10, None))["assets"]
            shown = ", ".join(f"{a['balance']} {a['asset_id'].split('#')[0].upper()}" for a in assets)
            print(f"  {account:16} {shown}")
        if keep:
            print("\nThe network keeps running; stop it with Ctrl-C.")
            try:
                while all(p.poll() is None for p in procs):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
