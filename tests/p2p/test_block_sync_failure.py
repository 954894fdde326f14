"""Block sync when applying a block fails through the node's own fault (not the peer's)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from node.metrics import NodeMetrics
from node.p2p import block_sync
from node.p2p.block_sync import BlockSync
from node.p2p.messages import HeadAnnounce, SyncBlocks, SyncRequest, decode_peer_message

PEER = b"\x01" * 32


def test_an_unexpected_apply_error_is_logged_counted_and_retried_after_the_timeout(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    worker = ThreadPoolExecutor(1)
    node = SimpleNamespace(ledger=SimpleNamespace(head=SimpleNamespace(height=3)), worker=worker,
                           metrics=NodeMetrics())
    requests: list[SyncRequest] = []

    def send(peer: bytes, payload: bytes) -> bool:
        msg = decode_peer_message(payload, 1 << 20)
        assert peer == PEER and isinstance(msg, SyncRequest)
        requests.append(msg)
        return True

    sync = BlockSync(node, send, on_applied=lambda block, execution: None)

    def apply(block_bytes: bytes, cert_bytes: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sync, "_apply", apply)

    async def run() -> None:
        sync.on_head(PEER, HeadAnnounce(9, b"\x00" * 32))
        assert [r.from_height for r in requests] == [4]
        with caplog.at_level(logging.ERROR, logger="bakong.sync"):
            await sync.on_blocks(PEER, SyncBlocks(((b"block", b"cert"),)))  # must not raise
        assert "applying a synced block" in caplog.text and "No space left" in caplog.text
        assert node.metrics.sync_apply_failures._value.get() == 1
        sync.maybe_request()
        assert len(requests) == 1  # backing off: no tight loop of requests for the same blocks
        monkeypatch.setattr(block_sync, "REQUEST_TIMEOUT_S", 0.0)
        sync.maybe_request()
        assert [r.from_height for r in requests] == [4, 4]  # retried once the back-off is over

    try:
        asyncio.run(run())
    finally:
        worker.shutdown()
