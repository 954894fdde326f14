"""A seeded virtual network: per-message delay, loss, duplication, reordering and healing partitions.

Before GST (global stabilisation time) the network is hostile: messages between different sides of
the partition are lost, others are lost with ``drop_rate``, and delays are drawn from a wider range
so messages overtake each other. From GST on it is the paper's partially synchronous network: nothing
between live nodes is lost and every delay is at most ``max_delay``. Duplicates can happen at any time
(they must be harmless). All draws come from one ``random.Random(seed)``, so a seed fixes the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkConfig:
    """The network's behaviour before and after GST; times in virtual seconds."""

    min_delay: float = 0.001
    """Smallest one-way delay."""
    max_delay: float = 0.02
    """Largest one-way delay after GST (the paper's Delta)."""
    pre_gst_max_delay: float = 0.2
    """Largest delay before GST: wider, so messages reorder more."""
    drop_rate: float = 0.0
    """Probability a message is lost before GST."""
    duplicate_rate: float = 0.0
    """Probability a message is delivered twice."""
    gst: float = 0.0
    """When partitions heal and losses stop."""
    partition: tuple[frozenset[int], ...] = ()
    """Groups of node ids that cannot talk to each other before GST (empty: no partition)."""


class Network:
    """Decides when (if ever) each copy of a message arrives."""

    def __init__(self, config: NetworkConfig, seed: int) -> None:
        self.config = config
        self._rng = random.Random(seed)
        self._side = {node: i for i, group in enumerate(config.partition) for node in group}

    def delivery_times(self, src: int, dst: int, now: float) -> list[float]:
        """Arrival times of the copies of one message sent from ``src`` to ``dst`` at ``now``."""
        c = self.config
        before_gst = now < c.gst
        if before_gst:
            if self._side.get(src, -1) != self._side.get(dst, -1) and src in self._side and dst in self._side:
                return []
            if self._rng.random() < c.drop_rate:
                return []
        copies = 2 if self._rng.random() < c.duplicate_rate else 1
        top = c.pre_gst_max_delay if before_gst else c.max_delay
        times = []
        for _ in range(copies):
            arrival = now + self._rng.uniform(c.min_delay, top)
            # A message sent before GST still arrives by GST + Delta (partial synchrony), if it survives.
            times.append(min(arrival, max(c.gst, now) + c.max_delay) if before_gst else arrival)
        return times
