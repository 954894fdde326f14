"""How the load benchmark sends: msgpack batches posted round-robin over every node, with retries.

Two pacing modes. Open loop (``--rate R``): batch k leaves at start + k * batch / R whether or not earlier
posts were answered, so a slow network shows up as latency, not as a lower offered rate. As fast as
accepted (``--rate 0``): a fixed number of posts outstanding per node, bounded by how many accepted
transactions wait for a block, so the figure is the sustained commit rate, not how fast mempools fill.
A transaction the mempool refuses is retried on the next node after ``RETRY_AFTER_S``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import aiohttp
import msgpack

from node.tools.bench.tracking import IN_MEMPOOL, REFUSED, UNSENT_OR_WAITING, Tracking
from node.tools.bench.workload import Workload
from node.tools.testnet import TestnetNode

RETRY_AFTER_S = 1.0
MAX_IN_FLIGHT = 256  # open-loop posts outstanding at once; reaching it means the nodes (or we) fell behind


class LoadClient:
    """Posts batches of the workload to the nodes and records each answer in ``track``."""

    def __init__(self, session: aiohttp.ClientSession, nodes: list[TestnetNode], work: Workload, track: Tracking,
                 batch: int) -> None:
        self.session = session
        self.nodes = nodes
        self.work = work
        self.track = track
        self.batch = batch
        self.retry: deque[tuple[float, int]] = deque()  # (due time, tx index)
        self.next_tx = 0
        self.next_node = 0

    def _node_url(self) -> str:
        url = self.nodes[self.next_node % len(self.nodes)].api_url
        self.next_node += 1
        return url

    def take_batch(self, now: float) -> list[int]:
        """Due retries first, then fresh transactions, up to one batch."""
        out: list[int] = []
        while self.retry and self.retry[0][0] <= now and len(out) < self.batch:
            out.append(self.retry.popleft()[1])
        fresh = min(self.batch - len(out), len(self.work) - self.next_tx)
        out.extend(range(self.next_tx, self.next_tx + fresh))
        self.next_tx += fresh
        return out

    async def post(self, indices: list[int]) -> None:
        t = self.track
        now = time.time()
        for i in indices:
            if t.submit_s[i] == 0.0:
                t.submit_s[i] = now
                t.first_sent += 1
        body = msgpack.packb([self.work.encoded[i] for i in indices])
        t.in_flight += 1
        t.in_flight_max = max(t.in_flight_max, t.in_flight)
        try:
            async with self.session.post(self._node_url() + "/v1/transactions", data=body,
                                         headers={"Content-Type": "application/msgpack"}) as resp:
                payload = await resp.json(content_type=None)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            t.http_errors[exc.__class__.__name__] += 1
            self._requeue(indices)
            return
        finally:
            t.in_flight -= 1
        if status == 503:
            t.mempool_full += len(indices)
            self._requeue(indices)
            return
        if status != 202 or not isinstance(payload, dict) or len(payload.get("results", ())) != len(indices):
            t.http_errors[f"http_{status}"] += 1
            self._requeue(indices)
            return
        for i, result in zip(indices, payload["results"], strict=True):  # lengths checked above
            state = result.get("status")
            if state == "STATELESS_VALIDATION_SUCCESS":
                if t.final[i] == UNSENT_OR_WAITING:
                    t.accepted += 1
                    t.final[i] = IN_MEMPOOL  # waiting for a block (unless the block came first)
            elif result.get("error_code") == "mempool_full":
                t.mempool_full += 1
                self._requeue([i])
            elif state == "STATELESS_VALIDATION_FAILED":
                if t.final[i] in (UNSENT_OR_WAITING, IN_MEMPOOL):
                    t.final[i] = REFUSED
                    t.refusals[f"STATELESS_VALIDATION_FAILED/{result.get('error_code')}"] += 1
            elif state in ("COMMITTED", "REJECTED"):  # already final (replay answer after a retry)
                pass
            else:
                t.http_errors[f"status_{state}"] += 1

    def _requeue(self, indices: list[int]) -> None:
        due = time.monotonic() + RETRY_AFTER_S
        for i in indices:
            if self.track.final[i] == UNSENT_OR_WAITING:
                self.retry.append((due, i))

    def give_up_retries(self) -> int:
        """At the end of the duration: transactions still waiting for a retry are refused, never sent
        again. Returns how many (``refused_unsent``)."""
        unsent = {i for _due, i in self.retry if self.track.final[i] == UNSENT_OR_WAITING}
        for i in unsent:
            self.track.final[i] = REFUSED
        self.retry.clear()
        return len(unsent)

    async def run_open_loop(self, rate: float, duration: float) -> None:
        """Batch k leaves at start + k * batch / rate, whether or not earlier ones were answered."""
        t = self.track
        start = time.monotonic()
        interval = self.batch / rate
        tasks: set[asyncio.Task[None]] = set()
        k = 0
        while True:
            due = start + k * interval
            if due - start >= duration:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                t.schedule_lag_max_s = max(t.schedule_lag_max_s, -delay)
            indices = self.take_batch(time.monotonic())
            if not indices:
                if not self.retry:
                    break  # workload exhausted
                k += 1
                continue
            while t.in_flight >= MAX_IN_FLIGHT:
                await asyncio.sleep(0.005)
            task = asyncio.ensure_future(self.post(indices))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        if tasks:
            await asyncio.gather(*tasks)

    async def run_max(self, duration: float, concurrency: int, max_pending: int) -> None:
        """As fast as accepted: ``concurrency`` posts outstanding per node, each sent when one returns,
        while fewer than ``max_pending`` accepted transactions wait for a block (0: no such bound)."""
        deadline = time.monotonic() + duration
        t = self.track

        async def worker() -> None:
            while time.monotonic() < deadline:
                if max_pending and t.pending + t.in_flight * self.batch >= max_pending:
                    await asyncio.sleep(0.01)
                    continue
                indices = self.take_batch(time.monotonic())
                if not indices:
                    if not self.retry:
                        return
                    await asyncio.sleep(0.05)
                    continue
                before = t.mempool_full
                await self.post(indices)
                if t.mempool_full > before:
                    await asyncio.sleep(0.05)  # back off a little when the mempool pushes back

        await asyncio.gather(*(worker() for _ in range(concurrency * len(self.nodes))))

