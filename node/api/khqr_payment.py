"""``POST /v1/khqr/payment``: what ``bakong pay --khqr`` does, for a bank's app that talks HTTP.

The node never signs for a customer, so this route prepares the payment and the app signs it: the body
``{"khqr": "<string>", "from": "name@bank", "amount": "<decimal>"?, "description": "..."?,
"reference": "..."?}`` is decoded and checked against the node's clock (a malformed or expired QR is
refused with its typed ``KhqrError``, naming the tag), a static QR needs ``amount``, and a given amount
must equal a dynamic QR's. The answer is the ``bakong tx submit`` file format, ``{"creator",
"commands"}`` (one ``TransferWithReference`` to the tag 29/30 account, carrying the QR's md5 and its
bill number as reference), plus the decoded QR and its md5: the app signs those commands and submits
the transaction to ``POST /v1/transactions`` as any other. Public (a customer's app calls it); it reads
nothing of the ledger.

Errors (400, ``{"error": {"code", "message", "tag"?}}``): ``bad_json``, ``bad_request``, a ``khqr_*`` code
(docs/khqr.md), ``amount_required``, ``amount_mismatch``, and the ledger's own codes for a bad account id.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from node.clock import now_ms
from node.ledger.errors import LedgerError
from node.ledger.khqr import KhqrError, decode_khqr, format_amount, parse_amount
from node.ledger.payments import khqr_transfer

MAX_BODY = 4096  # a KHQR is at most 512 characters; the other fields are short


def _refuse(code: str, message: str, tag: str | None = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if tag is not None:
        error["tag"] = tag
    return web.json_response({"error": error}, status=400)


def _text(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f'"{name}" must be a string')
    return value


async def khqr_payment(request: web.Request) -> web.Response:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return _refuse("bad_request", f"the body is longer than {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _refuse("bad_json", "the body is not valid JSON")
    if not isinstance(body, dict):
        return _refuse("bad_request", 'the body must be {"khqr": ..., "from": ...}')
    try:
        text, payer = _text(body, "khqr", True), _text(body, "from", True)
        amount_text, description, reference = (_text(body, "amount"), _text(body, "description"),
                                               _text(body, "reference"))
    except ValueError as exc:
        return _refuse("bad_request", str(exc))
    assert text is not None and payer is not None
    try:
        qr = decode_khqr(text, now_ms())
        amount = parse_amount(amount_text, qr.currency, "amount") if amount_text is not None else None
    except KhqrError as exc:
        return _refuse(exc.code, exc.message, exc.tag)
    if qr.amount_minor is None and amount is None:
        return _refuse("amount_required", f"this KHQR is static (no amount): give \"amount\" in {qr.currency}")
    if qr.amount_minor is not None and amount is not None and amount != qr.amount_minor:
        return _refuse("amount_mismatch", f"amount {amount_text} {qr.currency} differs from the KHQR's "
                                          f"{format_amount(qr.amount_minor, qr.decimals)} {qr.currency}")
    try:
        commands = khqr_transfer(qr, payer, amount, description or "", reference)
    except LedgerError as exc:
        return _refuse(exc.code, exc.message)
    paid = qr.amount_minor if qr.amount_minor is not None else amount
    assert paid is not None
    return web.json_response({
        "creator": payer,
        "commands": [command.to_json() for command in commands],
        "md5": qr.md5,
        "qr": {"kind": qr.kind, "account_id": qr.account_id, "merchant_name": qr.merchant_name,
               "merchant_city": qr.merchant_city, "currency": qr.currency,
               "amount": format_amount(paid, qr.decimals), "bill_number": qr.bill_number,
               "dynamic": qr.dynamic, "expires_ms": qr.expires_ms},
    })
