"""``bakong geo``: a 4+1 testnet spread over four countries behind a WAN-emulating relay, measured at
several round-trip times, then cut apart and healed.

Steps: build the namespaces (``topology``), move this process into the hub (so the relay, the load
client and every probe live there, and the host's network is never touched), write the testnet with
every peer address pointing at the relay (``network``), start the relay and the nodes, then for each
``--rtt-ms`` setting one open-loop load phase (``phases.load_phase``), then the partition episodes at
the middle RTT setting (``phases.partition_phase``), then the end checks on every node's chain. Always
tears everything down (``finally``; ``--cleanup`` removes what a killed run left).

Verdict (exit 0 only when all hold): every RTT phase committed payments and ended with every node on
one chain; each episode behaved as its quorum says (``phases.judge_episode``); no accepted payment of
the partition phase was lost; the same block hash and state root at every height on every node, and no
payment committed twice.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp

from node.api.client import ClientError, NodeClient
from node.keyfile import read_key
from node.tools.bench.options import LoadOptions
from node.tools.bench.sampler import machine_info
from node.tools.bench.workload import bench_accounts, build_workload
from node.tools.chaos import invariants
from node.tools.chaos.network import ChaosNet
from node.tools.chaos.observe import read_chain
from node.tools.geo import phases
from node.tools.geo.network import OPERATOR_TOKEN, GeoNet, write_testnet
from node.tools.geo.topology import Topology, cleanup_leftovers, enter, leave, unavailable

SETTLE_S = 2.0
"""After a profile change, before the load starts: open connections pick it up at their next chunk."""


@dataclass(frozen=True)
class GeoOptions:
    rtts_ms: tuple[float, ...] = (30.0, 50.0, 80.0)
    jitter_ms: float = 5.0
    loss: float = 0.0
    duration: float = 60.0
    """Seconds of load per RTT setting."""
    partition_s: float = 20.0
    """How long each country stays cut off (0: no partition episodes)."""
    isolate: tuple[str, ...] = ("th", "kh")
    """Countries cut off in turn: Thailand (1 validator of 4: quorum kept), Cambodia (2 of 4: no quorum)."""
    rate: float = 1000.0
    accounts: int = 1000
    drain: float = 20.0
    seed: int = 1
    json_path: str | None = None
    directory: str | None = None
    keep: bool = False


def _batch(rate: float) -> int:
    return max(10, min(200, round(rate * 0.05)))


def _workload(directory: Path, n: int, seed: int) -> Any:
    return build_workload(n, bench_accounts(directory), read_key(directory / "keys" / "bench.key"), 0.02, seed,
                          int(time.time() * 1000))


def _profile(opts: GeoOptions, rtt: float) -> dict[str, Any]:
    return {"op": "profile", "one_way_ms": rtt / 2, "jitter_ms": opts.jitter_ms, "loss": opts.loss}


async def _campaign(opts: GeoOptions, net: GeoNet, directory: Path) -> dict[str, Any]:
    pids = {name: p.pid for name, p in net.procs.items()}
    if net.relay is not None:
        pids["relay"] = net.relay.pid
    batch = _batch(opts.rate)
    out: dict[str, Any] = {"rtt": [], "partition": None}
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60),
                                     headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as session:
        for k, rtt in enumerate(opts.rtts_ms):
            await asyncio.to_thread(net.command, _profile(opts, rtt))
            work = _workload(directory, math.ceil(opts.rate * opts.duration), opts.seed + k)
            await asyncio.sleep(SETTLE_S)
            print(f"RTT {rtt:g} ms (jitter {opts.jitter_ms:g}, loss {opts.loss:g}): {opts.rate:g} TPS offered for "
                  f"{opts.duration:g} s ...", flush=True)
            load = LoadOptions(duration=opts.duration, rate=opts.rate, accounts=opts.accounts, drain=opts.drain)
            r = await phases.load_phase(session, net.nodes, pids, work, load, batch)
            r["rtt_ms"], r["jitter_ms"], r["loss"] = rtt, opts.jitter_ms, opts.loss
            print(f"  committed {r['committed']:,} at {r['committed_tps']:,.1f} TPS, latency p50 "
                  f"{r['latency_p50_s']:.3f} s p99 {r['latency_p99_s']:.3f} s, pending after drain "
                  f"{r['pending_after_drain']}, one chain {r['head']['agree']}", flush=True)
            out["rtt"].append(r)
        if opts.partition_s > 0 and opts.isolate:
            rtt = opts.rtts_ms[len(opts.rtts_ms) // 2]
            await asyncio.to_thread(net.command, _profile(opts, rtt))
            episodes = [_episode(net, code) for code in opts.isolate]
            seconds = len(episodes) * (phases.LEAD_S + opts.partition_s + phases.AFTER_HEAL_S)
            work = _workload(directory, math.ceil(opts.rate * seconds), opts.seed + 100)
            print(f"partitions at RTT {rtt:g} ms, {opts.rate:g} TPS offered throughout ...", flush=True)
            p = await phases.partition_phase(session, net.nodes, work, opts.rate, batch, episodes,
                                             opts.partition_s, net.command)
            p["rtt_ms"] = rtt
            out["partition"] = p
    return out


def _episode(net: GeoNet, code: str) -> phases.Episode:
    country = net.topo.country(code)
    validators = [n.name for n in net.nodes if n.role == "validator"]
    return phases.Episode(code, country.name, country.nodes, sum(1 for v in country.nodes if v in validators),
                          len(validators))


def _end_checks(net: GeoNet, directory: Path, partition: dict[str, Any] | None) -> dict[str, Any]:
    """The whole chain on every node, and where each still-waiting payment of the partition phase is."""
    chaos_view = ChaosNet(directory, "")
    chaos_view.nodes = net.nodes
    view = read_chain(chaos_view, read_key(directory / "keys" / "admin@nbc.key"))
    checks: dict[str, Any] = {"heights_checked": view.checked_heights, **invariants.no_fork(view)}
    if partition is not None:
        checks.update(invariants.no_duplicate(partition.pop("hashes"), view))
        probe = NodeClient(net.nodes[0].api_url, timeout=5.0)
        late = lost = 0
        for h in partition.pop("waiting_after_drain"):
            try:
                status = str(probe.tx_status(h)["status"])
            except (ClientError, KeyError):
                status = "?"
            late += status in ("COMMITTED", "REJECTED")
            lost += status not in ("COMMITTED", "REJECTED")
        checks["accepted_final_late"] = late
        checks["accepted_lost"] = lost
    return checks


def failures(result: dict[str, Any]) -> list[str]:
    out = []
    for r in result["rtt"]:
        if r["committed"] <= 0:
            out.append(f"nothing committed at RTT {r['rtt_ms']:g} ms")
        if not r["head"]["agree"]:
            out.append(f"nodes on different chains after RTT {r['rtt_ms']:g} ms")
    p = result["partition"]
    if p is not None:
        out += [f"episode {e['country']}: expected {e['expect']}" for e in p["episodes"] if not e["ok"]]
    c = result["checks"]
    if c.get("forks") or not c.get("state_roots_equal", False):
        out.append(f"forks {c.get('forks')}, state roots equal {c.get('state_roots_equal')}")
    if c.get("accepted_lost"):
        out.append(f"{c['accepted_lost']} accepted payments lost")
    if c.get("duplicated_committed"):
        out.append(f"{c['duplicated_committed']} payments committed twice")
    return out


def print_summary(result: dict[str, Any]) -> None:
    print("\nbakong geo: 4 validators + 1 observer in four countries; " + "; ".join(
        f"{c['name']}: {', '.join(c['nodes'])}" for c in result["topology"]["countries"]))
    print(f"  {'RTT ms':>7} {'offered':>8} {'committed TPS':>14} {'p50 s':>7} {'p99 s':>7} {'blocks':>7} "
          f"{'interval s':>10} {'relay CPU%':>10} {'others CPU%':>11}")
    for r in result["rtt"]:
        print(f"  {r['rtt_ms']:>7g} {r['offered_tps']:>8,.0f} {r['committed_tps']:>14,.1f} {r['latency_p50_s']:>7.3f} "
              f"{r['latency_p99_s']:>7.3f} {r['blocks']:>7} {r['block_interval_mean_s']:>10.3f} "
              f"{r['relay_cpu_percent'] or 0:>10.0f} {r['machine']['cpu_other_processes_percent']:>11.0f}")
    p = result["partition"]
    if p is not None:
        print(f"  partitions at RTT {p['rtt_ms']:g} ms: submitted {p['submitted']:,}, accepted {p['accepted']:,}, "
              f"committed {p['committed']:,}, rejected in block {p['rejected_in_block']:,}")
        for e in p["episodes"]:
            print(f"    {e['country']} cut off {e['hold_s']:.1f} s ({e['validators_cut']} validators; quorum kept "
                  f"{e['quorum_kept']}): connected side +{e['advance_connected_side']}, cut side "
                  f"+{e['advance_cut_side']} blocks; resumed {e['resume_s']} s, caught up {e['caught_up_s']} s: "
                  f"{'OK' if e['ok'] else 'FAILED'}")
    c = result["checks"]
    print(f"  heights checked {c['heights_checked']}, forks {c['forks']}, state roots equal {c['state_roots_equal']}, "
          f"accepted lost {c.get('accepted_lost', 0)}, duplicated {c.get('duplicated_committed', 0)}")
    print(f"RESULT: {'OK' if not result['failures'] else 'FAILED: ' + '; '.join(result['failures'])}")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: nodes stopped, namespaces deleted


def run_cleanup() -> int:
    names = cleanup_leftovers()
    print(f"removed {len(names)} namespace(s){': ' + ', '.join(names) if names else ''}")
    return 0


def run_geo(opts: GeoOptions) -> int:
    reason = unavailable()
    if reason is not None:
        print(f"bakong geo: cannot build the countries: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    # The host is not loopback to the nodes in their namespaces: this process's NodeClients (chain reads,
    # evidence) send the token the nodes were given (node.tools.geo.network.OPERATOR_TOKEN).
    os.environ["BAKONG_OPERATOR_TOKEN"] = OPERATOR_TOKEN
    temp = opts.directory is None
    directory = Path(opts.directory or tempfile.mkdtemp(prefix="bakong-geo-"))
    topo = Topology()
    net: GeoNet | None = None
    previous: int | None = None
    started = time.time()
    try:
        topo.build()
        previous = enter(topo.hub)
        nodes = write_testnet(directory, topo, opts.accounts)
        net = GeoNet(directory, topo, nodes)
        net.start_relay()
        net.command(_profile(opts, opts.rtts_ms[0]))
        print(f"countries {', '.join(topo.namespace(c.code) for c in topo.countries)} around {topo.hub}; "
              f"testnet in {directory}", flush=True)
        for name, p in topo.placements.items():
            print(f"  {name:6} in {p.country}: listens {p.private_ip}, peers dial {p.public_ip} (relay)")
        net.start_nodes()
        ran = asyncio.run(_campaign(opts, net, directory))
        result: dict[str, Any] = {
            "benchmark": "bakong geo", "command": " ".join(["bakong", *sys.argv[1:]]),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "options": {**asdict(opts), "rtts_ms": list(opts.rtts_ms), "isolate": list(opts.isolate)},
            "topology": {"countries": [{"code": c.code, "name": c.name, "nodes": list(c.nodes)}
                                       for c in topo.countries],
                         "placements": {k: asdict(v) for k, v in topo.placements.items()}},
            **ran}
        result["checks"] = _end_checks(net, directory, result["partition"])
        result["relay"] = net.command({"op": "stats"})
        result["machine"] = machine_info()
        result["elapsed_s"] = round(time.time() - started, 1)
        result["failures"] = failures(result)
        print_summary(result)
        if opts.json_path:
            Path(opts.json_path).write_text(json.dumps(result, indent=2) + "\n")
            print(f"  results written to {opts.json_path}")
        return 0 if not result["failures"] else 3
    finally:
        if net is not None:
            net.close()
        if previous is not None:
            leave(previous)
        topo.teardown()
        if temp and not opts.keep:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"  testnet files kept in {directory}")
