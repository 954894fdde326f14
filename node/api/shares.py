"""Seats shared among the API's clients: a total and a per-client share.

A client is a source address. The listener takes a seat for every open connection and the WebSocket
routes one for every stream; a client holding its whole share cannot take anyone else's, so one
client (or one bug in one client) locks out only itself. Plain bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum


class Refusal(StrEnum):
    """Why a seat was refused, or a connection closed early (the ``reason`` label of the metrics)."""

    TOTAL = "total"                    # every seat is taken
    PER_CLIENT = "per_client"          # this client holds its whole share
    HEADER_TIMEOUT = "header_timeout"  # the first request's head did not arrive in time (listener only)


class Seats:
    """At most ``total`` seats taken at once, at most ``per_client`` of them by one client."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self._held: Counter[str] = Counter()
        self._taken = 0

    def take(self, client: str) -> Refusal | None:
        """Take a seat for ``client``; None when it got one, else why not (nothing is taken then)."""
        if self._taken >= self.total:
            return Refusal.TOTAL
        if self._held[client] >= self.per_client:
            return Refusal.PER_CLIENT
        self._held[client] += 1
        self._taken += 1
        return None

    def give_back(self, client: str) -> None:
        """Free a seat ``client`` took (exactly once per successful ``take``)."""
        self._held[client] -= 1
        if self._held[client] <= 0:
            del self._held[client]  # the counter must not grow with every address ever seen
        self._taken -= 1

    @property
    def taken(self) -> int:
        return self._taken

    def held_by(self, client: str) -> int:
        return self._held[client]
