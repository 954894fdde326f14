"""Agreement, validity, certificates and liveness over schedules chosen by hypothesis (n in 4..10).

Each example is one deterministic simulated run (``consensus.sim``). Safety must hold in every run;
liveness is checked against a deadline computed from the timeouts, counted from the moment the network
is healed and every crashed node has restarted. The ``ci`` profile runs a bounded, derandomized number
of examples; ``HYPOTHESIS_PROFILE=long`` runs thousands.
"""

from hypothesis import given, note, settings

from consensus.sim import checks
from consensus.sim.scenario import Fault, Scenario
from consensus.sim.simulator import simulate
from tests.consensus.strategies import scenarios

# Per-test example counts scale with the profile: a fraction of it for the costlier families.
PROFILE_EXAMPLES = settings().max_examples


def assert_safe_and_live(scenario: Scenario) -> None:
    result = simulate(scenario)
    note(f"{scenario}\nended at t={result.end_time:.2f} after {result.events} events; "
         f"deadline {checks.liveness_deadline(result):.2f}")
    assert checks.safety_violations(result) == []
    assert checks.liveness_violations(result) == []


@settings(max_examples=PROFILE_EXAMPLES)
@given(scenarios(faults=[]))
def test_honest_validators_agree_and_commit_despite_loss_duplicates_partitions_and_crashes(
        scenario: Scenario) -> None:
    assert_safe_and_live(scenario)


@settings(max_examples=PROFILE_EXAMPLES)
@given(scenarios())
def test_up_to_f_byzantine_validators_break_neither_safety_nor_liveness(scenario: Scenario) -> None:
    assert_safe_and_live(scenario)


@settings(max_examples=PROFILE_EXAMPLES)
@given(scenarios(faults=[Fault.TWIN], crashes=False, max_n=7).filter(lambda s: len(s.faults) > 0))
def test_twins_within_the_fault_bound_never_fork_the_chain(scenario: Scenario) -> None:
    assert_safe_and_live(scenario)


@settings(max_examples=max(10, PROFILE_EXAMPLES // 4))
@given(scenarios(faults=[Fault.EQUIVOCATING_PROPOSER, Fault.DOUBLE_VOTER], crashes=False, max_n=7))
def test_equivocators_with_relaying_honest_nodes_are_caught_without_harm(scenario: Scenario) -> None:
    from dataclasses import replace
    assert_safe_and_live(replace(scenario, relay=True))
