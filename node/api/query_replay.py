"""Signed queries answered once: a copy of a query seen on the wire cannot be replayed for its answer.

A signed query is valid for ``QUERY_TIME_WINDOW`` around its ``created_ms`` (5 minutes either way), so
without memory anyone who captured one (a log, a proxy, a shoulder) could ask it again and read the
customer's data as of now. The node remembers the digest of every query it accepted until the query
falls out of the window; an exact repeat is refused (``query_replayed``). An honest client that retries
builds a new query (a new ``counter`` or ``created_ms``), as Iroha's clients do.

Memory is bounded (``capacity`` digests, ~100 bytes each); past it the oldest are forgotten first, so a
client flooding its own valid queries could make the node forget others' early: a replay then needs
both a captured query and that flood inside the same five minutes. Node-local: each node remembers
what it answered, which is what a replay to that node needs.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from node.ledger.queries import QUERY_TIME_WINDOW


class AnsweredQueries:
    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._until: OrderedDict[bytes, int] = OrderedDict()  # digest -> when it leaves the window (ms)

    def __len__(self) -> int:
        return len(self._until)

    def first_time(self, raw: bytes, created_ms: int, now_ms: int) -> bool:
        """True (and remembered) the first time these exact query bytes arrive within their window."""
        self._expire(now_ms)
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        if digest in self._until:
            return False
        self._until[digest] = created_ms + QUERY_TIME_WINDOW.past_ms
        if len(self._until) > self.capacity:
            self._until.popitem(last=False)
        return True

    def _expire(self, now_ms: int) -> None:
        # Insertion order is close to expiry order (created_ms within the window of arrival); stop at
        # the first one still valid: amortised O(1) per query.
        until = self._until
        while until:
            digest, expiry = next(iter(until.items()))
            if expiry >= now_ms:
                break
            del until[digest]
