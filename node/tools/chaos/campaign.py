"""``bakong chaos``: a fault campaign on a fresh 4-validator + 1-observer testnet under steady load.

The run has three phases:

1. setup: write a testnet (fast block and round timeouts, ``[testing] fault_injection = true`` on every
   node; ``network``), start each node as its own process, pre-sign transfers between funded bench
   accounts and start submitting them at ``--rate`` TPS from a background thread (``load``);
2. perturbation loop: until ``--duration`` is up, apply one fault at a time (``perturbations``: kill,
   pause, isolate or restart nodes, or kill one inside a block commit), every kind once per round in an
   order drawn from ``random.Random(seed)``, and time the recovery after each;
3. teardown: stop the load, drain until every node holds the same head with empty mempools, read the
   end state (``observe``), judge it (``invariants``), stop the nodes.

With ``--byzantine MODE`` one validator ("wing") runs ``[testing] byzantine = MODE`` (``mixed`` is the
whole repertoire) for the whole campaign: the faults then pick only honest nodes (``restart_all``
restarts it too, in the same mode), the load and the status probes use only honest nodes, and the end
checks add that evidence names no honest validator.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.api.client import ClientError
from node.config import BYZANTINE_MODES
from node.keyfile import read_key
from node.tools.bench.workload import bench_accounts, build_workload
from node.tools.chaos import invariants as inv
from node.tools.chaos import observe
from node.tools.chaos.load import SteadyLoad
from node.tools.chaos.network import ACCOUNTS, BYZANTINE_NODE, ChaosNet
from node.tools.chaos.perturbations import KINDS, perturb
from node.tools.testnet import CUSTOMER_BALANCES

DRAIN_S = 30.0
SPARE_LOAD_S = 60  # restarts let the load fall behind its schedule: pre-sign this many seconds more


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


class Campaign:
    def __init__(self, opts: ChaosOptions) -> None:
        if opts.byzantine not in BYZANTINE_MODES:
            raise ValueError(f"--byzantine must be one of {', '.join(m for m in BYZANTINE_MODES if m)}")
        self.opts = opts
        self.rng = random.Random(opts.seed)
        directory = Path(opts.directory) if opts.directory else Path(tempfile.mkdtemp(prefix="bakong-chaos-"))
        self.net = ChaosNet(directory, opts.byzantine)
        self.perturbations: list[dict[str, Any]] = []
        self.t0 = 0.0

    def run(self) -> dict[str, Any]:
        opts = self.opts
        byz = f", {self.net.byzantine} Byzantine ({opts.byzantine})" if self.net.byzantine else ""
        print(f"chaos: testnet in {self.net.dir}, seed {opts.seed}, {opts.rate:g} TPS for {opts.duration:g} s{byz}",
              flush=True)
        load = self._setup()
        self.t0 = time.monotonic()
        start_height = self.net.max_height()
        load.start()
        self._perturbation_loop()
        load.stop()
        self._drain()
        return self._judge(load, start_height)

    def close(self) -> None:
        self.net.close(remove=not self.opts.keep and not self.opts.directory)

    # ---- the three phases ----

    def _setup(self) -> SteadyLoad:
        self.net.write()
        self.net.start_all()
        key = read_key(self.net.dir / "keys" / "bench.key")
        accounts = bench_accounts(self.net.dir)[:ACCOUNTS]
        n = int(self.opts.rate * (self.opts.duration + SPARE_LOAD_S)) + 100
        work = build_workload(n, accounts, key, invalid_share=0.02, seed=self.opts.seed,
                              now_ms=int(time.time() * 1000))
        return SteadyLoad(self.net, work.encoded, work.hashes, self.opts.rate, self.opts.seed)

    def _perturbation_loop(self) -> None:
        time.sleep(min(2.0, self.opts.duration / 5))  # let the load reach the chain before the first fault
        deck: list[str] = []
        while time.monotonic() - self.t0 < self.opts.duration:
            if not deck:  # every kind once per round, in a seeded order
                deck = list(KINDS)
                self.rng.shuffle(deck)
            kind = deck.pop()
            rec = perturb(self.net, self.rng, kind, self.t0)
            self.perturbations.append(rec)
            where = f" at {rec['point']} (exit {rec['exit']})" if "point" in rec else ""
            print(f"  [{rec['t_s']:7.1f}s] {kind:16} {rec.get('node', 'all'):8} hold {rec['hold_s']:.1f}s "
                  f"recovery {rec['recovery_s']}s{where}", flush=True)
            time.sleep(self.rng.uniform(0.5, 2.0))

    def _drain(self) -> None:
        """Wait until every node has the same head and empty mempools (or ``DRAIN_S``)."""
        nodes = self.net.nodes
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            try:
                sts = [self.net.client(n, 2.0).status() for n in nodes]
            except ClientError:
                time.sleep(0.5)
                continue
            if all(s["mempool_size"] == 0 for s in sts) and len({s["height"] for s in sts}) == 1:
                time.sleep(1.0)  # one more heartbeat so every node holds the same head
                try:
                    sts = [self.net.client(n, 2.0).status() for n in nodes]
                except ClientError:  # slow, not gone: ask again
                    continue
                if len({s["block_hash"] for s in sts}) == 1:
                    break
            time.sleep(0.5)

    def _judge(self, load: SteadyLoad, start_height: int) -> dict[str, Any]:
        """Read the end state and build the result; field order follows the JSON earlier runs wrote."""
        net, opts, state, hashes = self.net, self.opts, load.state, load.hashes
        admin = read_key(net.dir / "keys" / "admin@nbc.key")
        view = observe.read_chain(net, admin)
        probe = net.client(net.nodes[0], 10.0)
        missing = [hashes[j] for j in state.accepted if hashes[j] not in view.placed]
        accounts = bench_accounts(net.dir)[:ACCOUNTS]
        opening = {asset: int(v.replace(".", "")) for asset, v in CUSTOMER_BALANCES.items()}
        heights = {name: h for name, (h, _root) in view.heads.items()}
        final_height = max(heights.values())
        result: dict[str, Any] = {"heights": heights, "checked_heights": view.checked_heights}
        result |= inv.no_fork(view)
        result |= {"submitted": state.sent, "accepted": len(state.accepted),
                   "refused_at_submission": dict(state.refused), "submit_errors": dict(state.errors)}
        result |= inv.outcomes(state.accepted, hashes, view)
        result |= inv.committed_answers_kept(state.committed_answers, hashes, view)
        result |= inv.no_duplicate(hashes, view)
        result |= inv.nothing_accepted_lost(observe.statuses(probe, missing))
        result |= inv.money_conserved(observe.balances(probe, admin, accounts), opening, len(accounts))
        result["final_height"] = final_height
        result |= inv.heights_advanced(start_height, final_height)
        names, unreadable = observe.evidence_names(net)
        result |= {"byzantine": opts.byzantine or None, "byzantine_node": net.byzantine,
                   "byzantine_counters": observe.byzantine_counters(net), "evidence_by_validator": dict(names)}
        result |= inv.evidence_names_only_byzantine(names, BYZANTINE_NODE)
        result["evidence_unreadable"] = unreadable
        recoveries = [p["recovery_s"] for p in self.perturbations]
        result |= {"perturbations": len(self.perturbations),
                   "perturbations_by_kind": dict(Counter(p["kind"] for p in self.perturbations))}
        result |= inv.recovered_in_time(recoveries)
        result |= {"recoveries_s": recoveries, "perturbation_log": self.perturbations}
        result |= inv.commit_crashes_fired(self.perturbations)
        result |= {"seed": opts.seed, "duration_s": opts.duration, "rate_tps": opts.rate}
        result["ok"] = not inv.failures(result)
        return result


def print_summary(r: dict[str, Any]) -> None:
    if r["byzantine"]:
        print(f"byzantine {r['byzantine_node']} in mode {r['byzantine']}: {r['byzantine_counters']}")
        print(f"evidence by validator {r['evidence_by_validator']}  naming an honest one {r['evidence_naming_honest']}"
              f"  unreadable {r['evidence_unreadable']}")
    print(f"perturbations {r['perturbations']} {r['perturbations_by_kind']}")
    refused = sum(r["refused_at_submission"].values())
    print(f"txs submitted {r['submitted']}  accepted {r['accepted']}  committed {r['committed']}  "
          f"rejected in block {r['rejected_in_block']}  refused at submission {refused}")
    print(f"lost_committed {r['lost_committed']}  duplicated_committed {r['duplicated_committed']}  "
          f"lost_uncommitted {r['lost_uncommitted']}  unresolved {r['unresolved']}  "
          f"(COMMITTED answers checked: {r['committed_answers_checked']})")
    print(f"heights checked {r['checked_heights']}  forks {r['forks']}  state_roots_equal {r['state_roots_equal']}  "
          f"money_conserved {r['money_conserved']}  negative_balances {r['negative_balances']}")
    print(f"kills inside a block commit {r['commit_crashes']} (missed {r['commit_crashes_missed']})")
    print(f"max_recovery_s {r['max_recovery_s']}  recoveries {r['recoveries_s']}")
    print(f"heights {r['start_height']} -> {r['final_height']} (advanced {r['heights_advanced']})")
    broken = inv.failures(r)
    print("RESULT: " + ("OK" if not broken else f"FAILED ({', '.join(broken)})"))


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

