"""Execution's signature rule (docs/ledger.md, "Signatures"): only the creator's signatories count.

A transaction's hash covers its payload, not its signatures, and a hash is final once in a block. So if
a stranger's signature next to the creator's could reject a transaction, anyone who saw it before it
committed (a Byzantine proposer, say) could void the payment for good: its owner's resubmission would
be a replay. The rule depends only on the block and the state, so every node decides alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ledger import commands as c
from node.ledger.blocks import BlockHeader, decode_block, make_block, tx_root
from node.ledger.errors import InvalidBlock
from node.ledger.transactions import Transaction, build_transaction
from tests.ledger_world import KHR, Chain, key

ALICE, BOB = "alice@aclb", "bob@aclb"


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    world = Chain(tmp_path / "db")
    yield world
    world.close()


def payment(chain: Chain, *signers: str) -> Transaction:
    return chain.tx(ALICE, c.TransferAsset(ALICE, BOB, KHR, "rent", "10.00"),
                    signers=tuple(key(name) for name in signers))


def test_a_strangers_signature_beside_the_creators_does_not_reject_the_payment(chain: Chain) -> None:
    [result] = chain.run(payment(chain, ALICE, "mallory"))
    assert (result.status, result.error_code) == ("COMMITTED", None)
    assert chain.balance(BOB) == 1000


def test_a_strangers_signature_before_the_creators_does_not_reject_the_payment_either(chain: Chain) -> None:
    [result] = chain.run(payment(chain, "mallory", ALICE))
    assert result.status == "COMMITTED"


def test_a_payment_signed_by_strangers_only_never_enters_a_block(chain: Chain) -> None:
    assert chain.left_out(payment(chain, "mallory", "eve")) == "not_a_signatory"
    assert chain.balance(BOB) == 0


def test_a_strangers_signature_does_not_count_towards_the_creators_quorum(chain: Chain) -> None:
    phone = key("alice-phone")
    [setup] = chain.run(chain.tx(ALICE, c.AddSignatory(ALICE, phone.public_key), c.SetAccountQuorum(ALICE, 2)))
    assert setup.status == "COMMITTED"
    assert chain.left_out(payment(chain, ALICE, "mallory")) == "quorum_not_met"
    [enough] = chain.run(payment(chain, ALICE, "mallory", "alice-phone"))
    assert enough.status == "COMMITTED"


def test_a_proposer_cannot_void_a_payment_by_stripping_its_creators_signatures(chain: Chain) -> None:
    """Issue 14, finding 7 (the Byzantine proposer's half): a block holding Alice's payload signed only
    by someone else is invalid, not a REJECTED (final) hash, so her own signed copy still commits."""
    genuine = payment(chain, ALICE)
    stripped = build_transaction(genuine.payload, key("mallory"))  # same payload and hash, another signer
    assert stripped.hash == genuine.hash
    head = chain.ledger.head
    forged = make_block(BlockHeader(head.height + 1, head.block_hash, chain.now + 1000, chain.proposer,
                                    tx_root([stripped]), head.state_root, (stripped.hash,)), (stripped,))
    with pytest.raises(InvalidBlock) as refused:
        chain.ledger.validate_block(forged)
    assert refused.value.code == "unsigned_transaction"
    [result] = chain.run(genuine)
    assert result.status == "COMMITTED" and chain.balance(BOB) == 1000


def test_a_transaction_unsigned_by_what_comes_before_it_in_the_block_is_left_out_and_the_rest_stays(
        chain: Chain) -> None:
    phone = key("alice-phone")
    [added] = chain.run(chain.tx(ALICE, c.AddSignatory(ALICE, phone.public_key)))
    assert added.status == "COMMITTED"
    removal = chain.tx(ALICE, c.RemoveSignatory(ALICE, phone.public_key))
    by_phone = payment(chain, "alice-phone")  # signed by a signatory when queued, not once the removal runs
    later = payment(chain, ALICE)
    chain.now += 1000
    block, execution = chain.ledger.build_block([removal, by_phone, later], chain.now, chain.proposer)
    assert [tx.hash for tx in block.transactions] == [removal.hash, later.hash]
    assert execution.left_out == (by_phone.hash,)
    assert [r.status for r in execution.results] == ["COMMITTED", "COMMITTED"]
    assert execution.height == block.height
    assert chain.ledger.validate_block(decode_block(block.encode())).state_root == block.header.state_root
    chain.ledger.commit(block, execution, b"")
    assert chain.balance(BOB) == 1000



def test_a_block_may_carry_its_parents_time_but_not_an_earlier_one(chain: Chain) -> None:
    """Proposers take max(clock, parent time): two blocks in the same millisecond are normal."""
    [first] = chain.run(payment(chain, ALICE))
    assert first.status == "COMMITTED"
    head = chain.ledger.head
    parent_time = chain.ledger.block(head.height).header.created_ms
    same, execution = chain.ledger.build_block([], parent_time, chain.proposer)
    assert same.header.created_ms == parent_time
    assert chain.ledger.validate_block(decode_block(same.encode())).state_root == execution.state_root
    earlier = make_block(BlockHeader(head.height + 1, head.block_hash, parent_time - 1, chain.proposer,
                                     tx_root([]), head.state_root, ()), ())
    with pytest.raises(InvalidBlock) as refused:
        chain.ledger.validate_block(earlier)
    assert refused.value.code == "time_went_back"
