"""Deterministic regressions for the bugs review found with a Byzantine validator (no hypothesis).

- Bug 2: a validator that sends three distinct prevotes to three peers made one honest node lock on
  a polka the others could never count (they kept only two of its votes): the height stalled.
- Bug 3: a precommit re-signed with a fresh Ed25519 nonce was a "conflict": both signatures went into
  the commit certificate (refused: duplicate_signer) and the evidence did not decode.
- Bug 5: future-height messages were buffered before any check, by count, not deduplicated.
"""

import random

from consensus.actions import Commit
from consensus.certificate import CommitCertificate
from consensus.crypto import KeyPair, hash_bytes
from consensus.engine import Engine
from consensus.events import MessageReceived, ValueValidated
from consensus.evidence import Evidence
from consensus.messages import Prevote, sign_precommit, sign_prevote, sign_proposal
from consensus.sim import checks
from consensus.sim.byzantine import resigned
from consensus.sim.memory import MemoryBound, memory_by_signer
from consensus.sim.network import NetworkConfig
from consensus.sim.scenario import Fault, Scenario
from consensus.sim.simulator import simulate
from tests.consensus.helpers import CHAIN, KEYS, feed, started

VALUE = b"block one"
VID = hash_bytes(VALUE)
MIB = 1024 * 1024

# Found by a seed search on 02865ef: at height 2, round 0, validator 3 sends prevotes for the proposal,
# nil and a phantom to nodes 1, 0 and 2. Node 1 locks on the proposal with 3 prevotes; nodes 0 and 2
# keep two of validator 3's votes, neither for that value, and count 2: on 02865ef no commit in 600
# virtual seconds (round 49 and counting). With two votes per slot (DOUBLE_VOTER) it commits at once.
BUG2 = Scenario(n=4, seed=9, heights=2, faults={3: Fault.MULTI_VOTER},
                network=NetworkConfig(max_delay=0.03, gst=1.0), time_limit=600.0)


def test_three_distinct_prevotes_to_three_peers_cannot_stall_a_height() -> None:
    result = simulate(BUG2)
    round0 = {peer: m.value_id for peer, m in result.nodes[3].sent
              if isinstance(m, Prevote) and (m.height, m.round) == (2, 0)}
    assert sorted(round0) == [0, 1, 2] and len(set(round0.values())) == 3  # the schedule still happens
    assert checks.safety_violations(result) == [] and result.finished
    rounds = [node.chain[2].round for node in result.honest_nodes]
    assert max(rounds) <= BUG2.n + 2, f"height 2 committed in rounds {rounds}"


def test_the_same_schedule_with_two_votes_per_slot_commits() -> None:
    result = simulate(Scenario(n=4, seed=9, heights=2, faults={3: Fault.DOUBLE_VOTER},
                               network=BUG2.network, time_limit=600.0))
    assert result.finished and checks.safety_violations(result) == []


def test_a_precommit_re_signed_with_a_fresh_nonce_is_one_vote_in_the_certificate() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, MessageReceived(sign_proposal(KEYS[1], CHAIN, 1, 0, VALUE, -1)), ValueValidated(1, VID, True))
    feed(engine, *[MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, 0, VID)) for i in (1, 2, 3)])
    signed = sign_precommit(KEYS[3], CHAIN, 1, 0, VID)
    again = resigned(signed, KEYS[3], CHAIN, random.Random(3))
    assert again.signature != signed.signature
    actions = feed(engine, MessageReceived(signed), MessageReceived(again),
                   MessageReceived(sign_precommit(KEYS[1], CHAIN, 1, 0, VID)))
    commits = [a for a in actions if isinstance(a, Commit)]
    assert len(commits) == 1
    certificate = commits[0].certificate
    certificate.verify(CHAIN, engine.validators)  # type: ignore[arg-type]
    signers = [key for key, _ in certificate.signatures]
    assert len(signers) == len(set(signers)) == 3
    assert CommitCertificate.decode(certificate.encode()) == certificate
    for evidence in engine.evidence:
        assert Evidence.decode(evidence.encode()) == evidence


def test_re_signed_votes_in_the_simulator_leave_verifiable_certificates_and_decodable_evidence() -> None:
    for seed in range(3):
        result = simulate(Scenario(n=4, seed=seed, heights=3, faults={2: Fault.RESIGNER}))
        assert checks.certificate_violations(result) == []
        assert checks.evidence_violations(result) == []
        assert checks.safety_violations(result) == [] and checks.liveness_violations(result) == []


def _flood(engine: Engine, key: KeyPair, value: bytes, rounds: range) -> None:
    """Proposals of ``key`` for heights 2 and 3 in ``rounds``, each also re-sent and re-signed."""
    rng = random.Random(5)
    for height in (2, 3):
        for round_ in rounds:
            proposal = sign_proposal(key, CHAIN, height, round_, value, -1)
            feed(engine, *[MessageReceived(m) for m in (proposal, proposal, resigned(proposal, key, CHAIN, rng))])


def test_hundreds_of_one_mib_future_proposals_from_a_non_member_are_not_kept() -> None:
    engine, _ = started(KEYS[0])
    outsider = KeyPair.from_seed(b"\x77" * 32)
    _flood(engine, outsider, b"\x01" * MIB, range(150))
    assert memory_by_signer(engine).get(outsider.public_key, 0) == 0


def test_hundreds_of_one_mib_future_proposals_from_a_member_keep_its_memory_bounded() -> None:
    engine, _ = started(KEYS[0])
    # Validator 1 proposes at (2, r) for r = 3, 7, ... and at (3, r) for r = 2, 6, ...: every fourth
    # round passes the proposer check, so this is ~75 acceptable proposals and ~225 others, 1 MiB each.
    _flood(engine, KEYS[1], b"\x02" * MIB, range(150))
    bound = MemoryBound(n=4, max_future_heights=engine.limits.max_future_heights,
                        max_proposals_per_round=engine.limits.max_proposals_per_round, rounds=1,
                        max_value_bytes=MIB)
    used = memory_by_signer(engine).get(KEYS[1].public_key, 0)
    assert used <= bound.bytes_per_signer, f"{used / MIB:.1f} MiB kept for one signer"


def test_one_future_proposal_received_many_times_is_kept_once() -> None:
    engine, _ = started(KEYS[0])
    proposal = sign_proposal(KEYS[3], CHAIN, 2, 1, b"\x03" * MIB, -1)  # validator 3 proposes (2, 1)
    rng = random.Random(7)
    feed(engine, *[MessageReceived(proposal) for _ in range(50)],
         *[MessageReceived(resigned(proposal, KEYS[3], CHAIN, rng)) for _ in range(50)])
    assert memory_by_signer(engine).get(KEYS[3].public_key, 0) <= MIB + 1024
