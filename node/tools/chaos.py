"""``bakong chaos``: a fault campaign on a fresh 4-validator + 1-observer testnet under steady load.

Steps: write a testnet (fast block and round timeouts, ``[testing] fault_injection = true`` on every
node), start each node as its own process, pre-sign transfers between funded bench accounts and submit
them at ``--rate`` TPS from a background thread, while the main thread applies perturbations one at a
time on a schedule drawn from ``random.Random(seed)``:

- ``kill_validator``: SIGKILL a validator, restart it a few seconds later;
- ``pause_validator``: SIGSTOP a validator, SIGCONT it a few seconds later;
- ``isolate``: cut one node off the p2p network (``POST /v1/testing/isolate``), then heal it;
- ``kill_observer``: SIGKILL the observer, restart it;
- ``restart_all``: SIGTERM every node, start them all again;
- ``kill_mid_commit``: arm a node (``POST /v1/testing/crash-at-commit``) to SIGKILL itself before,
  during or after the synced write of its next block commit, wait for it to die, restart it.

With ``--byzantine MODE`` one validator ("wing") runs ``[testing] byzantine = MODE`` (``node.byzantine``;
``mixed`` is the whole repertoire) for the whole campaign: the perturbations then pick only honest
nodes (``restart_all`` restarts it too, in the same mode), the load and the status probes use only
honest nodes, and the end checks add that evidence names no honest validator. A perturbation that
takes an honest validator out leaves two honest validators and the Byzantine one: the chain may
stop until it is back (the Byzantine validator decides), so progress during the hold is recorded
(``advanced_during_hold``) but not required.

After each perturbation ends, the recovery time is the time until the highest height across the nodes
advances again (with a Byzantine validator too: once the perturbation ends the three honest
validators form a quorum on their own, so the same limit holds). At the end: stop the load, drain, then check the invariants: the same block hash and
state root at every height on every node; every transaction an API answered COMMITTED is in the chain
once, at the height it was answered with; every accepted transaction COMMITTED or REJECTED in a block
(one accepted and then found nowhere is ``lost_uncommitted``: the intake journal is there so that a
crash cannot do that, so it fails the run); KHR and USD conserved over the accounts used, none below zero.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.intake import statuses as st
from node.runtime.byzantine import MODES as BYZANTINE_MODES
from node.tools.bench.workload import bench_accounts, build_workload
from node.api.client import ClientError, NodeClient
from node.keyfile import read_key
from node.ledger.queries import GetAccountAssets, GetBlock
from node.tools.testnet import CUSTOMER_BALANCES, TestnetNode, free_port_base, init_testnet, start_node, write_manifest
from node.tools.testnet_control import stop, wait_healthy

FAST_BLOCK = {"batch_wait_ms": 20, "max_block_interval_ms": 500}
FAST_CONSENSUS = {"propose_timeout_ms": 1000, "prevote_timeout_ms": 300, "precommit_timeout_ms": 300,
                  "timeout_delta_ms": 200}
KINDS = ("kill_validator", "pause_validator", "isolate", "kill_observer", "restart_all", "kill_mid_commit")
COMMIT_POINTS = ("before_write", "during_write", "after_write")
RECOVERY_LIMIT_S = 10.0
RECOVERY_WAIT_S = 30.0
ACCOUNTS = 200
BYZANTINE_NODE = "wing"
COUNTERS_LINE = "BYZANTINE COUNTERS "
BANNER = "BYZANTINE TEST MODE"


@dataclass
class ChaosOptions:
    duration: float = 120.0
    seed: int = 1
    rate: float = 200.0
    json_path: str | None = None
    directory: str | None = None
    keep: bool = False
    byzantine: str = ""
    """A ``[testing] byzantine`` mode for validator "wing" during the whole campaign ("" for none)."""


@dataclass
class LoadState:
    """What the load thread saw, per pre-signed transaction index."""

    accepted: set[int] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    committed_answers: dict[int, int] = field(default_factory=dict)  # index -> height an API answered
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Campaign:
    def __init__(self, opts: ChaosOptions) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.dir = Path(opts.directory) if opts.directory else Path(tempfile.mkdtemp(prefix="bakong-chaos-"))
        self.nodes: list[TestnetNode] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.live: set[str] = set()  # nodes the load and the probes may talk to
        self.live_lock = threading.Lock()
        self.load = LoadState()
        self.stop_load = threading.Event()
        self.perturbations: list[dict[str, Any]] = []
        if opts.byzantine not in BYZANTINE_MODES:
            raise ValueError(f"--byzantine must be one of {', '.join(m for m in BYZANTINE_MODES if m)}")
        self.byzantine = BYZANTINE_NODE if opts.byzantine else None

    # ---- network ----

    def setup(self) -> None:
        n = 5
        api, p2p = free_port_base(n), free_port_base(n)
        while abs(api - p2p) < n:
            p2p = free_port_base(n)
        self.nodes = init_testnet(self.dir, validators=4, observers=1, base_port=api, p2p_base_port=p2p,
                                  extra_accounts=ACCOUNTS, block=FAST_BLOCK)
        for node in self.nodes:
            with node.config.open("a") as f:
                f.write("\n[consensus]\n" + "".join(f"{k} = {v}\n" for k, v in FAST_CONSENSUS.items()))
                f.write("\n[testing]\nfault_injection = true\n")
                if node.name == self.byzantine:
                    f.write(f'byzantine = "{self.opts.byzantine}"\n')
        for node in self.nodes:
            self._start(node)
        wait_healthy(self.nodes, self.procs, self.dir)
        self.live = {n.name for n in self.nodes}

    def _start(self, node: TestnetNode) -> None:
        self.procs[node.name] = start_node(self.dir, node)
        write_manifest(self.dir, self.nodes, {k: p.pid for k, p in self.procs.items() if p.poll() is None})

    def _client(self, node: TestnetNode, timeout: float = 2.0) -> NodeClient:
        return NodeClient(node.api_url, timeout=timeout)

    def _live_nodes(self) -> list[TestnetNode]:
        with self.live_lock:
            return [n for n in self.nodes if n.name in self.live]

    def _honest_live_nodes(self) -> list[TestnetNode]:
        """Where the load and the status probes go: a Byzantine node's answers prove nothing."""
        return [n for n in self._live_nodes() if n.name != self.byzantine]

    def _set_live(self, name: str, up: bool) -> None:
        with self.live_lock:
            (self.live.add if up else self.live.discard)(name)

    def heights(self) -> dict[str, int]:
        out = {}
        for n in self._live_nodes():
            try:
                out[n.name] = int(self._client(n, 1.0).status()["height"])
            except (ClientError, KeyError, ValueError):
                pass
        return out

    def max_height(self) -> int:
        return max(self.heights().values(), default=0)

    # ---- load ----

    def load_loop(self, encoded: list[bytes], hashes: list[str]) -> None:
        rate = self.opts.rate
        t0 = time.monotonic()
        i = 0
        rr = 0
        while not self.stop_load.is_set() and i < len(encoded):
            due = min(len(encoded), int((time.monotonic() - t0) * rate) + 1)
            if due <= i:
                time.sleep(0.02)
                continue
            batch = list(range(i, min(due, i + 500)))
            live = self._honest_live_nodes()
            if not live:
                time.sleep(0.1)
                continue
            node = live[rr % len(live)]
            rr += 1
            try:
                code, payload = self._client(node)._request(
                    "POST", "/v1/transactions", {"transactions": [encoded[j].hex() for j in batch]})
            except ClientError as exc:
                self.load.errors[exc.code] += 1
                time.sleep(0.1)
                continue  # the same batch again, on the next live node
            if code >= 300 or not isinstance(payload, dict) or "results" not in payload:
                err = payload.get("error", {}).get("code", str(code)) if isinstance(payload, dict) else str(code)
                self.load.errors[err] += 1
                time.sleep(0.2)
                continue
            with self.load.lock:
                for j, res in zip(batch, payload["results"]):
                    status = res.get("status")
                    if status == st.STATELESS_VALIDATION_SUCCESS or res.get("error_code") == "replay":
                        self.load.accepted.add(j)
                    elif status == st.COMMITTED:
                        self.load.accepted.add(j)
                        self.load.committed_answers[j] = int(res["height"])
                    else:
                        self.load.refused[res.get("error_code") or str(status)] += 1
                self.load.sent = batch[-1] + 1
            i = batch[-1] + 1

    def status_poller(self, hashes: list[str]) -> None:
        """Asks a sample of accepted transactions' status; records every COMMITTED answer and its height."""
        rng = random.Random(self.opts.seed + 1)
        while not self.stop_load.is_set():
            with self.load.lock:
                pool = [j for j in self.load.accepted if j not in self.load.committed_answers]
            live = self._honest_live_nodes()
            if not pool or not live:
                time.sleep(0.2)
                continue
            for j in rng.sample(pool, min(20, len(pool))):
                node = rng.choice(live)
                try:
                    res = self._client(node, 1.0).tx_status(hashes[j])
                except ClientError:
                    continue
                if res.get("status") == st.COMMITTED:
                    with self.load.lock:
                        self.load.committed_answers[j] = int(res["height"])
            time.sleep(0.1)

    # ---- perturbations ----

    def _node(self, name: str) -> TestnetNode:
        return next(n for n in self.nodes if n.name == name)

    def _kill(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        self._set_live(name, False)
        if proc.poll() is None:
            proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _restart(self, names: list[str]) -> None:
        for name in names:
            self._start(self._node(name))
        nodes = [self._node(n) for n in names]
        wait_healthy(nodes, {n: self.procs[n] for n in names}, self.dir, timeout=60)
        for name in names:
            self._set_live(name, True)

    def perturb(self, kind: str) -> dict[str, Any]:
        # Perturbations hit honest nodes: the Byzantine one stays at work for the whole campaign.
        validators = [n.name for n in self.nodes if n.role == "validator" and n.name != self.byzantine]
        observers = [n.name for n in self.nodes if n.role == "observer"]
        before = self.max_height()
        hold = self.rng.uniform(2.0, 4.0)
        record: dict[str, Any] = {"kind": kind, "t_s": round(time.monotonic() - self.t0, 2), "hold_s": round(hold, 2)}
        if kind in ("kill_validator", "kill_observer"):
            name = self.rng.choice(validators if kind == "kill_validator" else observers)
            record["node"] = name
            self._kill(name, signal.SIGKILL)
            time.sleep(hold)
            end = time.monotonic()
            self._restart([name])
        elif kind == "pause_validator":
            name = self.rng.choice(validators)
            record["node"] = name
            self._kill(name, signal.SIGSTOP)
            time.sleep(hold)
            self.procs[name].send_signal(signal.SIGCONT)
            end = time.monotonic()
            self._set_live(name, True)
        elif kind == "isolate":
            name = self.rng.choice(validators + observers)
            record["node"] = name
            client = self._client(self._node(name))
            client._ok(*client._request("POST", "/v1/testing/isolate", {"isolated": True}))
            time.sleep(hold)
            client._ok(*client._request("POST", "/v1/testing/isolate", {"isolated": False}))
            end = time.monotonic()
        elif kind == "kill_mid_commit":
            name = self.rng.choice(validators + observers)
            point = self.rng.choice(COMMIT_POINTS)
            record["node"], record["point"] = name, point
            client = self._client(self._node(name))
            client._ok(*client._request("POST", "/v1/testing/crash-at-commit", {"point": point}))
            self._set_live(name, False)
            try:  # it dies at its next commit: within a heartbeat interval
                self.procs[name].wait(timeout=15)
                record["exit"] = self.procs[name].returncode
            except subprocess.TimeoutExpired:
                record["exit"] = None
            self._kill(name, signal.SIGKILL)
            time.sleep(hold)
            end = time.monotonic()
            self._restart([name])
        elif kind == "restart_all":
            record["hold_s"] = 0.0  # stopped, then started again at once
            names = [n.name for n in self.nodes]
            for name in names:
                self._set_live(name, False)
                self.procs[name].send_signal(signal.SIGTERM)
            for name in names:
                try:
                    self.procs[name].wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.procs[name].kill()
                    self.procs[name].wait()
            end = time.monotonic()
            self._restart(names)
        else:
            raise ValueError(kind)
        base = self.max_height()
        record["advanced_during_hold"] = base > before
        deadline = end + RECOVERY_WAIT_S
        recovered = None
        while time.monotonic() < deadline:
            if self.max_height() > base:
                recovered = time.monotonic() - end
                break
            time.sleep(0.05)
        record["recovery_s"] = round(recovered, 2) if recovered is not None else None
        return record

    # ---- end checks ----

    def evidence_names(self) -> tuple[Counter[str], list[str]]:
        """Validators named in the evidence the honest nodes recorded, with counts; and the honest nodes
        whose ``GET /v1/evidence`` failed (then nobody can tell whom they blame)."""
        names: Counter[str] = Counter()
        unreadable: list[str] = []
        for n in self.nodes:
            if n.name == self.byzantine:
                continue
            try:
                code, body = self._client(n, 60.0)._request("GET", "/v1/evidence")
            except ClientError as exc:
                code, body = exc.code, None
            if code == 200 and isinstance(body, dict):
                names.update(str(e.get("name")) for e in body.get("evidence", []))
            else:
                unreadable.append(f"{n.name}: HTTP {code}")
        return names, unreadable

    def byzantine_counters(self) -> dict[str, int]:
        """What the Byzantine node did, summed over its process lives (each logs running totals every
        few seconds: the last few seconds before a kill are not counted)."""
        if self.byzantine is None:
            return {}
        total: Counter[str] = Counter()
        last: dict[str, int] = {}
        log_text = (self.dir / "logs" / f"{self.byzantine}.log").read_text(errors="replace")
        for line in log_text.splitlines():
            if BANNER in line:
                total.update(last)
                last = {}
            elif COUNTERS_LINE in line:
                try:
                    last = json.loads(line.split(COUNTERS_LINE, 1)[1])
                except ValueError:
                    pass
        total.update(last)
        return dict(sorted(total.items()))

    def check(self, hashes: list[str]) -> dict[str, Any]:
        admin = read_key(self.dir / "keys" / "admin@nbc.key")
        clients = {n.name: self._client(n, 10.0) for n in self.nodes}
        heights = {name: int(c.status()["height"]) for name, c in clients.items()}
        top = min(heights.values())
        forks = 0
        chain: dict[str, tuple[int, str]] = {}  # tx hash -> (height, "committed" | "rejected")
        occurrences: Counter[str] = Counter()
        for h in range(1, top + 1):
            blocks = {name: c.query("admin@nbc", admin, GetBlock(h))["block"] for name, c in clients.items()}
            if len({(b["hash"], b["state_root"]) for b in blocks.values()}) != 1:
                forks += 1
            block = blocks[self.nodes[0].name]
            rejected = set(block["rejected"])
            for tx in block["transactions"]:
                occurrences[tx["hash"]] += 1
                chain[tx["hash"]] = (h, "rejected" if tx["hash"] in rejected else "committed")
        # Heads keep moving (heartbeat blocks), so sample until one snapshot finds every node on the same
        # head: a node one block behind at the instant of asking is not a divergence (forks counts those).
        deadline = time.monotonic() + 10.0
        while True:
            heads = [c.status() for c in clients.values()]
            state_roots = {(h["height"], h["state_root"]) for h in heads}
            if len(state_roots) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        heights = {name: int(h["height"]) for name, h in zip(clients, heads)}
        index = {h: j for j, h in enumerate(hashes)}
        lost_committed = sum(1 for j, h in self.load.committed_answers.items()
                             if chain.get(hashes[j]) != (h, "committed"))
        duplicated = sum(1 for tx, k in occurrences.items() if k > 1 and tx in index)
        committed = sum(1 for j in self.load.accepted if chain.get(hashes[j], (0, ""))[1] == "committed")
        rejected = sum(1 for j in self.load.accepted if chain.get(hashes[j], (0, ""))[1] == "rejected")
        missing = [j for j in self.load.accepted if hashes[j] not in chain]
        lost_uncommitted, unresolved = 0, 0
        probe = clients[self.nodes[0].name]
        for j in missing:
            status = probe.tx_status(hashes[j])["status"]
            if status == st.NOT_RECEIVED:
                lost_uncommitted += 1
            else:
                unresolved += 1
        accounts = bench_accounts(self.dir)[:ACCOUNTS]
        totals: Counter[str] = Counter()
        negative = 0
        for acc in accounts:
            for a in probe.query("admin@nbc", admin, GetAccountAssets(acc, 10, None))["assets"]:
                minor = int(a["balance"].replace(".", ""))
                totals[a["asset_id"]] += minor
                negative += minor < 0
        expected = {asset: int(v.replace(".", "")) * len(accounts) for asset, v in CUSTOMER_BALANCES.items()}
        return {
            "heights": heights, "checked_heights": top, "forks": forks,
            "state_roots_equal": forks == 0 and len(state_roots) == 1 and len(set(heights.values())) == 1,
            "submitted": self.load.sent, "accepted": len(self.load.accepted),
            "refused_at_submission": dict(self.load.refused), "submit_errors": dict(self.load.errors),
            "committed": committed, "rejected_in_block": rejected,
            "committed_answers_checked": len(self.load.committed_answers),
            "lost_committed": lost_committed, "duplicated_committed": duplicated,
            "lost_uncommitted": lost_uncommitted, "unresolved": unresolved,
            "money_conserved": dict(totals) == expected, "negative_balances": negative,
            "final_height": max(heights.values()),
        }

    # ---- run ----

    def run(self) -> dict[str, Any]:
        opts = self.opts
        byz = f", {self.byzantine} Byzantine ({opts.byzantine})" if self.byzantine else ""
        print(f"chaos: testnet in {self.dir}, seed {opts.seed}, {opts.rate:g} TPS for {opts.duration:g} s{byz}",
              flush=True)
        self.setup()
        key = read_key(self.dir / "keys" / "bench.key")
        accounts = bench_accounts(self.dir)[:ACCOUNTS]
        n = int(opts.rate * (opts.duration + 60)) + 100  # restarts let the schedule fall behind: spare
        work = build_workload(n, accounts, key, invalid_share=0.02, seed=opts.seed, now_ms=int(time.time() * 1000))
        loader = threading.Thread(target=self.load_loop, args=(work.encoded, work.hashes), daemon=True)
        poller = threading.Thread(target=self.status_poller, args=(work.hashes,), daemon=True)
        self.t0 = time.monotonic()
        start_height = self.max_height()
        loader.start()
        poller.start()
        time.sleep(min(2.0, opts.duration / 5))
        deck: list[str] = []
        while time.monotonic() - self.t0 < opts.duration:
            if not deck:  # every kind once per round, in a seeded order
                deck = list(KINDS)
                self.rng.shuffle(deck)
            kind = deck.pop()
            rec = self.perturb(kind)
            self.perturbations.append(rec)
            where = f" at {rec['point']} (exit {rec['exit']})" if "point" in rec else ""
            print(f"  [{rec['t_s']:7.1f}s] {kind:16} {rec.get('node', 'all'):8} hold {rec['hold_s']:.1f}s "
                  f"recovery {rec['recovery_s']}s{where}", flush=True)
            time.sleep(self.rng.uniform(0.5, 2.0))
        self.stop_load.set()
        loader.join(timeout=15)
        poller.join(timeout=15)
        # drain: wait until every node has the same head and mempools are empty (or 30 s)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                sts = [self._client(n, 2.0).status() for n in self.nodes]
            except ClientError:
                time.sleep(0.5)
                continue
            if all(s["mempool_size"] == 0 for s in sts) and len({s["height"] for s in sts}) == 1:
                time.sleep(1.0)  # one more heartbeat so every node holds the same head
                sts = [self._client(n, 2.0).status() for n in self.nodes]
                if len({s["block_hash"] for s in sts}) == 1:
                    break
            time.sleep(0.5)
        result = self.check(work.hashes)
        result["start_height"] = start_height
        result["heights_advanced"] = result["final_height"] > start_height
        names, unreadable = self.evidence_names()
        result["byzantine"] = opts.byzantine or None
        result["byzantine_node"] = self.byzantine
        result["byzantine_counters"] = self.byzantine_counters()
        result["evidence_by_validator"] = dict(names)
        result["evidence_naming_honest"] = sum(k for name, k in names.items() if name != BYZANTINE_NODE)
        result["evidence_unreadable"] = unreadable
        recoveries = [p["recovery_s"] for p in self.perturbations]
        result["perturbations"] = len(self.perturbations)
        result["perturbations_by_kind"] = dict(Counter(p["kind"] for p in self.perturbations))
        result["max_recovery_s"] = (max((r for r in recoveries if r is not None), default=0.0)
                                    if all(r is not None for r in recoveries) else None)
        result["recoveries_s"] = recoveries
        result["perturbation_log"] = self.perturbations
        # A commit crash that did not happen (the node outlived its next commit) is a broken injection.
        result["commit_crashes"] = sum(1 for p in self.perturbations if p.get("exit") == -signal.SIGKILL)
        result["commit_crashes_missed"] = sum(1 for p in self.perturbations
                                              if "point" in p and p.get("exit") != -signal.SIGKILL)
        result["seed"], result["duration_s"], result["rate_tps"] = opts.seed, opts.duration, opts.rate
        result["ok"] = (result["forks"] == 0 and result["lost_committed"] == 0 and result["duplicated_committed"] == 0
                        and result["state_roots_equal"] and result["unresolved"] == 0
                        and result["lost_uncommitted"] == 0 and result["money_conserved"]
                        and result["negative_balances"] == 0 and result["commit_crashes_missed"] == 0
                        and result["heights_advanced"] and result["evidence_naming_honest"] == 0
                        and not result["evidence_unreadable"]
                        and result["max_recovery_s"] is not None
                        and result["max_recovery_s"] <= RECOVERY_LIMIT_S)
        return result

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
        stop(self.procs.values())
        if not self.opts.keep and not self.opts.directory:
            shutil.rmtree(self.dir, ignore_errors=True)


def print_summary(r: dict[str, Any]) -> None:
    if r["byzantine"]:
        print(f"byzantine {r['byzantine_node']} in mode {r['byzantine']}: {r['byzantine_counters']}")
        print(f"evidence by validator {r['evidence_by_validator']}  naming an honest one {r['evidence_naming_honest']}"
              f"  unreadable {r['evidence_unreadable']}")
    print(f"perturbations {r['perturbations']} {r['perturbations_by_kind']}")
    print(f"txs submitted {r['submitted']}  accepted {r['accepted']}  committed {r['committed']}  "
          f"rejected in block {r['rejected_in_block']}  refused at submission {sum(r['refused_at_submission'].values())}")
    print(f"lost_committed {r['lost_committed']}  duplicated_committed {r['duplicated_committed']}  "
          f"lost_uncommitted {r['lost_uncommitted']}  unresolved {r['unresolved']}  "
          f"(COMMITTED answers checked: {r['committed_answers_checked']})")
    print(f"heights checked {r['checked_heights']}  forks {r['forks']}  state_roots_equal {r['state_roots_equal']}  "
          f"money_conserved {r['money_conserved']}  negative_balances {r['negative_balances']}")
    print(f"kills inside a block commit {r['commit_crashes']} (missed {r['commit_crashes_missed']})")
    print(f"max_recovery_s {r['max_recovery_s']}  recoveries {r['recoveries_s']}")
    print(f"heights {r['start_height']} -> {r['final_height']} (advanced {r['heights_advanced']})")
    print("RESULT: " + ("OK" if r["ok"] else "FAILED"))


def run_chaos(opts: ChaosOptions) -> int:
    campaign = Campaign(opts)
    try:
        result = campaign.run()
    finally:
        campaign.close()
    print_summary(result)
    if opts.json_path:
        Path(opts.json_path).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["ok"] else 1
