"""``bakong pay --khqr STRING --from ACCOUNT --key FILE``: pay a merchant's KHQR code (docs/khqr.md).

The code is decoded and checked here, before any key is read or the node is asked anything: a
malformed or expired QR stops with its one-line ``KhqrError`` naming the tag (exit 1, a bad value).
A static QR carries no amount, so the payer gives ``--amount`` (a usage error without it, exit 2).
The payment is one ``TransferWithReference`` to the account in tag 29/30, in ``khr#nbc`` or
``usd#nbc``, carrying the md5 of the exact QR string, so every node can answer Bakong's
``check_transaction_by_md5`` for it. Submitting, waiting and the exit statuses are those of
``bakong tx transfer`` (docs/cli.md).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from node.ledger.khqr import KhqrError, decode_khqr, format_amount, parse_amount
from node.ledger.payments import khqr_transfer

__all__ = ["khqr_transfer", "register"]  # khqr_transfer lives in the ledger: the HTTP API builds the same payment


def cmd_pay(args: argparse.Namespace) -> int:
    from node.cli import EXIT_USAGE, CliError, _send

    qr = decode_khqr(args.khqr, now_ms=int(time.time() * 1000))  # KhqrError: one line, exit 1
    amount: int | None = None
    if args.amount is not None:
        try:
            amount = parse_amount(args.amount, qr.currency)
        except KhqrError:
            raise CliError("bad_amount", f"--amount {args.amount[:40]!r}: a positive amount in {qr.currency} with "
                                         f"at most {qr.decimals} decimals") from None
        if qr.amount_minor is not None and amount != qr.amount_minor:
            raise CliError("amount_mismatch", f"--amount {args.amount} {qr.currency} differs from the KHQR's "
                                              f"{format_amount(qr.amount_minor, qr.decimals)} {qr.currency}")
    elif qr.amount_minor is None:
        raise CliError("amount_required", f"this KHQR is static (no amount): give --amount in {qr.currency}",
                       EXIT_USAGE)
    commands = khqr_transfer(qr, args.src, amount, args.description, args.reference)
    return _send(args, args.src, commands)


def register(sub: Any) -> None:
    """Add ``pay`` to the ``bakong`` command's subparsers."""
    from node.cli import DEFAULT_NODE, DEFAULT_TIMEOUT_S, _seconds

    p = sub.add_parser("pay", help="pay a merchant's KHQR code (docs/khqr.md)")
    p.add_argument("--khqr", required=True, metavar="STRING", help="the KHQR string, as scanned")
    p.add_argument("--from", dest="src", required=True, help="paying account, name@bank (it signs)")
    p.add_argument("--key", action="append", help="key file of a signatory (repeat for multisig; env BAKONG_KEY)")
    p.add_argument("--amount", metavar="DEC",
                   help='amount in the QR\'s currency, e.g. "10.50" (required for a static QR; must match a '
                        "dynamic QR's)")
    p.add_argument("--description", default="", help="free text on record with the payment (at most 256 characters)")
    p.add_argument("--reference", help="external reference on record (default: the QR's bill number, tag 62.01)")
    p.add_argument("--node", default=DEFAULT_NODE, help="node API URL (env BAKONG_NODE; default %(default)s)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for COMMITTED/REJECTED")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help="wait at most this long for COMMITTED/REJECTED, then exit 5 'still pending' "
                        "(default %(default)g)")
    p.add_argument("--save", metavar="FILE", help="also write the signed transaction (hex) to FILE")
    p.add_argument("--no-submit", action="store_true", help="only sign and --save; submit later with tx send")
    p.set_defaults(func=cmd_pay)
