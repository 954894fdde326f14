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
from node.ledger.transactions import Transaction
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


def test_a_payment_signed_by_strangers_only_is_still_rejected_not_a_signatory(chain: Chain) -> None:
    [result] = chain.run(payment(chain, "mallory", "eve"))
    assert (result.status, result.error_code) == ("REJECTED", "not_a_signatory")
    assert chain.balance(BOB) == 0


def test_a_strangers_signature_does_not_count_towards_the_creators_quorum(chain: Chain) -> None:
    phone = key("alice-phone")
    [setup] = chain.run(chain.tx(ALICE, c.AddSignatory(ALICE, phone.public_key), c.SetAccountQuorum(ALICE, 2)))
    assert setup.status == "COMMITTED"
    [short] = chain.run(payment(chain, ALICE, "mallory"))
    assert (short.status, short.error_code) == ("REJECTED", "quorum_not_met")
    [enough] = chain.run(payment(chain, ALICE, "mallory", "alice-phone"))
    assert enough.status == "COMMITTED"
