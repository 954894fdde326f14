"""Agreement, validity, certificates, liveness and bounded memory over schedules chosen by hypothesis.

Each example is one deterministic simulated run (``consensus.sim``) with n in 4..10, up to f faulty
validators drawn from the whole Byzantine repertoire (``consensus.sim.byzantine``: equivocation, one
distinct vote per peer, re-signed votes, amnesia, floods of future-height messages, oversized and
malformed proposals, withholding, lying block sync, twins), crashes, losses, duplicates and partitions.
Safety must hold in every run; liveness is checked against a deadline computed from the timeouts,
counted from the moment the network is healed and every crashed node has restarted; every honest
engine's bytes per signer stay under ``consensus.sim.memory.MemoryBound`` (0 for non-members).
A simulated run costs milliseconds, so each test runs ``SCALE`` times the profile's example count:
200 under ``ci`` (derandomized), 10,000 under ``long``; flood runs cost more and run a quarter of that.
"""

from dataclasses import replace

from hypothesis import given, note, settings

from consensus.sim import checks
from consensus.sim.scenario import Fault, Scenario
from consensus.sim.simulator import simulate
from tests.consensus.strategies import LOCK_ATTACKS, scenarios

SCALE = 5
EXAMPLES = settings().max_examples * SCALE


def assert_safe_live_and_bounded(scenario: Scenario) -> None:
    result = simulate(scenario)
    note(f"{scenario}\nended at t={result.end_time:.2f} after {result.events} events; "
         f"deadline {checks.liveness_deadline(result):.2f}; memory bound {checks.memory_bound(result)}")
    assert checks.safety_violations(result) == []
    assert checks.liveness_violations(result) == []
    assert checks.memory_violations(result) == []


@settings(max_examples=EXAMPLES)
@given(scenarios(faults=[]))
def test_honest_validators_agree_and_commit_despite_loss_duplicates_partitions_and_crashes(
        scenario: Scenario) -> None:
    assert_safe_live_and_bounded(scenario)


@settings(max_examples=EXAMPLES)
@given(scenarios())
def test_up_to_f_byzantine_validators_break_neither_safety_nor_liveness(scenario: Scenario) -> None:
    assert_safe_live_and_bounded(scenario)


@settings(max_examples=EXAMPLES)
# GST of at least 1 s: drawn from 0, a partition often healed before the first round timeout (about
# 2,000 of 10,000 long-profile runs had one lasting over 1 s), so it tested far less than its name says.
@given(scenarios(all_f=True, partitioned=True, min_gst_ms=1000))
def test_f_byzantine_validators_and_a_partition_until_gst_break_neither_safety_nor_liveness(
        scenario: Scenario) -> None:
    assert_safe_live_and_bounded(scenario)


@settings(max_examples=EXAMPLES)
@given(scenarios(faults=[Fault.TWIN], all_f=True))
def test_twins_within_the_fault_bound_never_fork_the_chain(scenario: Scenario) -> None:
    assert_safe_live_and_bounded(scenario)


@settings(max_examples=EXAMPLES)
@given(scenarios(faults=[Fault.EQUIVOCATING_PROPOSER, Fault.DOUBLE_VOTER], all_f=True, max_n=7))
def test_equivocators_seen_by_relaying_honest_nodes_change_nothing_but_the_evidence(scenario: Scenario) -> None:
    assert_safe_live_and_bounded(replace(scenario, relay=True))


@settings(max_examples=EXAMPLES)
@given(scenarios(faults=LOCK_ATTACKS, all_f=True, max_n=7))
def test_f_validators_splitting_polkas_or_forgetting_locks_break_neither_safety_nor_liveness(
        scenario: Scenario) -> None:
    assert_safe_live_and_bounded(scenario)


@settings(max_examples=max(EXAMPLES // 4, 10))
@given(scenarios(faults=[Fault.FLOODER, Fault.BAD_PROPOSER, Fault.RESIGNER], all_f=True, max_n=7))
def test_floods_of_future_heights_and_oversized_proposals_keep_memory_per_signer_bounded(
        scenario: Scenario) -> None:
    assert_safe_live_and_bounded(scenario)


@settings(max_examples=EXAMPLES)
# Crashes and partitions make lagging nodes, the ones a lying block-sync answer is aimed at.
@given(scenarios(faults=[Fault.LYING_SYNC, Fault.SILENT], all_f=True, max_n=7))
def test_lying_block_sync_answers_are_refused(scenario: Scenario) -> None:
    assert_safe_live_and_bounded(scenario)
