"""Hypothesis strategies for simulated runs: n, who is faulty and how, crashes, and the network."""

from __future__ import annotations

from hypothesis import strategies as st

from consensus.sim.network import NetworkConfig
from consensus.sim.scenario import Crash, Fault, Scenario

BYZANTINE = list(Fault)
"""The whole repertoire (consensus.sim.byzantine); a run mixes them, one per faulty validator."""
LOCK_ATTACKS = [Fault.MULTI_VOTER, Fault.AMNESIAC, Fault.WITHHOLDER, Fault.DOUBLE_VOTER, Fault.RESIGNER]
"""Faults that try to split honest views of a polka or to break locks."""


def seconds(low_ms: int, high_ms: int) -> st.SearchStrategy[float]:
    """Times as whole milliseconds: no NaN or denormal surprises, and they shrink well."""
    return st.integers(low_ms, high_ms).map(lambda ms: ms / 1000)


@st.composite
def scenarios(draw: st.DrawFn, *, faults: list[Fault] | None = None, beyond_bound: bool = False,
              all_f: bool = False, partitioned: bool | None = None, crashes: bool = True,
              max_heights: int = 4, min_n: int = 4, max_n: int = 10, min_gst_ms: int = 0) -> Scenario:
    """A run with 0..f faulty validators (exactly f with ``all_f``, f+1 with ``beyond_bound``) whose
    behaviours are drawn from ``faults``; ``partitioned`` forces a partition before GST on or off;
    ``min_gst_ms`` keeps the network (and any partition) unhealed at least that long."""
    n = draw(st.integers(min_n, max_n), label="n")
    f = (n - 1) // 3
    if beyond_bound:
        count = f + 1
    elif all_f:
        count = f
    else:  # the full budget half of the time: the interesting runs
        count = draw(st.one_of(st.just(f), st.integers(0, f)))
    kinds = faults if faults is not None else BYZANTINE
    faulty = draw(st.lists(st.integers(0, n - 1), min_size=count, max_size=count, unique=True))
    fault_map = {i: draw(st.sampled_from(kinds)) for i in faulty} if kinds else {}
    honest = [i for i in range(n) if i not in fault_map]
    crash_list: tuple[Crash, ...] = ()
    if crashes:
        crashed = draw(st.lists(st.sampled_from(honest), max_size=2, unique=True))
        crash_list = tuple(Crash(i, at, at + down) for i in crashed
                           for at, down in [(draw(seconds(0, 3000)), draw(seconds(10, 3000)))])
    node_count = n + sum(1 for fault in fault_map.values() if fault is Fault.TWIN)
    partition: tuple[frozenset[int], ...] = ()
    if partitioned if partitioned is not None else draw(st.booleans(), label="partitioned"):
        order = draw(st.permutations(range(node_count)))
        cut = draw(st.integers(1, node_count - 1))
        partition = (frozenset(order[:cut]), frozenset(order[cut:]))
    network = NetworkConfig(
        min_delay=0.001,
        max_delay=draw(seconds(2, 50)),
        pre_gst_max_delay=0.3,
        drop_rate=draw(st.sampled_from([0.0, 0.1, 0.3, 0.6])),
        duplicate_rate=draw(st.sampled_from([0.0, 0.1, 0.3])),
        gst=draw(seconds(min_gst_ms, 6000)),
        partition=partition,
    )
    return Scenario(n=n, seed=draw(st.integers(0, 2**32 - 1)), heights=draw(st.integers(2, max_heights)),
                    faults=fault_map, crashes=crash_list, network=network, time_limit=200.0)
