"""Agreement, validity, certificates and liveness over schedules chosen by hypothesis (n in 4..10).

Each example is one deterministic simulated run (``consensus.sim``). Safety must hold in every run;
liveness is checked against a deadline computed from the timeouts, counted from the moment the network
is healed and every crashed node has restarted. A simulated run costs milliseconds, so each test runs
``SCALE`` times the profile's example count: 200 under ``ci`` (derandomized), 10,000 under ``long``.
"""

from dataclasses import replace

from hypothesis import given, note, settings

from consensus.sim import checks
from consensus.sim.scenario import Fault, Scenario
from consensus.sim.simulator import simulate
from tests.consensus.strategies import scenarios

SCALE = 5
EXAMPLES = settings().max_examples * SCALE


def assert_safe_and_live(scenario: Scenario) -> None:
    result = simulate(scenario)
    note(f"{scenario}\nended at t={result.end_time:.2f} after {result.events} events; "
         f"deadline {checks.liveness_deadline(result):.2f}")
    assert checks.safety_violations(result) == []
    assert checks.liveness_violations(result) == []


@settings(max_examples=EXAMPLES)
@given(scenarios(faults=[]))
def test_honest_validators_agree_and_commit_despite_loss_duplicates_partitions_and_crashes(
        scenario: Scenario) -> None:
    assert_safe_and_live(scenario)


@settings(max_examples=EXAMPLES)
@given(scenarios())
def test_up_to_f_byzantine_validators_break_neither_safety_nor_liveness(scenario: Scenario) -> None:
    assert_safe_and_live(scenario)


@settings(max_examples=EXAMPLES)
# GST of at least 1 s: drawn from 0, a partition often healed before the first round timeout (about
# 2,000 of 10,000 long-profile runs had one lasting over 1 s), so it tested far less than its name says.
@given(scenarios(all_f=True, partitioned=True, min_gst_ms=1000))
def test_f_byzantine_validators_and_a_partition_until_gst_break_neither_safety_nor_liveness(
        scenario: Scenario) -> None:
    assert_safe_and_live(scenario)


@settings(max_examples=EXAMPLES)
@given(scenarios(faults=[Fault.TWIN], all_f=True))
def test_twins_within_the_fault_bound_never_fork_the_chain(scenario: Scenario) -> None:
    assert_safe_and_live(scenario)


@settings(max_examples=EXAMPLES)
@given(scenarios(faults=[Fault.EQUIVOCATING_PROPOSER, Fault.DOUBLE_VOTER], all_f=True, max_n=7))
def test_equivocators_seen_by_relaying_honest_nodes_change_nothing_but_the_evidence(scenario: Scenario) -> None:
    assert_safe_and_live(replace(scenario, relay=True))
