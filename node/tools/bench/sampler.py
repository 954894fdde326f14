"""What the machine says during a benchmark: CPU time and peak RSS per process, the machine's total
load, and the size of the nodes' data directories. Used by ``bench load`` and ``bench idle``.

The whole machine's busy time is sampled too, so a run skewed by some other process says so in its
report instead of publishing a low figure as the network's.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil


class ResourceSampler:
    """CPU time and peak RSS of the node processes (and of this client), sampled once a second."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.procs["client"] = psutil.Process(os.getpid())
        self.cpu0: dict[str, float] = {}
        self.cpu1: dict[str, float] = {}
        self.peak_rss = dict.fromkeys(self.procs, 0)
        # RSS counts the LevelDB tables a node has mmap'd (file pages of the OS cache, shared and
        # reclaimable) as well as its own heap; with a million accounts that is ~150 MB of the figure.
        # Reported apart as "anon" (RSS minus file-backed pages) so the two can be told apart.
        self.peak_anon = dict.fromkeys(self.procs, 0)
        self.t0 = self.t1 = 0.0
        self.busy0 = self.busy1 = 0.0

    def _cpu(self, name: str) -> float:
        try:
            times = self.procs[name].cpu_times()
            return float(times.user + times.system)
        except psutil.Error:  # the process is gone: its last reading stands
            return self.cpu1.get(name, self.cpu0.get(name, 0.0))

    def sample_rss(self) -> None:
        for name, proc in self.procs.items():
            try:
                info = proc.memory_info()
                self.peak_rss[name] = max(self.peak_rss[name], info.rss)
                self.peak_anon[name] = max(self.peak_anon[name], info.rss - getattr(info, "shared", 0))
            except psutil.Error:
                pass

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()  # steal and guest time are not ours to count; irq time is the kernel's work for us
        return float(sum(getattr(times, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq")))

    def begin(self) -> None:
        self.t0 = time.monotonic()
        self.busy0 = self._machine_busy()
        self.cpu0 = {name: self._cpu(name) for name in self.procs}
        self.sample_rss()

    def freeze(self, name: str) -> None:
        """Read a process's CPU time now, before it exits: its reading stands at ``end``."""
        self.cpu1[name] = self._cpu(name)

    def end(self) -> None:
        self.t1 = time.monotonic()
        self.busy1 = self._machine_busy()
        self.cpu1 = {name: self._cpu(name) for name in self.procs}
        self.sample_rss()

    def cpu_percent(self, name: str) -> float:
        wall = max(self.t1 - self.t0, 1e-9)
        return 100.0 * (self.cpu1.get(name, 0.0) - self.cpu0.get(name, 0.0)) / wall

    def machine_busy_percent(self) -> float:
        """All CPUs' busy time over the window, in the same unit (100 = one core busy)."""
        return 100.0 * (self.busy1 - self.busy0) / max(self.t1 - self.t0, 1e-9)

    def others_percent(self) -> float:
        """What processes other than the nodes and this client used: another load skews the figures."""
        return max(0.0, self.machine_busy_percent() - sum(self.cpu_percent(name) for name in self.procs))


def dir_bytes(path: Path) -> int:
    """Total size of the files under ``path``; files that vanish while walking (compaction) count 0."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "logical_cpus": psutil.cpu_count(), "physical_cpus": psutil.cpu_count(logical=False),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "os": platform.platform(),
            "python": platform.python_version(), "aiohttp": aiohttp.__version__}
