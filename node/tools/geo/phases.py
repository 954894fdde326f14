"""The two kinds of phase of a geo run, on a testnet that is already up behind the relay.

- ``load_phase``: open-loop transfers at one WAN setting, measured exactly as ``bakong bench load``
  measures (its client, tracking, block watcher and report), so the figures compare with docs/benchmarks.md.
- ``partition_phase``: the same load throughout, while one country after another is cut off from the
  rest and healed; every node's height is sampled four times a second, so each episode says whether the
  connected side kept committing, whether a side without quorum stalled, and how soon the chain
  resumed (and the cut-off nodes caught up) after healing.
Rules: a phase drives the network and records what it saw; ``verdict`` judges.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from node.tools.bench.chain_watch import BlockWatcher, agreed_head
from node.tools.bench.client import LoadClient
from node.tools.bench.options import LoadOptions
from node.tools.bench.report import summarize
from node.tools.bench.sampler import ResourceSampler
from node.tools.bench.tracking import IN_MEMPOOL, Tracking
from node.tools.bench.workload import Workload
from node.tools.testnet import TestnetNode

HEIGHT_POLL_S = 0.25
LEAD_S = 3.0
"""Load before each cut, so the episode starts from a committing chain."""
AFTER_HEAL_S = 15.0
"""Load after each heal (the nodes' redial backoff reaches 10 s)."""
RESUME_LIMIT_S = 30.0
STALL_SLACK_BLOCKS = 2  # the block in flight at the cut, and one that landed between the height poll and the cut
"""After a heal the chain must advance, and the cut-off nodes reach the others' height, within this."""
DRAIN_S = 60.0


@dataclass
class Phase:
    """One load phase's moving parts."""

    work: Workload
    track: Tracking
    blocks: BlockWatcher
    client: LoadClient


def _phase(session: aiohttp.ClientSession, nodes: list[TestnetNode], work: Workload, batch: int) -> Phase:
    track = Tracking(len(work))
    return Phase(work, track, BlockWatcher(work, track), LoadClient(session, nodes, work, track, batch))


async def _watching(phase: Phase, session: aiohttp.ClientSession, nodes: list[TestnetNode]) -> asyncio.Task[None]:
    ready = asyncio.Event()
    watched = next(n for n in nodes if n.role == "validator")
    task = asyncio.ensure_future(phase.blocks.watch(session, watched.api_url, ready))
    await asyncio.wait_for(ready.wait(), timeout=10)
    return task


async def _stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
        await task


async def _drain(track: Tracking, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and track.pending > 0:
        await asyncio.sleep(0.2)


async def _sample_rss(sampler: ResourceSampler, done: asyncio.Event) -> None:
    while not done.is_set():
        sampler.sample_rss()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=1.0)


async def load_phase(session: aiohttp.ClientSession, nodes: list[TestnetNode], pids: dict[str, int],
                     work: Workload, opts: LoadOptions, batch: int) -> dict[str, Any]:
    """``opts.duration`` seconds at ``opts.rate``, then up to ``opts.drain`` for the backlog: the bench
    load report (``summarize``) of it, plus the relay's CPU."""
    phase = _phase(session, nodes, work, batch)
    sampler = ResourceSampler(pids)
    watcher = await _watching(phase, session, nodes)
    done = asyncio.Event()
    rss = asyncio.ensure_future(_sample_rss(sampler, done))
    start = time.time()
    sampler.begin()
    await phase.client.run_open_loop(opts.rate, opts.duration)
    sent_end = time.time()
    unsent = phase.client.give_up_retries()
    await _drain(phase.track, opts.drain)
    sampler.end()
    done.set()
    await rss
    head = await agreed_head(session, nodes, phase.blocks.chain)
    await _stop(watcher)
    result = summarize(opts, work, phase.track, sampler, (start, sent_end), nodes, head, phase.track.refusals,
                       {n.name: (0, 0) for n in nodes}, batch, unsent)
    result["relay_cpu_percent"] = round(sampler.cpu_percent("relay"), 1) if "relay" in pids else None
    return result


@dataclass
class HeightLog:
    """Every node's committed height, sampled through the run: (wall time, node -> height)."""

    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    async def run(self, session: aiohttp.ClientSession, nodes: list[TestnetNode], stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=1.0)
        while not stop.is_set():
            heights: dict[str, int] = {}
            for n in nodes:
                try:
                    async with session.get(n.api_url + "/v1/status", timeout=timeout) as resp:
                        heights[n.name] = int((await resp.json(content_type=None))["height"])
                except (TimeoutError, aiohttp.ClientError, ValueError, KeyError):
                    pass
            self.samples.append((time.time(), heights))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=HEIGHT_POLL_S)

    def at(self, t: float) -> dict[str, int]:
        """The last sample taken at or before ``t`` (per node, the last height it answered)."""
        out: dict[str, int] = {}
        for when, heights in self.samples:
            if when > t:
                break
            out.update(heights)
        return out

    def first_after(self, t: float, holds: Callable[[dict[str, int]], bool]) -> float | None:
        """Seconds from ``t`` to the first sample after it (heights carried forward) where ``holds``."""
        seen = self.at(t)
        for when, heights in self.samples:
            if when <= t:
                continue
            seen = {**seen, **heights}
            if holds(seen):
                return when - t
        return None


@dataclass(frozen=True)
class Episode:
    """One cut: ``country`` (holding ``nodes``) apart from everyone else for ``hold_s``."""

    country: str
    name: str
    nodes: tuple[str, ...]
    validators_cut: int
    validators_total: int

    @property
    def quorum_kept(self) -> bool:
        """Whether the connected side still holds more than two thirds of the validators."""
        return 3 * (self.validators_total - self.validators_cut) > 2 * self.validators_total


def judge_episode(ep: Episode, log: HeightLog, cut_at: float, heal_at: float,
                  names: list[str]) -> dict[str, Any]:
    """What the heights say about one episode (figures and its own verdict)."""
    inside = [n for n in names if n in ep.nodes]
    outside = [n for n in names if n not in ep.nodes]
    before, healed = log.at(cut_at), log.at(heal_at)

    def top(heights: dict[str, int], who: list[str]) -> int:
        return max((heights.get(n, 0) for n in who), default=0)

    advance_outside = top(healed, outside) - top(before, outside)
    advance_inside = top(healed, inside) - top(before, inside)
    advance_all = top(healed, names) - top(before, names)
    height_at_heal = top(healed, names)
    resume = log.first_after(heal_at, lambda h: top(h, names) > height_at_heal)
    caught_up = log.first_after(heal_at, lambda h: min(h.get(n, 0) for n in inside) >= top(healed, outside)
                                and top(h, names) > height_at_heal)
    if ep.quorum_kept:
        ok = advance_outside >= 2 and caught_up is not None and caught_up <= RESUME_LIMIT_S
        expect = "the connected side keeps committing; the cut-off nodes catch up after the heal"
    else:
        # Heights at the cut are polled, so one block may land between the poll and the cut taking
        # effect, besides the one in flight: at most two, then nothing until the heal.
        ok = advance_all <= STALL_SLACK_BLOCKS and resume is not None and resume <= RESUME_LIMIT_S \
            and caught_up is not None and caught_up <= RESUME_LIMIT_S
        expect = ("no side has a quorum: the chain stalls (at most the block in flight and one polled late land) "
                  "and resumes after the heal")
    return {"isolated": ep.country, "country": ep.name, "nodes": list(ep.nodes),
            "validators_cut": ep.validators_cut, "quorum_kept": ep.quorum_kept, "expect": expect,
            "hold_s": round(heal_at - cut_at, 2), "heights_at_cut": before, "heights_at_heal": healed,
            "advance_connected_side": advance_outside, "advance_cut_side": advance_inside,
            "advance_anywhere": advance_all,
            "resume_s": None if resume is None else round(resume, 2),
            "caught_up_s": None if caught_up is None else round(caught_up, 2), "ok": ok}


async def partition_phase(session: aiohttp.ClientSession, nodes: list[TestnetNode], work: Workload, rate: float,
                          batch: int, episodes: list[Episode], hold_s: float,
                          relay: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Load at ``rate`` through every episode (lead, cut, hold, heal, after), then a drain; returns each
    episode's record and the fate of every accepted payment. ``relay`` sends one relay command (a
    blocking call: it runs in a thread, so the loop keeps posting and polling)."""
    phase = _phase(session, nodes, work, batch)
    names = [n.name for n in nodes]
    log = HeightLog()
    stop = asyncio.Event()
    poller = asyncio.ensure_future(log.run(session, nodes, stop))
    watcher = await _watching(phase, session, nodes)
    total = len(episodes) * (LEAD_S + hold_s + AFTER_HEAL_S)
    load = asyncio.ensure_future(phase.client.run_open_loop(rate, total))
    records = []
    for ep in episodes:
        await asyncio.sleep(LEAD_S)
        cut = await asyncio.to_thread(relay, {"op": "isolate", "country": ep.country})
        cut_at = time.time()
        print(f"  cut {ep.name} ({', '.join(ep.nodes)}) off for {hold_s:g} s: {cut.get('cut', 0)} connections cut",
              flush=True)
        await asyncio.sleep(hold_s)
        await asyncio.to_thread(relay, {"op": "heal"})
        heal_at = time.time()
        await asyncio.sleep(AFTER_HEAL_S)
        if ep is episodes[-1]:
            await load
        # A slow recovery is given the rest of its limit before the episode is judged.
        deadline = heal_at + RESUME_LIMIT_S
        while time.time() < deadline and judge_episode(ep, log, cut_at, heal_at, names)["caught_up_s"] is None:
            await asyncio.sleep(0.5)
        record = judge_episode(ep, log, cut_at, heal_at, names)
        print(f"  {ep.name}: connected side +{record['advance_connected_side']} blocks, cut side "
              f"+{record['advance_cut_side']} during the cut; resumed {record['resume_s']} s, caught up "
              f"{record['caught_up_s']} s after the heal: {'OK' if record['ok'] else 'FAILED'}", flush=True)
        records.append(record)
    await load
    unsent = phase.client.give_up_retries()
    await _drain(phase.track, DRAIN_S)
    head = await agreed_head(session, nodes, phase.blocks.chain)
    stop.set()
    await poller
    await _stop(watcher)
    waiting = [work.hashes[i] for i, f in enumerate(phase.track.final) if f == IN_MEMPOOL]
    return {"episodes": records, "submitted": phase.track.first_sent, "accepted": phase.track.accepted,
            "committed": phase.track.committed, "committed_invalid": phase.track.committed_invalid,
            "rejected_in_block": len(phase.track.rejected_in_block), "refused_unsent": unsent,
            "waiting_after_drain": waiting, "head": head, "hashes": work.hashes,
            "blocks_missed_by_stream": phase.track.blocks_missed}
