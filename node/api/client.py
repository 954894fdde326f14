"""A small synchronous client of the node's HTTP API (standard library only), used by the CLI,
the testnet demo and the integration tests."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from consensus.crypto import KeyPair
from node.ledger.queries import Query, sign_query
from node.ledger.statuses import FINAL
from node.ledger.transactions import Transaction


class ClientError(Exception):
    """The node answered with an error, or could not be reached."""

    def __init__(self, code: str, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.body = code, message, status, body


class NodeClient:
    def __init__(self, url: str, timeout: float = 10.0, operator_token: str | None = None) -> None:
        """``operator_token`` (default: env BAKONG_OPERATOR_TOKEN) is sent as a bearer token, for the
        operator routes of a node reached from another host (node.api.operator)."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.operator_token = operator_token or os.environ.get("BAKONG_OPERATOR_TOKEN") or None
        self._chain_id: str | None = None
        self._counter = 0

    def _request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        if self.operator_token:
            headers["Authorization"] = f"Bearer {self.operator_token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"error": {"code": "http_error", "message": raw.decode(errors="replace")[:200]}}
            return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError("unreachable", f"cannot reach node at {self.url}: {reason}") from None

    def _ok(self, status: int, payload: Any) -> Any:
        if status >= 400 and isinstance(payload, dict) and "error" in payload:
            err = payload["error"]
            raise ClientError(err.get("code", "error"), err.get("message", ""), status, payload)
        return payload

    # ---- node ----

    def status(self) -> dict[str, Any]:
        return self._ok(*self._request("GET", "/v1/status"))  # type: ignore[no-any-return]

    def healthy(self) -> bool:
        try:
            status, _ = self._request("GET", "/healthz")
        except ClientError:
            return False
        return status == 200

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            # /v1/chain, not /v1/status: the latter is an operator route a customer's client may not reach.
            self._chain_id = self._ok(*self._request("GET", "/v1/chain"))["chain_id"]
        return self._chain_id

    # ---- transactions ----

    def submit(self, tx: Transaction) -> dict[str, Any]:
        """Submit one transaction; returns its status record (errors included, never raises on 4xx of a tx)."""
        status, payload = self._request("POST", "/v1/transactions", {"transaction": tx.encode().hex()})
        if "error" in payload:
            self._ok(status, payload)
        return payload  # type: ignore[no-any-return]

    def submit_many(self, txs: list[Transaction]) -> list[dict[str, Any]]:
        status, payload = self._request("POST", "/v1/transactions",
                                        {"transactions": [tx.encode().hex() for tx in txs]})
        return self._ok(status, payload)["results"]  # type: ignore[no-any-return]

    def tx_status(self, tx_hash: str) -> dict[str, Any]:
        return self._ok(*self._request("GET", f"/v1/transactions/{tx_hash}"))  # type: ignore[no-any-return]

    def wait_final(self, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.tx_status(tx_hash)
            if status["status"] in FINAL:
                return status
            if time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    # ---- queries ----

    def query(self, creator: str, key: KeyPair, query: Query) -> dict[str, Any]:
        self._counter += 1
        signed = sign_query(self.chain_id, creator, int(time.time() * 1000), self._counter, query, key)
        return self._ok(*self._request("POST", "/v1/queries", {"query": signed.encode().hex()}))  # type: ignore[no-any-return]
