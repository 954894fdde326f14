"""The node process: ledger + mempool + block production + HTTP API under one asyncio loop.

For now a single validator orders blocks itself (the consensus issue replaces ``SoloBlockProducer``
with the BFT engine). LevelDB work (execution and the synced commit) runs on one worker thread so
the API stays responsive during a commit; only that thread mutates the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from consensus.crypto import KeyPair
from node.config import NodeConfig
from node.execution import COMMITTED
from node.genesis import load_genesis
from node.keyfile import read_key
from node.ledger import Ledger
from node.mempool import Mempool
from node.metrics import NodeMetrics
from node.queries import QueryService
from node.status import StatusHub
from storage.db import LedgerStore

log = logging.getLogger("bakong.node")


def now_ms() -> int:
    return int(time.time() * 1000)


class Node:
    """Everything one node holds; the API and the block producer share it."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.key: KeyPair = read_key(config.key_path)
        self.genesis = load_genesis(config.genesis_path)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = LedgerStore(config.data_dir / "ledger")
        try:
            self.ledger = Ledger(self.store, self.genesis.chain_id)
            self.ledger.ensure_genesis(self.genesis)
        except Exception:
            self.store.close()
            raise
        self.mempool = Mempool(config.mempool.max_txs, config.mempool.max_bytes)
        self.hub = StatusHub()
        self.metrics = NodeMetrics()
        self.queries = QueryService(self.ledger, self.mempool.pending_for)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self.tx_arrived = asyncio.Event()
        self.started_ms = now_ms()
        self.metrics.height.set(self.ledger.head.height)

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    def close(self) -> None:
        self.worker.shutdown(wait=True)
        self.store.close()


class SoloBlockProducer:
    """Cuts blocks from the mempool: as soon as transactions wait (after a short batching pause),
    and an empty heartbeat block every ``max_block_interval_ms`` when idle."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def run(self) -> None:
        cfg = self.node.config.block
        loop = asyncio.get_running_loop()
        last_block = loop.time()
        while True:
            timeout = max(0.0, last_block + cfg.max_block_interval_ms / 1000 - loop.time())
            if not len(self.node.mempool):
                try:
                    await asyncio.wait_for(self.node.tx_arrived.wait(), timeout)
                except TimeoutError:
                    pass
            self.node.tx_arrived.clear()
            if len(self.node.mempool) and len(self.node.mempool) < cfg.max_block_txs:
                await asyncio.sleep(cfg.batch_wait_ms / 1000)  # let a burst fill the block
            if not len(self.node.mempool) and loop.time() - last_block < cfg.max_block_interval_ms / 1000:
                continue
            await self.produce_one()
            last_block = loop.time()

    async def produce_one(self) -> None:
        node = self.node
        txs = node.mempool.peek(node.config.block.max_block_txs)
        started = time.perf_counter()

        def build_and_commit() -> Any:
            block, execution = node.ledger.build_block(txs, now_ms(), node.key.public_key)
            node.ledger.commit(block, execution, b"")
            return block, execution

        block, execution = await asyncio.get_running_loop().run_in_executor(node.worker, build_and_commit)
        node.mempool.remove([tx.hash for tx in txs])
        m = node.metrics
        m.block_seconds.observe(time.perf_counter() - started)
        m.blocks.inc()
        m.height.set(block.height)
        m.mempool.set(len(node.mempool))
        for index, (tx, result) in enumerate(zip(block.transactions, execution.results)):
            if result.status == COMMITTED:
                m.txs_committed.inc()
            else:
                m.txs_rejected.labels(result.error_code or "unknown").inc()
            if node.hub.wants(tx.hash):
                node.hub.publish(tx.hash, status_json(tx.hash, result.status, block.height, index, result))


def status_json(tx_hash: bytes, status: str, height: int | None = None, index: int | None = None,
                result: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"hash": tx_hash.hex(), "status": status}
    if height is not None:
        out["height"] = height
        out["index"] = index
    if result is not None and result.error_code is not None:
        out["command_index"] = result.command_index
        out["error_code"] = result.error_code
        out["message"] = result.message
    return out


async def serve(config: NodeConfig) -> None:
    """Run one node until SIGINT/SIGTERM."""
    from node.api import build_app

    node = Node(config)
    runner = web.AppRunner(build_app(node), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.api.host, config.api.port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        log.info("node %s (%s) serving API on http://%s:%d, height %d", config.name, config.role,
                 config.api.host, config.api.port, node.ledger.head.height)
        async with asyncio.TaskGroup() as tasks:
            producer = tasks.create_task(SoloBlockProducer(node).run()) if config.role == "validator" else None
            await stop.wait()
            if producer is not None:
                producer.cancel()
    finally:
        await runner.cleanup()
        node.close()
        log.info("node %s stopped", config.name)
