"""One authenticated connection's state, and the transport's counters.

A :class:`PeerLink` owns the bounded outbound queue of one connection. Payloads stay plaintext in the
queue and are encrypted by the writer task as they leave, so dropping a queued payload (the queue is
full) or handing the queue to a replacement connection never skips or reuses a nonce.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from node.p2p.handshake import Session


@dataclass
class TransportCounters:
    """Running totals for metrics; bytes and frames count encrypted traffic after handshakes."""

    handshakes_ok: int = 0
    handshakes_failed: int = 0
    refused_keys: int = 0  # handshakes refused for the peer's key (not allowed, unexpected, our own)
    refused_connections: int = 0  # inbound connections closed at once: too many handshakes already pending
    bad_frames: int = 0  # oversized, undecodable or unauthenticated frames; each cost a connection
    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    dial_failures: int = 0  # TCP connect failed or timed out
    duplicate_connections: int = 0
    key_clashes: int = 0  # refused duplicates proven to come from a second live holder of the key
    queue_drops: int = 0
    isolated_drops: int = 0
    internal_errors: int = 0


class PeerLink:
    """One authenticated connection: a bounded outbound queue drained by a writer task, and a reader."""

    def __init__(self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 initiator_key: bytes) -> None:
        self.session = session
        self.peer_key = session.peer_key
        self.reader = reader
        self.writer = writer
        self.initiator_key = initiator_key
        self.opened_at = time.monotonic()
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.wakeup = asyncio.Event()
        self.closed = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def take_queue_from(self, old: PeerLink) -> None:
        """Adopt the unsent payloads of the connection this one replaces (a duplicate resolved)."""
        self.queue, self.queued_bytes = old.queue, old.queued_bytes
        old.queue, old.queued_bytes = deque(), 0
        if self.queue:
            self.wakeup.set()

    def push(self, payload: bytes, max_frames: int, max_bytes: int) -> int:
        """Queue a payload, dropping the oldest until within bounds; returns how many were dropped."""
        self.queue.append(payload)
        self.queued_bytes += len(payload)
        dropped = 0
        while len(self.queue) > max_frames or self.queued_bytes > max_bytes:
            self.queued_bytes -= len(self.queue.popleft())
            dropped += 1
        self.wakeup.set()
        return dropped

    async def next_payload(self) -> bytes:
        while not self.queue:
            self.wakeup.clear()
            await self.wakeup.wait()
        payload = self.queue.popleft()
        self.queued_bytes -= len(payload)
        return payload
