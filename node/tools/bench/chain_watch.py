"""What the chain says during and after a load run: one validator's block stream, the heads at the end,
and the reasons blocks gave for rejecting transactions.

Latency is measured against the watched validator's ``committed_ms`` (same host, same clock as the
client), and the chain it streams (height -> hash, state root) is the reference every other node's
head is checked against at the end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import aiohttp

from node.tools.bench.tracking import COMMITTED, REJECTED_IN_BLOCK, UNSENT_OR_WAITING, Tracking
from node.tools.bench.workload import VALID, Workload
from node.tools.testnet import TestnetNode

Chain = dict[int, tuple[str, str]]
"""Height -> (block hash, state root), as the watched validator committed them."""


class BlockWatcher:
    """Follows ``/v1/blocks/ws`` on one validator and records, per block, which of our transactions it
    committed or rejected."""

    def __init__(self, work: Workload, track: Tracking) -> None:
        self.work = work
        self.track = track
        self.index = {h: i for i, h in enumerate(work.hashes)}
        self.chain: Chain = {}

    def on_block(self, block: dict[str, Any]) -> None:
        t = self.track
        height = int(block["height"])
        if t.last_height and height > t.last_height + 1:
            t.blocks_missed += height - t.last_height - 1
        t.last_height = max(t.last_height, height)
        rejected = set(block.get("rejected", ()))
        ours = 0
        for h in block["txs"]:
            i = self.index.get(h)
            if i is None or t.final[i] > 0:  # not ours, or already final
                continue
            if t.final[i] == UNSENT_OR_WAITING:  # committed before its POST answered: accepted all the same
                t.accepted += 1
            ours += 1
            if h in rejected:
                t.final[i] = REJECTED_IN_BLOCK
                t.rejected_in_block.append(i)
            else:
                t.final[i] = COMMITTED
                t.commit_ms[i] = int(block["committed_ms"])
                if self.work.kinds[i] == VALID:
                    t.committed += 1
                else:
                    t.committed_invalid += 1
        self.chain[height] = (block["hash"], block["state_root"])
        t.blocks.append({"height": height, "created_ms": block["created_ms"], "committed_ms": block["committed_ms"],
                         "txs": len(block["txs"]), "ours": ours, "rejected": len(rejected),
                         "arrived_s": time.time()})

    async def watch(self, session: aiohttp.ClientSession, url: str, ready: asyncio.Event) -> None:
        async with session.ws_connect(url + "/v1/blocks/ws", heartbeat=20, max_msg_size=0) as ws:
            ready.set()
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.on_block(json.loads(msg.data))
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break


async def _json_get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        return await resp.json(content_type=None)


async def rejection_reasons(session: aiohttp.ClientSession, api_url: str, hashes: list[str]) -> Counter[str]:
    """REJECTED/<error_code> for transactions rejected in blocks, from the tx status endpoint."""
    reasons: Counter[str] = Counter()
    gate = asyncio.Semaphore(16)

    async def one(h: str) -> None:
        async with gate:
            try:
                doc = await _json_get(session, f"{api_url}/v1/transactions/{h}")
                reasons[f"{doc.get('status')}/{doc.get('error_code')}"] += 1
            except (TimeoutError, aiohttp.ClientError, ValueError):
                reasons["REJECTED/unknown"] += 1

    await asyncio.gather(*(one(h) for h in hashes))
    return reasons


async def agreed_head(session: aiohttp.ClientSession, nodes: list[TestnetNode], chain: Chain,
                      timeout: float = 10.0) -> dict[str, Any]:
    """Every node's head, checked against the watched validator's chain (``chain``: height -> (hash,
    state root) from its block stream). Retried until all heads are equal or ``timeout`` passes; nodes
    still committing a backlog may stop at different heights, and then each head must match the block
    the watched validator committed at that height (one chain, not yet one head)."""
    deadline = time.monotonic() + timeout
    while True:
        heads: dict[str, tuple[Any, Any, Any]] = {}
        for n in nodes:
            try:
                s = await _json_get(session, n.api_url + "/v1/status")
                heads[n.name] = (s["height"], s["block_hash"], s["state_root"])
            except (TimeoutError, aiohttp.ClientError, ValueError, KeyError):
                heads[n.name] = (None, None, None)
        same = len(set(heads.values())) == 1
        if same or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    stream_deadline = time.monotonic() + 3.0  # a node may be ahead of what the stream has delivered yet
    while any(h[0] is not None and h[0] > max(chain, default=0) for h in heads.values()) \
            and time.monotonic() < stream_deadline:
        await asyncio.sleep(0.1)
    checked = {name: h[0] in chain and chain[h[0]] == (h[1], h[2]) for name, h in heads.items()}
    one_chain = (same and None not in next(iter(heads.values()))) or all(checked.values())
    top = max(heads.values(), key=lambda h: h[0] or -1)
    return {"agree": one_chain, "same_head": same, "height": top[0], "hash": top[1], "state_root": top[2],
            "per_node": {name: {"height": h[0], "hash": h[1], "state_root": h[2], "matches_watched": checked[name]}
                         for name, h in heads.items()}}
