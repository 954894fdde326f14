"""``--workload khqr``: the load benchmark's pool as merchant KHQR payments instead of plain transfers.

Each payment is what a customer's bank app does at a till: the merchant's dynamic KHQR (its own bill
number, an amount, a creation and expiry time) is built with ``encode_khqr`` at pool time, decoded with
``decode_khqr`` as a scan would, and paid with the command ``bakong pay --khqr`` builds
(``node.pay_cli.khqr_transfer``): one ``TransferWithReference`` carrying the QR's md5 and bill number.
The receiving account is the merchant. Senders, receivers, assets, amounts and the invalid share are the
transfer workload's own draws (``workload._draws``), so the two runs differ only by the KHQR path;
KHR amounts are whole riels (a KHQR's KHR has no decimals), rounded up before they are budgeted.
Like the transfer pool, everything is encoded and signed before the clock starts.
"""

from __future__ import annotations

from consensus.crypto import KeyPair
from node.ledger.khqr import decode_khqr, encode_khqr
from node.ledger.transactions import TxPayload
from node.pay_cli import khqr_transfer
from node.tools.bench.workload import ASSETS, Workload, _draws, signed
from node.tools.testnet import CHAIN_ID

CURRENCY = {"khr#nbc": "KHR", "usd#nbc": "USD"}
KHQR_MINOR = {"khr#nbc": 100, "usd#nbc": 1}
"""Ledger minor units (both assets have precision 2) per KHQR minor unit (KHR: riel, USD: cent)."""
OVERDRAFT_KHQR_MINOR = {"khr#nbc": 900_000_000_000, "usd#nbc": 90_000_000_000}  # far above any balance
QR_LIFETIME_MS = 86_400_000


def merchant_qr(merchant: str, asset: str, amount_minor: int, bill: int, now_ms: int) -> str:
    """A dynamic merchant KHQR for ``amount_minor`` ledger minor units of ``asset`` payable to ``merchant``."""
    _name, _, bank = merchant.partition("@")
    return encode_khqr(kind="merchant", account_id=merchant, merchant_id=f"M{bill % 10**8:08d}", acquiring_bank=bank,
                       merchant_name=f"Shop {merchant}"[:25], merchant_city="Phnom Penh", currency=CURRENCY[asset],
                       amount_minor=amount_minor // KHQR_MINOR[asset], bill_number=f"INV-{bill}",
                       created_ms=now_ms, expires_ms=now_ms + QR_LIFETIME_MS)


def build_khqr_workload(n: int, accounts: list[str], key: KeyPair, invalid_share: float, seed: int,
                        now_ms: int) -> Workload:
    """``n`` KHQR payments between ``accounts`` (see the module docstring); ``Workload.md5s`` holds the md5
    of each payment's QR, in pool order."""
    encoded: list[bytes] = []
    hashes: list[str] = []
    kinds: list[int] = []
    md5s: list[str] = []
    for i, (kind, a, b, asset, minor) in enumerate(_draws(n, accounts, invalid_share, seed, KHQR_MINOR)):
        amount = OVERDRAFT_KHQR_MINOR[asset] * KHQR_MINOR[asset] if minor is None else minor
        qr = decode_khqr(merchant_qr(accounts[b], asset, amount, i, now_ms), now_ms=now_ms)
        payload = TxPayload(CHAIN_ID, accounts[a], now_ms - i, 1, tuple(khqr_transfer(qr, accounts[a], None)))
        tx = signed(payload, key, kind)
        encoded.append(tx.encode())
        hashes.append(tx.hash.hex())
        kinds.append(kind)
        md5s.append(qr.md5)
    return Workload(encoded, hashes, kinds, md5s)


__all__ = ["ASSETS", "build_khqr_workload", "merchant_qr"]
