"""Block sync: a node that is behind fetches committed blocks with their certificates and applies them.

Triggered by a peer's HeadAnnounce (sent after every commit and periodically) showing a higher head.
Each block is accepted only if its commit certificate verifies against the validator set our own
state names for that height and certifies exactly these block bytes; it is then validated by
executing it (state root and rejected set must match its header) and committed in one batch, like a
block this node decided itself. Observers follow the chain this way; a restarted or partitioned
validator catches up this way before it votes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from consensus.certificate import CommitCertificate, InvalidCertificate
from consensus.codec import CodecError
from consensus.crypto import hash_bytes
from node.blocks import Block, decode_block
from node.errors import InvalidBlock
from node.ledger import BlockExecution
from node.p2p_messages import HeadAnnounce, SyncBlocks, SyncRequest, encode_peer_message
from node.peers import validator_set

log = logging.getLogger("bakong.sync")
BATCH = 32
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
REQUEST_TIMEOUT_S = 5.0


class BlockSync:
    def __init__(self, node: Any, send: Callable[[bytes, bytes], bool],
                 on_applied: Callable[[Block, BlockExecution], None]) -> None:
        self.node = node
        self.send = send
        self.on_applied = on_applied
        self.peer_heads: dict[bytes, int] = {}
        self._in_flight: tuple[bytes, float] | None = None
        self._applying = asyncio.Lock()

    @property
    def best_known_height(self) -> int:
        return max(self.peer_heads.values(), default=0)

    def on_head(self, peer: bytes, msg: HeadAnnounce) -> None:
        self.peer_heads[peer] = msg.height
        self.maybe_request()

    def peer_gone(self, peer: bytes) -> None:
        self.peer_heads.pop(peer, None)
        if self._in_flight and self._in_flight[0] == peer:
            self._in_flight = None

    def maybe_request(self) -> None:
        if self._applying.locked():
            # Blocks are being applied: the head is about to move, and asking now would fetch the same
            # blocks again from another peer (an observer used to receive each block about 3 times).
            return
        head = self.node.ledger.head.height
        if self._in_flight is not None and time.monotonic() - self._in_flight[1] < REQUEST_TIMEOUT_S:
            return
        ahead = [(h, p) for p, h in self.peer_heads.items() if h > head]
        if not ahead:
            self._in_flight = None
            return
        _h, peer = max(ahead)
        if self.send(peer, encode_peer_message(SyncRequest(head + 1, BATCH))):
            self._in_flight = (peer, time.monotonic())

    def on_request(self, peer: bytes, msg: SyncRequest) -> None:
        ledger = self.node.ledger
        blocks: list[tuple[bytes, bytes]] = []
        size = 0
        for height in range(msg.from_height, min(msg.from_height + msg.max_blocks, ledger.head.height + 1)):
            block, cert = ledger.block_bytes(height), ledger.certificate(height)
            if block is None or cert is None:
                break
            size += len(block) + len(cert)
            if blocks and size > MAX_RESPONSE_BYTES:
                break
            blocks.append((block, cert))
        if blocks:
            self.send(peer, encode_peer_message(SyncBlocks(tuple(blocks))))

    async def on_blocks(self, peer: bytes, msg: SyncBlocks) -> None:
        async with self._applying:
            loop = asyncio.get_running_loop()
            failed = False
            for block_bytes, cert_bytes in msg.blocks:
                try:
                    applied = await loop.run_in_executor(self.node.worker, self._apply, block_bytes, cert_bytes)
                except (InvalidBlock, InvalidCertificate, CodecError) as exc:
                    log.warning("block from peer %s refused: %s", peer.hex()[:12], exc)
                    self.node.metrics.invalid_blocks.labels(getattr(exc, "code", "bad_block")).inc()
                    break
                except Exception:  # our fault, not the peer's (e.g. the disk): say so, then back off
                    log.exception("applying a synced block from peer %s failed", peer.hex()[:12])
                    self.node.metrics.sync_apply_failures.inc()
                    failed = True
                    break
                if applied is not None:
                    self.on_applied(*applied)
            # Answered: the request stayed in flight while its blocks applied. After a failure of our own
            # it stays in flight REQUEST_TIMEOUT_S more, so a persistent fault retries every few seconds
            # instead of fetching the same blocks in a tight loop.
            self._in_flight = (peer, time.monotonic()) if failed else None
        self.maybe_request()

    def _apply(self, block_bytes: bytes, cert_bytes: bytes) -> tuple[Block, BlockExecution] | None:
        """Worker thread: verify the certificate, then validate, execute and commit the block."""
        ledger = self.node.ledger
        block = decode_block(block_bytes, self.node.mempool.by_bytes)
        if block.height <= ledger.head.height:
            return None  # already have it (consensus or an earlier response)
        if block.height != ledger.head.height + 1:
            raise InvalidBlock("sync_gap", f"got block {block.height} while at {ledger.head.height}")
        certificate = CommitCertificate.decode(cert_bytes)
        if certificate.height != block.height or certificate.value_id != hash_bytes(block_bytes):
            raise InvalidBlock("certificate_mismatch", "the certificate is for another block")
        certificate.verify(self.node.chain_id, validator_set(self.node.store))
        # The certificate shows 2f+1 validators (so at least f+1 honest ones) checked every signature.
        execution = ledger.validate_block(block, verify_signatures=False)
        ledger.commit(block, execution, cert_bytes)
        return block, execution
