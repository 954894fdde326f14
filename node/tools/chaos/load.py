"""The steady load under a chaos campaign, and the record of what the nodes promised about it.

Two daemon threads. The loader posts the pre-signed transfers at ``rate`` TPS to the honest live nodes,
round-robin; a batch that fails is sent again, whole, to the next node (a replay answer counts as
accepted, so nothing is counted twice). The poller asks a sample of accepted transactions' status and
keeps every COMMITTED answer with its height: those answers are promises the end checks hold the chain to.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from node.api.client import ClientError
from node.intake import statuses as st
from node.tools.chaos.network import ChaosNet

MAX_BATCH = 500
JOIN_TIMEOUT_S = 15.0


@dataclass
class LoadState:
    """What the load thread saw, per pre-signed transaction index."""

    accepted: set[int] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    committed_answers: dict[int, int] = field(default_factory=dict)  # index -> height an API answered
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SteadyLoad:
    """The loader and poller threads over one pre-signed workload."""

    def __init__(self, net: ChaosNet, encoded: list[bytes], hashes: list[str], rate: float, seed: int) -> None:
        self.net = net
        self.encoded = encoded
        self.hashes = hashes
        self.rate = rate
        self.seed = seed
        self.state = LoadState()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send_loop, daemon=True),
                         threading.Thread(target=self._poll_loop, daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=JOIN_TIMEOUT_S)

    def _send_loop(self) -> None:
        encoded, state = self.encoded, self.state
        t0 = time.monotonic()
        i = 0
        rr = 0
        while not self._stop.is_set() and i < len(encoded):
            due = min(len(encoded), int((time.monotonic() - t0) * self.rate) + 1)
            if due <= i:
                time.sleep(0.02)
                continue
            batch = list(range(i, min(due, i + MAX_BATCH)))
            live = self.net.honest_live_nodes()
            if not live:
                time.sleep(0.1)
                continue
            node = live[rr % len(live)]
            rr += 1
            try:
                code, payload = self.net.client(node)._request(
                    "POST", "/v1/transactions", {"transactions": [encoded[j].hex() for j in batch]})
            except ClientError as exc:
                state.errors[exc.code] += 1
                time.sleep(0.1)
                continue  # the same batch again, on the next live node
            if code >= 300 or not isinstance(payload, dict) or "results" not in payload:
                err = payload.get("error", {}).get("code", str(code)) if isinstance(payload, dict) else str(code)
                state.errors[err] += 1
                time.sleep(0.2)
                continue
            with state.lock:
                for j, res in zip(batch, payload["results"], strict=False):  # a short answer: the rest unknown
                    status = res.get("status")
                    if status == st.STATELESS_VALIDATION_SUCCESS or (status == st.REJECTED and "height" in res):
                        state.accepted.add(j)  # (a resend of one rejected in a block: accepted then, final now)
                    elif status == st.COMMITTED:
                        state.accepted.add(j)
                        state.committed_answers[j] = int(res["height"])
                    else:
                        state.refused[res.get("error_code") or str(status)] += 1
                state.sent = batch[-1] + 1
            i = batch[-1] + 1

    def _poll_loop(self) -> None:
        """Asks a sample of accepted transactions' status; records every COMMITTED answer and its height."""
        state = self.state
        rng = random.Random(self.seed + 1)  # its own stream: polling never shifts the perturbation schedule
        while not self._stop.is_set():
            with state.lock:
                pool = [j for j in state.accepted if j not in state.committed_answers]
            live = self.net.honest_live_nodes()
            if not pool or not live:
                time.sleep(0.2)
                continue
            for j in rng.sample(pool, min(20, len(pool))):
                node = rng.choice(live)
                try:
                    res = self.net.client(node, 1.0).tx_status(self.hashes[j])
                except ClientError:
                    continue
                if res.get("status") == st.COMMITTED:
                    with state.lock:
                        state.committed_answers[j] = int(res["height"])
            time.sleep(0.1)
