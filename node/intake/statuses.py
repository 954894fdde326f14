"""Transaction statuses (Iroha's names) and the subscribers waiting for them to change.

Final statuses (COMMITTED, REJECTED) live in the block store's tx index; statuses before a block live
here: queued in the mempool (STATELESS_VALIDATION_SUCCESS) or refused at the door
(STATELESS_VALIDATION_FAILED, remembered for a while so a client polling by hash learns why).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from node.ledger.statuses import FINAL, TxStatus

# The names the intake wing and the API use, one definition (node.ledger.statuses).
STATELESS_VALIDATION_FAILED = TxStatus.STATELESS_VALIDATION_FAILED
STATELESS_VALIDATION_SUCCESS = TxStatus.STATELESS_VALIDATION_SUCCESS
COMMITTED = TxStatus.COMMITTED
REJECTED = TxStatus.REJECTED
NOT_RECEIVED = TxStatus.NOT_RECEIVED
__all__ = ["COMMITTED", "FINAL", "NOT_RECEIVED", "REJECTED", "STATELESS_VALIDATION_FAILED",
           "STATELESS_VALIDATION_SUCCESS", "StatusHub", "TxStatus", "status_json"]


def status_json(tx_hash: bytes, status: str, height: int | None = None, index: int | None = None,
                result: Any = None) -> dict[str, Any]:
    """A transaction's status as the API and status streams show it (``result``: its ``TxResult``)."""
    out: dict[str, Any] = {"hash": tx_hash.hex(), "status": status}
    if height is not None:
        out["height"] = height
        out["index"] = index
    if result is not None and result.error_code is not None:
        out["command_index"] = result.command_index
        out["error_code"] = result.error_code
        out["message"] = result.message
    return out


class StatusHub:
    """Remembers recent stateless failures and fans status changes out to WebSocket subscribers."""

    def __init__(self, failed_capacity: int = 100_000) -> None:
        self._failed: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._capacity = failed_capacity
        self._subscribers: dict[bytes, set[asyncio.Queue[dict[str, Any]]]] = {}

    def record_failure(self, tx_hash: bytes, status: dict[str, Any]) -> None:
        self._failed[tx_hash] = status
        if len(self._failed) > self._capacity:
            self._failed.popitem(last=False)
        self.publish(tx_hash, status)

    def failure(self, tx_hash: bytes) -> dict[str, Any] | None:
        return self._failed.get(tx_hash)

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def subscribe(self, tx_hash: bytes) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.setdefault(tx_hash, set()).add(queue)
        return queue

    def unsubscribe(self, tx_hash: bytes, queue: asyncio.Queue[dict[str, Any]]) -> None:
        subs = self._subscribers.get(tx_hash)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subscribers[tx_hash]

    def wants(self, tx_hash: bytes) -> bool:
        return tx_hash in self._subscribers

    def watched(self, tx_hashes: list[bytes]) -> list[int]:
        """Positions in ``tx_hashes`` someone is subscribed to (none looked up while nobody listens)."""
        subs = self._subscribers
        return [i for i, h in enumerate(tx_hashes) if h in subs] if subs else []

    def publish(self, tx_hash: bytes, status: dict[str, Any]) -> None:
        for queue in self._subscribers.get(tx_hash, ()):
            queue.put_nowait(status)
