"""The agreement check can fail: with f+1 twins (one more fault than tolerated) forks are found.

If these tests ever pass vacuously (no fork with the fault bound exceeded), the property suite would
be unable to see a fork either, so its green result would mean nothing.
"""

from hypothesis import HealthCheck, Phase, find, settings

from consensus.sim import checks
from consensus.sim.network import NetworkConfig
from consensus.sim.scenario import Fault, Scenario
from consensus.sim.simulator import simulate
from tests.consensus.strategies import scenarios


def test_f_plus_one_twins_on_both_sides_of_a_partition_fork_the_chain() -> None:
    # n = 4 tolerates one fault; validators 0 and 1 both have twins (nodes 4 and 5). Each side of the
    # partition holds three distinct keys, a quorum, and decides on its own.
    network = NetworkConfig(gst=5.0, partition=(frozenset({0, 1, 2}), frozenset({4, 5, 3})))
    result = simulate(Scenario(n=4, seed=7, heights=2, faults={0: Fault.TWIN, 1: Fault.TWIN}, network=network,
                               time_limit=60.0))
    assert checks.agreement_violations(result) != []


def test_the_property_search_itself_finds_a_fork_when_the_fault_bound_is_exceeded() -> None:
    found = find(
        scenarios(faults=[Fault.TWIN], beyond_bound=True, crashes=False, max_heights=2, max_n=7),
        lambda s: checks.agreement_violations(simulate(s)) != [],
        settings=settings(max_examples=300, derandomize=True, database=None, phases=[Phase.generate],
                          suppress_health_check=list(HealthCheck)),
    )
    assert len(found.faults) > found.max_faulty
