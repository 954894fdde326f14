"""The checks can fail: with one fault more than tolerated, or an engine that keeps everything.

If these tests ever pass vacuously (no fork with the fault bound exceeded, no stall with f+1 silent
validators, no memory violation from an engine told to buffer without bound), the property suite
would be unable to see a fork, a stall or a leak either, so its green result would mean nothing.
"""

import dataclasses

from hypothesis import HealthCheck, Phase, find, settings

from consensus.engine import EngineLimits
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


def test_f_plus_one_silent_validators_stall_the_chain() -> None:
    result = simulate(Scenario(n=4, seed=1, heights=2, faults={0: Fault.SILENT, 3: Fault.SILENT}, time_limit=30.0))
    assert checks.liveness_violations(result) != [] and checks.safety_violations(result) == []


def test_an_engine_allowed_to_buffer_without_bound_fails_the_memory_check() -> None:
    limits = EngineLimits()
    if any(f.name == "max_buffered_bytes_per_signer" for f in dataclasses.fields(limits)):
        limits = dataclasses.replace(limits, max_buffered_bytes_per_signer=2**40)
    result = simulate(Scenario(n=4, seed=1, heights=3, faults={2: Fault.FLOODER}, engine_limits=limits))
    assert checks.memory_violations(result) != []
