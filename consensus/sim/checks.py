"""The properties a simulated run must have, as functions returning violations (empty: it holds).

Returning violations instead of asserting lets the negative control show that a check *can* fail.
"Honest" means a node whose validator is not faulty; crashed-and-restarted nodes are honest, so
agreement and evidence checks also test safety across restarts.

- ``safety_violations``: agreement, validity (proposed and valid: within the size limit, not marked
  invalid or malformed), certificates that verify (one signature per signer, a quorum), evidence that
  names only faulty validators and survives an encode/decode round trip, honest conduct;
- ``liveness_violations``: every height committed by a deadline computed from the timeouts;
- ``memory_violations``: every honest engine's bytes per signer below ``memory.MemoryBound``.
"""

from __future__ import annotations

from consensus import codec
from consensus.crypto import hash_bytes
from consensus.evidence import Evidence
from consensus.messages import Step
from consensus.sim.byzantine import is_valid_value
from consensus.sim.memory import MemoryBound
from consensus.sim.simulator import SimResult


def agreement_violations(result: SimResult) -> list[str]:
    """No two honest nodes commit different values at one height."""
    violations = []
    heights = {h for node in result.honest_nodes for h in node.chain}
    for height in sorted(heights):
        values = {node.chain[height].value for node in result.honest_nodes if height in node.chain}
        if len(values) > 1:
            violations.append(f"height {height}: honest nodes committed {len(values)} different values")
    return violations


def validity_violations(result: SimResult) -> list[str]:
    """Every value an honest node commits was proposed and is valid."""
    violations = []
    for node in result.honest_nodes:
        for height, commit in sorted(node.chain.items()):
            if commit.value not in result.proposed:
                violations.append(f"node {node.node_id} height {height}: committed a value never proposed")
            elif not is_valid_value(commit.value):
                violations.append(f"node {node.node_id} height {height}: committed an invalid value")
    return violations


def certificate_violations(result: SimResult) -> list[str]:
    """Every honest commit carries a certificate for that height and value that verifies."""
    violations = []
    for node in result.honest_nodes:
        for height, commit in sorted(node.chain.items()):
            cert = commit.certificate
            if cert.height != height or cert.value_id != hash_bytes(commit.value):
                violations.append(f"node {node.node_id} height {height}: certificate for another block")
            elif not cert.is_valid(result.scenario.chain_id, result.validators):
                violations.append(f"node {node.node_id} height {height}: certificate does not verify")
    return violations


def conduct_violations(result: SimResult) -> list[str]:
    """Evidence only names faulty validators; honest engines persist before sending and never have a
    signature refused by their own safety record (which would mean their state contradicts it)."""
    faulty_keys = {result.validators.keys[i] for i in result.scenario.faults}
    violations = [f"node {reporter} accused an honest validator" for reporter, evidence in result.evidence
                  if evidence.validator not in faulty_keys]
    for node in result.honest_nodes:
        if node.engine is not None and node.engine.counters.refused_to_sign:
            violations.append(f"node {node.node_id}: its safety record refused a signature")
        if node.unpersisted_broadcasts:
            violations.append(f"node {node.node_id}: sent {node.unpersisted_broadcasts} unpersisted messages")
    return violations


def evidence_violations(result: SimResult) -> list[str]:
    """Every piece of evidence reported verifies and decodes back to itself (anyone can check it)."""
    violations = []
    chain_id = result.scenario.chain_id
    for reporter, evidence in result.evidence:
        try:
            decoded = Evidence.decode(evidence.encode())
        except codec.CodecError as error:
            violations.append(f"node {reporter}: evidence does not decode ({error})")
            continue
        if decoded != evidence or not decoded.is_valid(chain_id):
            violations.append(f"node {reporter}: evidence does not verify")
    return violations


def memory_bound(result: SimResult) -> MemoryBound:
    """The bound of the run (see ``consensus.sim.memory``), from its rounds reached and largest value."""
    return MemoryBound(n=result.scenario.n, max_future_heights=result.limits.max_future_heights,
                       max_proposals_per_round=result.limits.max_proposals_per_round,
                       rounds=result.max_round + 1, max_value_bytes=result.max_value_bytes)


def memory_violations(result: SimResult, bound: MemoryBound | None = None) -> list[str]:
    """No honest engine keeps more bytes for a validator than the bound, or any byte for an outsider."""
    limit = (bound or memory_bound(result)).bytes_per_signer
    members = set(result.validators.keys)
    violations = []
    for node in result.honest_nodes:
        for signer, used in sorted(node.memory_peak.items()):
            allowed = limit if signer in members else 0
            if used > allowed:
                who = "validator" if signer in members else "non-member"
                violations.append(f"node {node.node_id} kept {used} bytes of {who} {signer.hex()[:8]}"
                                  f" (bound {allowed})")
    return violations


def liveness_deadline(result: SimResult) -> float:
    """Latest acceptable commit of the last height: generous, but finite and computed from the timeouts.

    After the network is stable a height needs at most f + 1 rounds to reach a correct proposer and
    one more to overcome locks; ``n + 2`` rounds per height is a safe upper bound for any f <= (n-1)/3.
    The first height may start in the round the nodes had reached while the network was bad.
    """
    s = result.scenario
    t = s.timeouts

    def round_cost(r: int) -> float:
        steps = sum(t.duration(step, r) for step in Step)
        return steps + 8 * s.network.max_delay + 2 * s.gossip_interval + s.build_delay + s.validate_delay

    rounds = s.n + 2
    catch_up = sum(round_cost(r) for r in range(result.stable_round, result.stable_round + rounds))
    per_height = sum(round_cost(r) for r in range(rounds))
    return s.stable_time + catch_up + s.heights * per_height


def liveness_violations(result: SimResult) -> list[str]:
    """With at most f faulty and a stable network, every honest node commits every height in time."""
    deadline = liveness_deadline(result)
    violations = []
    for node in result.honest_nodes:
        missing = [h for h in range(1, result.scenario.heights + 1) if h not in node.chain]
        if missing:
            violations.append(f"node {node.node_id}: heights {missing} not committed by t={result.end_time:.2f}")
        elif node.chain[result.scenario.heights].time > deadline:
            violations.append(f"node {node.node_id}: last commit at {node.chain[result.scenario.heights].time:.2f}"
                              f" after the deadline {deadline:.2f}")
    return violations


def safety_violations(result: SimResult) -> list[str]:
    """Everything that must hold whatever the number of faults (f+1 twins can break agreement)."""
    return (agreement_violations(result) + validity_violations(result) + certificate_violations(result)
            + conduct_violations(result) + evidence_violations(result))
