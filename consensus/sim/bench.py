"""Simulator throughput: heights committed per CPU-second, for n = 4 and n = 10.

    python -m consensus.sim.bench [--heights 200] [--json results.json]

An honest cluster on a quiet virtual network, so the figure is the cost of the engines themselves
(every node's handling of every message, signing, and the simulator's bookkeeping) before any real
network is added. Two rows per n: with signature checks shared across the simulated nodes (the
protocol logic alone), and with every node verifying every message as a real node would. CPU time is
the whole simulated cluster's; divide by n for one node's share.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass

from consensus.sim.scenario import Scenario
from consensus.sim.simulator import simulate


@dataclass(frozen=True)
class Measurement:
    """One benchmark row."""

    n: int
    """Validators."""
    shared_signature_checks: bool
    """Whether signature checks were memoised across nodes."""
    heights: int
    """Heights every node committed."""
    cpu_seconds: float
    """Process CPU time of the run."""
    events: int
    """Simulator events processed."""

    @property
    def heights_per_cpu_second(self) -> float:
        return self.heights / self.cpu_seconds


def measure(n: int, heights: int, shared: bool, seed: int = 1) -> Measurement:
    scenario = Scenario(n=n, seed=seed, heights=heights, shared_signature_checks=shared, time_limit=1e9)
    start = time.process_time()
    result = simulate(scenario)
    elapsed = time.process_time() - start
    if not result.finished:
        raise SystemExit(f"n={n}: the cluster did not commit {heights} heights")
    return Measurement(n, shared, heights, elapsed, result.events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heights", type=int, default=200, help="heights per run (default 200)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    rows = [measure(n, args.heights, shared) for n in (4, 10) for shared in (True, False)]
    print(f"simulator throughput ({platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}), {args.heights} heights per run")
    print(f"{'n':>3}  {'signature checks':<18} {'heights/CPU-s':>14} {'ms/height':>10} {'events':>9}")
    for row in rows:
        mode = "shared (protocol)" if row.shared_signature_checks else "per node (real)"
        print(f"{row.n:>3}  {mode:<18} {row.heights_per_cpu_second:>14.1f} "
              f"{1000 * row.cpu_seconds / row.heights:>10.2f} {row.events:>9}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([asdict(r) | {"heights_per_cpu_second": r.heights_per_cpu_second} for r in rows], out, indent=2)


if __name__ == "__main__":
    main()
