"""Access control and abuse, on a real ledger (LevelDB) and the real consensus engine.

Only what other test files do not already show: test_execution.py covers a customer's mint and burn,
a transfer from another account without a grant, a signature by a non-signatory, a zeroed or
bit-flipped signature and the replay of a committed or rejected transaction; test_queries.py covers
reading another customer's account, non-signatory and zeroed-signature queries and stale or
other-chain queries; tests/consensus/test_engine.py counts one forged and one outsider prevote. Here:
escalation attempts, the limits of a grant, tampering after signing, replays in a new envelope, and
that votes from outsiders or in another validator's name can never decide a block.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from consensus.actions import Commit, ValidateValue
from consensus.crypto import hash_bytes
from consensus.events import MessageReceived, ValueValidated
from consensus.messages import (
    Domain,
    Precommit,
    Proposal,
    proposal_signing_body,
    sign_precommit,
    sign_prevote,
    sign_proposal,
    vote_signing_body,
)
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger.blocks import BlockHeader, make_block, tx_root
from node.ledger.errors import InvalidBlock, QueryError, StatelessError
from node.ledger.queries import (
    GetAccountAssets,
    GetAccountAssetTransactions,
    GetAccountDetail,
    GetBlock,
    QueryService,
    decode_query,
    sign_query,
)
from node.ledger.statuses import TxStatus
from node.ledger.transactions import build_transaction
from node.ledger.validation import VerifiedSignatures, validate_stateless
from tests.consensus.helpers import CHAIN as CONSENSUS_CHAIN
from tests.consensus.helpers import KEYS, feed, started
from tests.ledger_world import CHAIN, KHR, Chain, key

ALICE, BOB, CAROL, DAVE = "alice@aclb", "bob@aclb", "carol@abaa", "dave@aclb"


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def pay(src: str, dest: str, amount: str) -> c.TransferAsset:
    return c.TransferAsset(src, dest, KHR, "", amount)


def code_of(result) -> tuple[str, str | None]:
    return result.status, result.error_code


# ---- customers: no escalation, grants stay narrow ----

def test_customer_cannot_give_itself_the_central_bank_role_and_so_still_cannot_mint(chain: Chain) -> None:
    roles_before = chain.account(ALICE).roles
    for role in ("central_bank", "bank_admin", "superuser"):
        assert code_of(chain.run_one(ALICE, c.AppendRole(ALICE, role))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    assert chain.account(ALICE).roles == roles_before
    minted = chain.run_one(ALICE, c.AddAssetQuantity(KHR, "1000000.00"))
    assert code_of(minted) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    assert chain.balance(ALICE) == 100000


def test_customer_cannot_mint_inside_an_otherwise_valid_transaction(chain: Chain) -> None:
    """A mint hidden after a legitimate payment rejects the whole transaction: the payment is undone too."""
    result = chain.run_one(ALICE, pay(ALICE, BOB, "1"), c.AddAssetQuantity(KHR, "500.00"),
                           pay(ALICE, BOB, "2"))
    assert (result.status, result.command_index, result.error_code) == (TxStatus.REJECTED, 1, e.PERMISSION_DENIED)
    assert (chain.balance(ALICE), chain.balance(BOB)) == (100000, 0)


def test_a_grant_to_move_funds_does_not_let_the_grantee_take_over_the_account(chain: Chain) -> None:
    assert chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets")).status == TxStatus.COMMITTED
    signatories = chain.account(ALICE).signatories
    takeover = chain.run_one(BOB, c.AddSignatory(ALICE, key(BOB).public_key))
    assert code_of(takeover) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    assert code_of(chain.run_one(BOB, c.SetAccountQuorum(ALICE, 1))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    # Bob can pass on a grant only over his own account, so Dave gains nothing over Alice's.
    assert chain.run_one(BOB, c.GrantPermission(DAVE, "can_transfer_my_assets")).status == TxStatus.COMMITTED
    # Not transitive:
    assert code_of(chain.run_one(DAVE, pay(ALICE, DAVE, "1"))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    assert chain.account(ALICE).signatories == signatories


def test_a_grant_from_one_customer_does_not_reach_another_customers_funds(chain: Chain) -> None:
    chain.run_one(ALICE, pay(ALICE, CAROL, "5"))
    chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))
    assert code_of(chain.run_one(BOB, pay(CAROL, BOB, "1"))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    assert chain.balance(CAROL) == 500


def test_a_revoked_signatory_key_can_no_longer_move_funds(chain: Chain) -> None:
    phone = key("alice-phone")
    chain.run_one(ALICE, c.AddSignatory(ALICE, phone.public_key))
    assert chain.run_one(ALICE, pay(ALICE, BOB, "1"), signers=(phone,)).status == TxStatus.COMMITTED
    chain.run_one(ALICE, c.RemoveSignatory(ALICE, phone.public_key))
    assert chain.left_out(chain.tx(ALICE, pay(ALICE, BOB, "1"), signers=(phone,))) == e.NOT_A_SIGNATORY
    assert chain.balance(BOB) == 100


# ---- forged and replayed transactions ----

def test_a_transfer_whose_amount_is_raised_after_signing_is_refused(chain: Chain) -> None:
    honest = chain.tx(ALICE, pay(ALICE, BOB, "1"))
    raised = build_transaction(dataclasses.replace(honest.payload, commands=(pay(ALICE, BOB, "999"),)))
    forged = dataclasses.replace(raised, signatures=honest.signatures)
    with pytest.raises(StatelessError) as info:
        validate_stateless(forged, CHAIN, chain.now, VerifiedSignatures())
    assert info.value.code == "bad_signature"
    head = chain.ledger.head
    header = BlockHeader(head.height + 1, head.block_hash, chain.now + 1000, chain.proposer,
                         tx_root([forged]), head.state_root, ())
    with pytest.raises(InvalidBlock) as block_info:
        chain.ledger.validate_block(make_block(header, (forged,)))
    assert block_info.value.code == "bad_transaction_signature"
    assert chain.balance(BOB) == 0


def test_a_transaction_signed_by_another_customers_real_key_never_enters_a_block(chain: Chain) -> None:
    """Bob's key is a real account key, just not one of Alice's signatories: Bob cannot spend as Alice."""
    assert chain.left_out(chain.tx(ALICE, pay(ALICE, BOB, "10"), signers=(key(BOB),))) == e.NOT_A_SIGNATORY
    assert chain.balance(BOB) == 0


def test_a_committed_transfer_resubmitted_with_other_signatures_is_still_a_replay(chain: Chain) -> None:
    """The hash covers the payload, not the signatures: re-wrapping a committed payment changes nothing."""
    phone = key("alice-phone")
    chain.run_one(ALICE, c.AddSignatory(ALICE, phone.public_key))
    original = chain.tx(ALICE, pay(ALICE, BOB, "1"))
    assert chain.run(original)[0].status == TxStatus.COMMITTED
    rewrapped = build_transaction(original.payload, key(ALICE), phone)
    assert rewrapped.hash == original.hash and rewrapped.signatures != original.signatures
    block, _execution = chain.ledger.build_block([rewrapped], chain.now + 1000, chain.proposer)
    assert block.transactions == ()
    with pytest.raises(InvalidBlock) as info:
        chain.ledger.execute(chain.ledger.head.height + 1, chain.now + 1000, [rewrapped])
    assert info.value.code == "replayed_transaction"
    assert chain.balance(BOB) == 100


def test_a_transaction_for_this_chain_cannot_be_replayed_on_a_chain_with_another_id(tmp_path: Path) -> None:
    here = Chain(tmp_path / "here")
    there = Chain(tmp_path / "there", chain_id="bakong-other")
    try:
        tx = here.tx(ALICE, pay(ALICE, BOB, "1"))
        assert here.run(tx)[0].status == TxStatus.COMMITTED
        with pytest.raises(StatelessError) as info:
            validate_stateless(tx, there.chain_id, there.now, VerifiedSignatures())
        assert info.value.code == "wrong_chain"
        head = there.ledger.head
        header = BlockHeader(head.height + 1, head.block_hash, there.now + 1000, there.proposer,
                             tx_root([tx]), head.state_root, ())
        with pytest.raises(InvalidBlock) as refused:
            there.ledger.validate_block(make_block(header, (tx,)))
        assert refused.value.code == "wrong_chain"
        assert there.balance(BOB) == 0
    finally:
        here.close()
        there.close()


# ---- queries ----

def ask(chain: Chain, signed) -> dict:
    return QueryService(chain.ledger).answer(decode_query(signed.encode()), chain.now)


def test_customer_cannot_read_another_customers_details_history_or_blocks(chain: Chain) -> None:
    chain.run_one(BOB, c.SetAccountDetail(BOB, "phone", "+855-12-111"))
    chain.run_one(ALICE, pay(ALICE, BOB, "1"))
    queries = (GetAccountDetail(BOB, None, None), GetAccountAssetTransactions(BOB, KHR, 10, None),
               GetBlock(1))
    for query in queries:
        with pytest.raises(QueryError) as err:
            ask(chain, sign_query(CHAIN, ALICE, chain.now, 1, query, key(ALICE)))
        assert err.value.code == e.PERMISSION_DENIED, query


def test_a_query_in_another_customers_name_with_ones_own_real_key_is_refused(chain: Chain) -> None:
    with pytest.raises(QueryError) as err:
        ask(chain, sign_query(CHAIN, BOB, chain.now, 1, GetAccountAssets(BOB, 10, None), key(ALICE)))
    assert err.value.code == e.NOT_A_SIGNATORY


def test_a_query_whose_creator_is_rewritten_after_signing_is_refused(chain: Chain) -> None:
    """Alice signs a query about herself; an attacker swaps in Bob as creator and subject, keeping
    Alice's key and signature. The signature covers the payload, so it no longer verifies."""
    honest = sign_query(CHAIN, ALICE, chain.now, 1, GetAccountAssets(ALICE, 10, None), key(ALICE))
    rewritten = sign_query(CHAIN, BOB, chain.now, 1, GetAccountAssets(BOB, 10, None), key(ALICE))
    forged = dataclasses.replace(rewritten, signature=honest.signature)
    with pytest.raises(StatelessError) as err:
        ask(chain, forged)
    assert err.value.code == "bad_signature"


# ---- consensus: only validators decide, each only in its own name ----
# n = 4 validators KEYS[0..3], f = 1, a decision needs 3 precommits; KEYS[1] proposes height 1 round 0.

VALUE = b"block one"
VID = hash_bytes(VALUE)


def observer_with_a_valid_proposal():
    """An observer engine (it never votes itself) that has the round's proposal and found it valid."""
    engine, _ = started(None)
    actions = feed(engine, MessageReceived(sign_proposal(KEYS[1], CONSENSUS_CHAIN, 1, 0, VALUE, -1)),
                   ValueValidated(1, VID, True))
    assert not [a for a in actions if isinstance(a, Commit)]
    return engine


def precommit_by(i: int) -> MessageReceived:
    return MessageReceived(sign_precommit(KEYS[i], CONSENSUS_CHAIN, 1, 0, VID))


def commits(actions) -> list[Commit]:
    return [a for a in actions if isinstance(a, Commit)]


def test_precommits_from_keys_outside_the_validator_set_never_make_a_decision() -> None:
    engine = observer_with_a_valid_proposal()
    insiders = [precommit_by(i) for i in (1, 2)]
    outsiders = [precommit_by(i) for i in (5, 6, 7, 8, 9)]
    assert commits(feed(engine, *insiders, *outsiders)) == []
    assert engine.counters.unknown_validator == 5
    assert len(commits(feed(engine, precommit_by(3)))) == 1


def in_the_name_of(victim: int, signer: int, value_id: bytes | None = VID) -> Precommit:
    """A precommit naming validator ``victim`` but signed by validator ``signer`` over that very body."""
    body = vote_signing_body(Precommit.tag, 1, 0, value_id, KEYS[victim].public_key)
    signature = KEYS[signer].sign_for(Domain.PRECOMMIT, CONSENSUS_CHAIN, body)
    return Precommit(1, 0, value_id, KEYS[victim].public_key, signature)


def test_a_validator_cannot_vote_in_another_validators_name() -> None:
    engine = observer_with_a_valid_proposal()
    genuine = [precommit_by(i) for i in (1, 2)]
    impostor = MessageReceived(in_the_name_of(victim=3, signer=1))
    assert commits(feed(engine, *genuine, impostor)) == []
    assert engine.counters.bad_signature == 1
    # The impersonated validator's own vote still counts: the forgery did not take its slot.
    assert len(commits(feed(engine, precommit_by(3)))) == 1


def test_a_proposal_in_the_proposers_name_signed_by_another_validator_is_dropped() -> None:
    engine, _ = started(KEYS[0])
    body = proposal_signing_body(1, 0, hash_bytes(b"usurped"), -1, KEYS[1].public_key)
    signature = KEYS[2].sign_for(Domain.PROPOSAL, CONSENSUS_CHAIN, body)
    usurped = Proposal(1, 0, b"usurped", -1, KEYS[1].public_key, signature)
    actions = feed(engine, MessageReceived(usurped))
    assert not [a for a in actions if isinstance(a, ValidateValue)]
    assert engine.counters.bad_signature == 1


def test_votes_signed_for_another_chain_are_dropped_as_bad_signatures() -> None:
    engine = observer_with_a_valid_proposal()
    foreign = [MessageReceived(sign_precommit(KEYS[i], "other-chain", 1, 0, VID)) for i in (1, 2, 3)]
    foreign.append(MessageReceived(sign_prevote(KEYS[2], "other-chain", 1, 0, VID)))
    assert commits(feed(engine, *foreign)) == []
    assert engine.counters.bad_signature == 4
