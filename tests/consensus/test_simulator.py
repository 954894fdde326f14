"""The simulator itself: reproducible, and its Byzantine behaviours really misbehave."""

from consensus.messages import Step
from consensus.sim import checks
from consensus.sim.network import NetworkConfig
from consensus.sim.scenario import Crash, Fault, Scenario
from consensus.sim.simulator import simulate

NOISY = NetworkConfig(drop_rate=0.3, duplicate_rate=0.2, gst=2.0,
                      partition=(frozenset({0, 1}), frozenset({2, 3, 4, 5, 6})))


def fingerprint(scenario: Scenario) -> tuple[object, ...]:
    result = simulate(scenario)
    chains = tuple(tuple(sorted((h, c.value, c.time) for h, c in node.chain.items())) for node in result.nodes)
    return chains, result.events, result.end_time, len(result.evidence)


def test_the_same_seed_gives_the_same_run() -> None:
    scenario = Scenario(n=7, seed=11, heights=3, faults={1: Fault.TWIN, 5: Fault.DOUBLE_VOTER},
                        crashes=(Crash(3, 0.5, 1.5),), network=NOISY)
    assert fingerprint(scenario) == fingerprint(scenario)


def test_another_seed_gives_another_run() -> None:
    scenario = Scenario(n=7, seed=11, heights=3, network=NOISY)
    assert fingerprint(scenario) != fingerprint(Scenario(n=7, seed=12, heights=3, network=NOISY))


def test_a_double_voter_is_named_in_evidence_by_relaying_honest_nodes() -> None:
    result = simulate(Scenario(n=4, seed=3, heights=3, faults={2: Fault.DOUBLE_VOTER}, relay=True))
    assert checks.safety_violations(result) == [] and checks.liveness_violations(result) == []
    named = {evidence.validator for _, evidence in result.evidence}
    assert named == {result.validators.keys[2]}
    assert all(e.kind is not Step.PROPOSE for _, e in result.evidence)


def test_an_equivocating_proposer_is_named_in_evidence_by_relaying_honest_nodes() -> None:
    # Validator 0 proposes at height 4, round 0 (proposer index (height + round) mod n).
    result = simulate(Scenario(n=4, seed=5, heights=4, faults={0: Fault.EQUIVOCATING_PROPOSER}, relay=True))
    assert checks.safety_violations(result) == [] and checks.liveness_violations(result) == []
    proposals = [e for _, e in result.evidence if e.kind is Step.PROPOSE]
    assert proposals and {e.validator for e in proposals} == {result.validators.keys[0]}


def test_a_crashed_validator_comes_back_from_its_record_and_catches_up() -> None:
    result = simulate(Scenario(n=4, seed=9, heights=4, crashes=(Crash(1, 0.05, 1.0),)))
    assert checks.safety_violations(result) == [] and checks.liveness_violations(result) == []
    assert len(result.nodes[1].chain) == 4


def test_a_silent_validator_within_the_bound_only_slows_the_others_down() -> None:
    result = simulate(Scenario(n=4, seed=1, heights=5, faults={3: Fault.SILENT}))
    assert checks.safety_violations(result) == [] and checks.liveness_violations(result) == []
    assert result.nodes[3].chain == {}


def test_re_gossip_is_lazy_and_never_sent_to_oneself() -> None:
    # A healthy network makes progress at every gossip tick: nobody re-sends anything.
    healthy = simulate(Scenario(n=4, seed=3, heights=40))
    assert healthy.finished and healthy.end_time > 4 * healthy.scenario.gossip_interval
    assert healthy.regossiped == {}
    # Lossy until GST: stalled nodes re-send, to the others only, and the run still finishes.
    lossy = simulate(Scenario(n=4, seed=3, heights=3, network=NOISY))
    assert lossy.finished and sum(lossy.regossiped.values()) > 0
    assert all(src != dst for src, dst in lossy.regossiped)
