"""What the load benchmark (and the chaos campaign) sends: pre-signed transfers between bench accounts.

Everything is signed before the clock starts, so the client's cost during the run is posting bytes,
never Ed25519. A seeded share of the transfers is invalid on purpose: overdrafts (rejected inside a
block) and bad signatures (refused at submission), so both rejection paths are exercised under load.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from consensus.crypto import KeyPair
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.genesis import bulk_accounts, parse_genesis
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.tools.testnet import CHAIN_ID, CUSTOMER_BALANCES

VALID, OVERDRAFT, BAD_SIGNATURE = 0, 1, 2
ASSETS = ("khr#nbc", "usd#nbc")
MAX_VALID_MINOR = {"khr#nbc": 10_000, "usd#nbc": 100}  # at most 100.00 KHR / 1.00 USD per valid transfer
OVERDRAFT_AMOUNT = "900000000000.00"  # far above any customer balance
SPENT_SEARCH = 1000  # random senders tried before concluding an asset's balances are (nearly) all spent


@dataclass
class Workload:
    """The pre-signed transactions, in submission order."""

    encoded: list[bytes]
    hashes: list[str]
    """Hex tx hashes, as the block stream reports them."""
    kinds: list[int]
    """``VALID``, ``OVERDRAFT`` or ``BAD_SIGNATURE`` per transaction."""
    md5s: list[str] | None = None
    """With ``--workload khqr``: the md5 of the KHQR each transaction pays (what a merchant looks up)."""

    def __len__(self) -> int:
        return len(self.encoded)


def _amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def bench_accounts(directory: Path) -> list[str]:
    """The benchmark accounts of a testnet's genesis (those holding the shared bench key): its bulk
    accounts, generated from the genesis's ``bulk_accounts`` spec, and any ordinary account with that key."""
    genesis = parse_genesis(json.loads((directory / "genesis.json").read_text()))
    shared = read_key(directory / "keys" / "bench.key").public_key.hex()
    found = [a["id"] for a in genesis.document["accounts"] if a.get("public_key") == shared]
    bulk = bulk_accounts(genesis)
    if bulk is not None and bulk.public_key.hex() == shared:
        found.extend(bulk.account_id(i) for i in range(bulk.count))
    return found


def _draws(n: int, accounts: list[str], invalid_share: float, seed: int,
           quantum: dict[str, int] | None = None) -> Iterator[tuple[int, int, int, str, int | None]]:
    """The workload's random choices, per transaction: ``(kind, sender, receiver, asset, minor)``, with
    ``minor`` None for an overdraft. Shared by every workload so a KHQR run moves the same amounts between
    the same accounts as a transfer run. ``quantum`` rounds an asset's valid amounts up to a multiple
    (a KHQR's riel has no cents) before they are budgeted.

    Valid amounts are small and each sender's debits are budgeted against its opening balance (credits
    are ignored, since commit order is not ours), so a valid transfer never overdraws."""
    rng = random.Random(seed)
    budget = {asset: [int(CUSTOMER_BALANCES[asset].replace(".", ""))] * len(accounts) for asset in ASSETS}
    for _ in range(n):
        draw = rng.random()
        kind = VALID if draw >= invalid_share else OVERDRAFT if draw < invalid_share / 2 else BAD_SIGNATURE
        a, b = rng.sample(range(len(accounts)), 2)
        asset = ASSETS[1] if rng.random() < 0.25 else ASSETS[0]
        if kind == OVERDRAFT:
            yield kind, a, b, asset, None
            continue
        minor = _rounded(rng.randint(1, MAX_VALID_MINOR[asset]), asset, quantum)
        tries = 0
        while budget[asset][a] < minor:  # this sender is spent in this asset: another sender
            tries += 1
            if tries == SPENT_SEARCH:
                # (Nearly) every sender has spent this asset: a pool of millions over few accounts
                # empties the USD balances (~2,000 transfers each). Pay in KHR; when that is spent too,
                # say so instead of searching forever.
                if asset == ASSETS[0]:
                    raise ValueError(f"{len(accounts):,} accounts' balances cannot fund {n:,} valid transfers; "
                                     "use a smaller --pool or more --accounts")
                asset, tries = ASSETS[0], 0
                minor = _rounded(rng.randint(1, MAX_VALID_MINOR[ASSETS[0]]), ASSETS[0], quantum)
            a = rng.randrange(len(accounts))
            if a == b:
                b = (b + 1) % len(accounts)
        budget[asset][a] -= minor
        yield kind, a, b, asset, minor


def _rounded(minor: int, asset: str, quantum: dict[str, int] | None) -> int:
    step = quantum.get(asset, 1) if quantum else 1
    return -(-minor // step) * step


def signed(payload: TxPayload, key: KeyPair, kind: int) -> Transaction:
    """The transaction of ``payload``; with ``BAD_SIGNATURE``, its signature zeroed (refused at submission)."""
    tx = build_transaction(payload, key)
    if kind == BAD_SIGNATURE:
        tx = Transaction(tx.payload, tx.payload_bytes, ((tx.signatures[0][0], bytes(64)),), tx.hash)
    return tx


def build_workload(n: int, accounts: list[str], key: KeyPair, invalid_share: float, seed: int,
                   now_ms: int) -> Workload:
    """``n`` random KHR/USD transfers between ``accounts``; a share of them overdrafts or badly signed
    (see ``_draws``). Each tx gets its own ``created_ms`` (counting back from now) so that every payload,
    hence every hash, is distinct."""
    encoded: list[bytes] = []
    hashes: list[str] = []
    kinds: list[int] = []
    for i, (kind, a, b, asset, minor) in enumerate(_draws(n, accounts, invalid_share, seed)):
        amount = OVERDRAFT_AMOUNT if minor is None else _amount(minor)
        payload = TxPayload(CHAIN_ID, accounts[a], now_ms - i, 1,
                            (c.TransferAsset(accounts[a], accounts[b], asset, "", amount),))
        tx = signed(payload, key, kind)
        encoded.append(tx.encode())
        hashes.append(tx.hash.hex())
        kinds.append(kind)
    return Workload(encoded, hashes, kinds)
