"""The admission pipeline against the attacks of issue 14 (findings 1, 3, 6 and 7), on a real LevelDB
ledger. Nothing here times anything: signature work is counted (``VerifiedSignatures.verifications``).

- Junk from made-up creators, or signed by keys that are not the creator's signatories, is refused
  at intake (STATELESS_VALIDATION_FAILED) before any signature is verified, so it is never queued,
  never takes a creator's mempool share and is never stored in a block.
- A third party who copies Alice's payload and signs it cannot put that copy in the pool in place of
  hers; a valid copy with other signatories' signatures is merged into the queued one.
- Copies of a badly signed transaction cost one verification pass, and a request's verifications
  are bounded by its budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.intake.admission import Admission, IntakeCounters, Source, Verdict, VerificationBudget
from node.intake.mempool import Mempool
from node.ledger import commands as c
from node.ledger.transactions import Transaction, build_transaction
from tests.ledger_world import KHR, Chain, key

ALICE, BOB = "alice@aclb", "bob@aclb"


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    world = Chain(tmp_path / "db")
    yield world
    world.close()


def admission_for(chain: Chain, pool: Mempool | None = None, bad_peers: list[int] | None = None) -> Admission:
    counters = IntakeCounters(bad_from_peer=lambda: bad_peers.append(1) if bad_peers is not None else None)
    return Admission(chain.ledger, pool or Mempool(1000, 1 << 24), chain.chain_id, counters)


def payment(chain: Chain, creator: str = ALICE, signers: tuple[KeyPair, ...] | None = None,
            memo: str = "rent") -> Transaction:
    return chain.tx(creator, c.TransferAsset(creator, BOB, KHR, memo, "1.00"), signers=signers)


def signed_by(tx: Transaction, *signers: KeyPair) -> Transaction:
    """The same payload (so the same hash) with another signature set."""
    return build_transaction(tx.payload, *signers)


def with_bad_signature(tx: Transaction, signer: KeyPair, garbage: bytes) -> Transaction:
    """``tx`` plus a signature by ``signer`` (a real key) over the wrong bytes."""
    bad = signer.sign(garbage)
    return Transaction(tx.payload, tx.payload_bytes, (*tx.signatures, (signer.public_key, bad)), tx.hash)


def give_signatories(chain: Chain, account: str, count: int) -> list[KeyPair]:
    extra = [key(f"{account}-device-{i}") for i in range(count)]
    [result] = chain.run(chain.tx(account, *(c.AddSignatory(account, k.public_key) for k in extra)))
    assert result.status == "COMMITTED", result
    return extra


# ---- findings 1 and 6: junk from made-up creators and strangers' keys ----

def test_a_transaction_from_a_creator_that_does_not_exist_is_refused_before_any_signature_check(chain: Chain) -> None:
    ghost = payment(chain, "ghost@aclb", signers=(key("ghost@aclb"),))
    admission = admission_for(chain)
    [outcome] = admission.admit([ghost.encode()], chain.now, Source.CLIENT)
    assert (outcome.verdict, outcome.error_code) == (Verdict.INVALID, "no_such_account")
    assert outcome.status == "STATELESS_VALIDATION_FAILED"
    assert len(admission.mempool) == 0 and chain.ledger.verified.verifications == 0


def test_a_transaction_signed_by_a_key_that_is_not_the_creators_is_refused_not_a_signatory(chain: Chain) -> None:
    forged = payment(chain, signers=(key("mallory"),))
    admission = admission_for(chain)
    [outcome] = admission.admit([forged.encode()], chain.now, Source.CLIENT)
    assert (outcome.verdict, outcome.error_code) == (Verdict.INVALID, "not_a_signatory")
    assert len(admission.mempool) == 0 and chain.ledger.verified.verifications == 0


def test_fewer_signatures_than_the_creators_quorum_are_refused_at_intake(chain: Chain) -> None:
    phone = key("alice-phone")
    [setup] = chain.run(chain.tx(ALICE, c.AddSignatory(ALICE, phone.public_key), c.SetAccountQuorum(ALICE, 2)))
    assert setup.status == "COMMITTED"
    [outcome] = admission_for(chain).admit([payment(chain).encode()], chain.now, Source.CLIENT)
    assert (outcome.verdict, outcome.error_code) == (Verdict.INVALID, "quorum_not_met")


def test_a_peer_forwarding_junk_from_made_up_creators_is_counted_as_a_bad_peer(chain: Chain) -> None:
    bad_peers: list[int] = []
    admission = admission_for(chain, bad_peers=bad_peers)
    junk = [payment(chain, f"ghost{i}@aclb", signers=(key(f"ghost{i}"),)).encode() for i in range(3)]
    outcomes = admission.admit(junk, chain.now, Source.PEER)
    assert {o.error_code for o in outcomes} == {"no_such_account"} and len(bad_peers) == 3
    assert len(admission.mempool) == 0


def test_junk_claiming_alices_account_cannot_use_up_her_share_of_the_pool(chain: Chain) -> None:
    pool = Mempool(1000, 1 << 24, max_per_account=3)
    admission = admission_for(chain, pool)
    junk = [payment(chain, signers=(key(f"attacker-{i}"),), memo=f"junk{i}").encode() for i in range(10)]
    assert {o.error_code for o in admission.admit(junk, chain.now, Source.CLIENT)} == {"not_a_signatory"}
    real = [payment(chain, memo=f"real{i}").encode() for i in range(3)]
    assert [o.verdict for o in admission.admit(real, chain.now, Source.CLIENT)] == [Verdict.QUEUED] * 3


# ---- finding 7: a third party cannot void a payment ----

@pytest.mark.parametrize("attack", ["replaced", "added"])
def test_a_copy_signed_by_a_stranger_arriving_first_does_not_take_the_genuine_ones_place(
        chain: Chain, attack: str) -> None:
    genuine = payment(chain)
    forged = (signed_by(genuine, key("mallory")) if attack == "replaced"
              else signed_by(genuine, key(ALICE), key("mallory")))
    assert forged.hash == genuine.hash
    admission = admission_for(chain)
    [first] = admission.admit([forged.encode()], chain.now, Source.PEER)
    assert (first.verdict, first.error_code) == (Verdict.INVALID, "not_a_signatory")
    [second] = admission.admit([genuine.encode()], chain.now, Source.CLIENT)
    assert second.verdict is Verdict.QUEUED
    queued = admission.mempool.peek(10)
    assert queued == [genuine]
    [result] = chain.run(*queued)
    assert result.status == "COMMITTED"


def test_a_copy_with_other_signatories_signatures_is_merged_into_the_queued_one(chain: Chain) -> None:
    [phone] = give_signatories(chain, ALICE, 1)
    by_alice = payment(chain)
    by_phone = signed_by(by_alice, phone)
    admission = admission_for(chain)
    assert admission.admit([by_alice.encode()], chain.now, Source.CLIENT)[0].verdict is Verdict.QUEUED
    [again] = admission.admit([by_phone.encode()], chain.now, Source.PEER)
    assert again.verdict is Verdict.ALREADY_QUEUED
    [merged] = admission.mempool.peek(10)
    assert merged.hash == by_alice.hash
    assert {pk for pk, _sig in merged.signatures} == {key(ALICE).public_key, phone.public_key}
    assert admission.mempool.by_bytes(merged.encode()) is merged
    [result] = chain.run(merged)
    assert result.status == "COMMITTED"


def test_a_badly_signed_copy_of_a_queued_transaction_leaves_the_queued_one_as_it_was(chain: Chain) -> None:
    [phone] = give_signatories(chain, ALICE, 1)
    genuine = payment(chain)
    admission = admission_for(chain)
    admission.admit([genuine.encode()], chain.now, Source.CLIENT)
    bad = with_bad_signature(signed_by(genuine), phone, b"not the payload")
    [outcome] = admission.admit([bad.encode()], chain.now, Source.CLIENT)
    assert (outcome.verdict, outcome.error_code) == (Verdict.INVALID, "bad_signature")
    assert admission.mempool.peek(10) == [genuine]


# ---- finding 3: signature CPU amplification ----

def amplifier(chain: Chain, valid: list[KeyPair], bad_signer: KeyPair, garbage: bytes = b"x") -> Transaction:
    """Alice's payment signed by ``valid`` keys and, last, a bad signature by ``bad_signer``."""
    tx = payment(chain, signers=(key(ALICE), *valid))
    return with_bad_signature(tx, bad_signer, garbage)


def test_copies_of_a_badly_signed_transaction_are_verified_once_per_node(chain: Chain) -> None:
    devices = give_signatories(chain, ALICE, 8)
    tx = amplifier(chain, devices[:7], devices[7])
    admission = admission_for(chain)
    verified = chain.ledger.verified
    before = verified.verifications
    outcomes = admission.admit([tx.encode()] * 64, chain.now, Source.CLIENT)
    assert {o.error_code for o in outcomes} == {"bad_signature"}
    assert verified.verifications - before == 9, "one pass over the 9 signatures, however many copies"
    # a later request (or a peer) sending the same copy again: the failure is remembered
    again = admission.admit([bytes(tx.encode())], chain.now, Source.PEER)
    assert again[0].error_code == "bad_signature" and verified.verifications - before == 9


def test_a_request_cannot_make_the_node_verify_more_than_its_budget(chain: Chain) -> None:
    devices = give_signatories(chain, ALICE, 8)
    copies = [amplifier(chain, devices[:7], devices[7], garbage=bytes([i])) for i in range(100)]
    assert len({tx.encode() for tx in copies}) == 100  # every copy distinct: no cache can help
    admission = admission_for(chain)
    verified = chain.ledger.verified
    before = verified.verifications
    budget = VerificationBudget.for_items(len(copies))
    outcomes = []
    for start in range(0, len(copies), 64):  # one budget across the slices of one request, as the API does
        outcomes += admission.admit([tx.encode() for tx in copies[start:start + 64]], chain.now, Source.CLIENT,
                                    budget)
    spent = verified.verifications - before
    assert spent <= VerificationBudget.for_items(len(copies)).left < 9 * len(copies)
    over = [o for o in outcomes if o.verdict is Verdict.OVER_BUDGET]
    assert over and all(o.error_code == "verification_budget" and o.status == "NOT_RECEIVED" for o in over)
    # and an honest payment in a request of its own still goes in
    [fine] = admission.admit([payment(chain, memo="honest").encode()], chain.now, Source.CLIENT)
    assert fine.verdict is Verdict.QUEUED


def test_an_honest_request_of_payments_stays_well_within_its_budget(chain: Chain) -> None:
    txs = [payment(chain, memo=f"p{i}").encode() for i in range(64)]
    budget = VerificationBudget.for_items(len(txs))
    outcomes = admission_for(chain).admit(txs, chain.now, Source.CLIENT, budget)
    assert all(o.verdict is Verdict.QUEUED for o in outcomes)
    assert budget.left == VerificationBudget.BASE + (VerificationBudget.PER_ITEM - 1) * len(txs)


def test_repeated_bytes_in_one_request_are_decoded_and_checked_once(chain: Chain) -> None:
    tx = payment(chain)
    admission = admission_for(chain)
    outcomes = admission.admit([tx.encode()] * 5, chain.now, Source.CLIENT)
    assert [o.verdict for o in outcomes] == [Verdict.QUEUED] + [Verdict.ALREADY_QUEUED] * 4
    assert chain.ledger.verified.verifications == 1



def test_a_forged_copys_refusal_is_not_remembered_as_the_status_of_the_hash(chain: Chain) -> None:
    genuine = payment(chain)
    remembered: list[bytes] = []
    admission = Admission(chain.ledger, Mempool(100, 1 << 20), chain.chain_id,
                          remember_failure=lambda tx_hash, status: remembered.append(tx_hash))
    [forged] = admission.admit([signed_by(genuine, key("mallory")).encode()], chain.now, Source.CLIENT)
    assert forged.error_code == "not_a_signatory" and remembered == []
    ghost = payment(chain, "ghost@aclb", signers=(key("ghost@aclb"),))
    admission.admit([ghost.encode()], chain.now, Source.CLIENT)
    assert remembered == [ghost.hash], "a payload's own fault is remembered for clients polling by hash"
