"""A Bakong Open API-compatible service on the node's HTTP API: "is this KHQR paid?" (docs/open-api.md).

A merchant's system (or the ``bakong-khqr`` package) asks the tools it already uses, on any node of the
network (an observer bank serves its own merchants):

  POST /v1/check_transaction_by_md5         {"md5": "<32 hex>"}
  POST /v1/check_transaction_by_hash        {"hash": "<64 hex>"}
  POST /v1/check_transaction_by_short_hash  {"hash": "<8 hex>", "amount": 1500.5, "currency": "KHR"}
  POST /v1/check_transaction_by_md5_list    ["<md5>", ...]   (at most 50)
  POST /v1/check_transaction_by_hash_list   ["<hash>", ...]  (at most 50)
  POST /v1/check_bakong_account             {"accountId": "name@bank"}
  POST /v1/generate_deeplink_by_qr          {"qr": "<KHQR>", "sourceInfo": {...}}
  POST /v1/renew_token                      {"email": "..."}  (no token needed: see below)

Every answer is the real service's envelope ``{"responseCode": 0|1, "responseMessage", "errorCode",
"data"}`` with its error codes (``ERROR_CODES``): 200 for an answered look-up, found or not; 400 (413 for
a body over ``[api] max_body_bytes``) with errorCode 5 for a body the service cannot read; 401 with
errorCode 6 and nothing else for a missing, wrong, expired or revoked token; 429 with ``Retry-After``
past the token's rate (``[open_api]``). Never a 500: a failure of ours is logged and answered 503
with the envelope.

Tokens are the node operator's (``bakong api-token``, ``node.api.open_api_tokens``): a token holder may
ask about any payment, as with the real service, so a token is given to a merchant's system, not to the
public. ``renew_token`` answers errorCode 10 naming that command: this node does not e-mail tokens.

Reads: a single look-up is one or two LevelDB reads of the published snapshot (``node.ledger.payments``),
answered on the event loop (cheaper than a hop to a thread); the list endpoints (up to 100 reads) run on
the node's query worker threads, so a batch never holds up consensus on this loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

from node.api.open_api_tokens import RateLimit, TokenBook, tokens_path
from node.clock import now_ms
from node.config import NodeConfig
from node.ledger import ids
from node.ledger.chain import ChainReader, Ledger
from node.ledger.errors import LedgerError
from node.ledger.khqr import decode_khqr
from node.ledger.payments import (
    PaymentMatch,
    asset_of,
    payment_by_hash,
    payment_by_md5,
    payment_by_short_hash,
)
from node.ledger.records import get_account, get_asset
from node.ledger.statuses import TxStatus

log = logging.getLogger("bakong.api")

MAX_LIST = 50

NOT_FOUND = 1
FAILED = 3
BAD_REQUEST = 5
UNAUTHORIZED = 6
NOT_REGISTERED = 10
ACCOUNT_NOT_FOUND = 11
ACCOUNT_INVALID = 12
UNAVAILABLE = 9
RATE_LIMITED = 429
ERROR_CODES = {
    NOT_FOUND: "Transaction could not be found. Please check and try again.",
    FAILED: "Transaction failed.",
    BAD_REQUEST: "Missing or invalid required fields.",
    UNAUTHORIZED: "Unauthorized.",
    UNAVAILABLE: "Cannot answer now. Please try again later.",
    NOT_REGISTERED: "Not registered yet.",
    ACCOUNT_NOT_FOUND: "Account ID not found.",
    ACCOUNT_INVALID: "Account ID is invalid.",
    RATE_LIMITED: "Too many requests.",
}
"""The real service's codes this one answers (1-12), and the relay's 429 for a rate limit."""


class OpenApiHost(Protocol):
    """What the service reads of the node (``node.assembly.Node``)."""

    @property
    def config(self) -> NodeConfig: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def query_worker(self) -> Executor: ...


class Refused(Exception):
    """An answer other than success: the envelope's errorCode and message, with its HTTP status."""

    def __init__(self, error_code: int, message: str | None = None, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.error_code, self.status, self.headers = error_code, status, headers or {}
        self.message = message or ERROR_CODES[error_code]


def envelope(data: Any = None, error_code: int | None = None, message: str | None = None) -> dict[str, Any]:
    if error_code is None:
        return {"responseCode": 0, "responseMessage": message or "Success", "errorCode": None, "data": data}
    return {"responseCode": 1, "responseMessage": message or ERROR_CODES[error_code], "errorCode": error_code,
            "data": None}


def payment_json(match: PaymentMatch) -> dict[str, Any]:
    """A found payment as the real service's ``data`` (``amount`` a JSON number in major units), plus
    what a merchant needs to see a QR paid twice (``count``) and our references."""
    return {
        "hash": match.tx_hash.hex(),
        "fromAccountId": match.from_account,
        "toAccountId": match.to_account,
        "currency": match.currency,
        "amount": match.amount_minor / 10**match.decimals,
        "description": match.description,
        "createdDateMs": match.created_ms,
        "acknowledgedDateMs": match.acknowledged_ms,
        "md5": match.md5 or None,
        "externalRef": match.reference or None,
        "count": match.count,
        "height": match.height,
        "index": match.index,
    }


# ---- reading a request ----

async def _body(request: web.Request) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refused(BAD_REQUEST, "body too large", 413) from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refused(BAD_REQUEST, "body is not valid JSON") from None


def _field(body: Any, name: str) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise Refused(BAD_REQUEST, f'body must be a JSON object with "{name}": a non-empty string')
    return value


def _items(body: Any, what: str) -> list[str]:
    if not isinstance(body, list) or not body or not all(isinstance(v, str) for v in body):
        raise Refused(BAD_REQUEST, f"body must be a JSON array of 1 to {MAX_LIST} {what} strings")
    if len(body) > MAX_LIST:
        raise Refused(BAD_REQUEST, f"at most {MAX_LIST} {what} per request, got {len(body)}")
    return body


def _tx_hash(text: str) -> bytes:
    try:
        if len(text) == 64:
            return bytes.fromhex(text)
    except ValueError:
        pass
    raise Refused(BAD_REQUEST, "a transaction hash is 64 hex digits")


def _minor_units(amount: Any, currency: str, precision: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount) or amount <= 0:
        raise Refused(BAD_REQUEST, '"amount" must be a positive JSON number')
    try:
        units = Decimal(str(amount)).scaleb(precision)
    except InvalidOperation:
        raise Refused(BAD_REQUEST, '"amount" is not a usable number') from None
    if units != units.to_integral_value():
        raise Refused(BAD_REQUEST, f'"amount" has more decimals than {currency} allows ({precision})')
    return int(units)


# ---- look-ups (pure reads of one published snapshot) ----

def _by_md5(view: ChainReader, md5: str) -> PaymentMatch | None:
    try:
        return payment_by_md5(view, md5)
    except LedgerError as exc:
        raise Refused(BAD_REQUEST, exc.message) from None


def _by_hash(view: ChainReader, tx_hash: bytes) -> PaymentMatch:
    match = payment_by_hash(view, tx_hash)
    if match is not None:
        return match
    status = view.tx_status(tx_hash)
    if status is not None and status.result.status == TxStatus.REJECTED:
        raise Refused(FAILED, status=200)
    raise Refused(NOT_FOUND, status=200)


def _list_item(key: str, text: str, find: Callable[[str], PaymentMatch | None]) -> dict[str, Any]:
    try:
        match = find(text)
    except Refused as refused:
        status = "FAILED" if refused.error_code == FAILED else "NOT_FOUND" if refused.error_code == NOT_FOUND \
            else "INVALID"
        return {key: text, "status": status, "message": refused.message, "data": None}
    if match is None:
        return {key: text, "status": "NOT_FOUND", "message": ERROR_CODES[NOT_FOUND], "data": None}
    return {key: text, "status": "SUCCESS", "message": "Transaction found.", "data": payment_json(match)}


# ---- the routes ----

Route = Callable[[web.Request, Any], Awaitable[dict[str, Any]]]


def register_open_api(app: web.Application, node: OpenApiHost) -> None:
    """Add the service's routes to ``app`` for ``node`` (called from ``node.api.app.build_app``)."""
    book = TokenBook(tokens_path(node.config.data_dir))
    limit = RateLimit(node.config.open_api.rate_per_s, node.config.open_api.burst)

    def serve(route: Route, authorized: bool = True) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                if authorized:
                    holder = book.holder(request.headers.get("Authorization"), now_ms())
                    if holder is None:
                        raise Refused(UNAUTHORIZED, status=401, headers={"WWW-Authenticate": "Bearer"})
                    wait = limit.take(holder.sha256)
                    if wait is not None:
                        raise Refused(RATE_LIMITED, f"Too many requests; retry in {wait} s.", 429,
                                      {"Retry-After": str(wait)})
                return web.json_response(await route(request, await _body(request)))
            except Refused as refused:
                return web.json_response(envelope(None, refused.error_code, refused.message),
                                         status=refused.status, headers=refused.headers)
            except asyncio.CancelledError:
                raise
            except Exception:  # our bug or a failing disk: logged; the client keeps the envelope
                log.exception("open API %s failed", request.path)
                return web.json_response(envelope(None, UNAVAILABLE), status=503, headers={"Retry-After": "1"})
        return handle

    def found(match: PaymentMatch | None) -> dict[str, Any]:
        if match is None:
            raise Refused(NOT_FOUND, status=200)
        return envelope(payment_json(match))

    async def by_md5(request: web.Request, body: Any) -> dict[str, Any]:
        md5 = _field(body, "md5")
        return found(_by_md5(node.ledger.published(), md5))

    async def by_hash(request: web.Request, body: Any) -> dict[str, Any]:
        tx_hash = _tx_hash(_field(body, "hash"))
        return envelope(payment_json(_by_hash(node.ledger.published(), tx_hash)))

    async def by_short_hash(request: web.Request, body: Any) -> dict[str, Any]:
        short, currency = _field(body, "hash"), _field(body, "currency")
        asset = asset_of(currency)
        view = node.ledger.published()
        record = get_asset(view.world, asset) if asset is not None and "#" not in currency else None
        if asset is None or record is None:
            raise Refused(BAD_REQUEST, '"currency" must be KHR or USD')
        units = _minor_units(body.get("amount"), currency.upper(), record.precision)
        try:
            return found(payment_by_short_hash(view, short, units, currency))
        except LedgerError as exc:
            raise Refused(BAD_REQUEST, exc.message) from None

    async def in_worker(work: Callable[[], list[dict[str, Any]]]) -> dict[str, Any]:
        return envelope(await asyncio.get_running_loop().run_in_executor(node.query_worker, work))

    async def by_md5_list(request: web.Request, body: Any) -> dict[str, Any]:
        items = _items(body, "md5")

        def work() -> list[dict[str, Any]]:
            view = node.ledger.published()
            return [_list_item("md5", md5, lambda text: _by_md5(view, text)) for md5 in items]
        return await in_worker(work)

    async def by_hash_list(request: web.Request, body: Any) -> dict[str, Any]:
        items = _items(body, "hash")

        def work() -> list[dict[str, Any]]:
            view = node.ledger.published()
            return [_list_item("hash", h, lambda text: _by_hash(view, _tx_hash(text))) for h in items]
        return await in_worker(work)

    async def bakong_account(request: web.Request, body: Any) -> dict[str, Any]:
        account_id = _field(body, "accountId")
        try:
            ids.check_account_id(account_id)
        except LedgerError:
            raise Refused(ACCOUNT_INVALID) from None
        if get_account(node.ledger.published().world, account_id) is None:
            raise Refused(ACCOUNT_NOT_FOUND, status=200)
        return envelope({"bakongAccountExists": True}, message="Account ID exists.")

    async def deeplink(request: web.Request, body: Any) -> dict[str, Any]:
        qr = _field(body, "qr")
        source = body.get("sourceInfo") if isinstance(body, dict) else None
        if source is not None and not (isinstance(source, dict)
                                       and all(isinstance(v, str) for v in source.values())):
            raise Refused(BAD_REQUEST, '"sourceInfo" must be an object of strings')
        try:
            decode_khqr(qr, now_ms())
        except LedgerError as exc:
            raise Refused(BAD_REQUEST, f"the QR cannot be paid: {exc.code}: {exc.message}") from None
        link = "bakong://khqr?qr=" + quote(qr, safe="")
        callback = (source or {}).get("appDeepLinkCallback")
        if callback:
            link += "&callback=" + quote(callback, safe="")
        return envelope({"shortLink": link})

    async def renew_token(request: web.Request, body: Any) -> dict[str, Any]:
        _field(body, "email")
        raise Refused(NOT_REGISTERED, "Tokens of this node are issued by its operator (bakong api-token create); "
                                      "ask them for a new one.", 200)

    routes: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
        "check_transaction_by_md5": serve(by_md5),
        "check_transaction_by_hash": serve(by_hash),
        "check_transaction_by_short_hash": serve(by_short_hash),
        "check_transaction_by_md5_list": serve(by_md5_list),
        "check_transaction_by_hash_list": serve(by_hash_list),
        "check_bakong_account": serve(bakong_account),
        "generate_deeplink_by_qr": serve(deeplink),
        "renew_token": serve(renew_token, authorized=False),
    }
    for name, handler in routes.items():
        app.router.add_post(f"/v1/{name}", handler)


OPEN_API_PATHS = tuple(f"/v1/{name}" for name in (
    "check_transaction_by_md5", "check_transaction_by_hash", "check_transaction_by_short_hash",
    "check_transaction_by_md5_list", "check_transaction_by_hash_list", "check_bakong_account",
    "generate_deeplink_by_qr", "renew_token"))
