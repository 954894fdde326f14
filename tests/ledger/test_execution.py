"""Execution rules of the ledger (Iroha 1 semantics), one behaviour per test, on a real LevelDB.

The world is ``tests.ledger_world``: admin@nbc is the central bank, admin@aclb / admin@abaa are bank
admins, alice/bob@aclb and carol@abaa are customers (alice holds 1000.00 KHR and 50.00 USD), dave@aclb
may send but not receive, peer ``nbc`` is the only validator and ``wing`` an observer.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger.blocks import BlockHeader, make_block, tx_root
from node.ledger.errors import InvalidBlock, StatelessError
from node.ledger.execution import TxResult
from node.ledger.records import Account, Asset, Domain, Peer, Role
from node.ledger.statuses import TxStatus
from node.ledger.validation import MAX_AGE_MS, MAX_FUTURE_MS, VerifiedSignatures, validate_stateless
from storage import keys
from tests.ledger_world import CHAIN, KHR, POINTS, Chain, follow, key

ALICE, BOB, CAROL, DAVE = "alice@aclb", "bob@aclb", "carol@abaa", "dave@aclb"
NBC, ACLB, ABAA = "admin@nbc", "admin@aclb", "admin@abaa"


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def rejected(code: str, index: int | None = 0) -> tuple[str, int | None, str]:
    return (TxStatus.REJECTED, index, code)


def outcome(result: TxResult) -> tuple[str, int | None, str | None]:
    return (result.status, result.command_index, result.error_code)


def pay(src: str, dest: str, amount: str, asset: str = KHR) -> c.TransferAsset:
    return c.TransferAsset(src, dest, asset, "", amount)


# ---- CreateDomain ----

def test_central_bank_creates_a_domain_with_its_default_role(chain: Chain) -> None:
    assert chain.run_one(NBC, c.CreateDomain("wing", "customer")).status == TxStatus.COMMITTED
    assert chain.state(keys.domain("wing")) == Domain("customer")


def test_create_domain_that_exists_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.CreateDomain("aclb", "customer"))) == rejected(e.DOMAIN_EXISTS)


def test_create_domain_with_unknown_default_role_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.CreateDomain("wing", "ghost"))) == rejected(e.NO_SUCH_ROLE)


def test_bank_admin_may_not_create_a_domain(chain: Chain) -> None:
    assert outcome(chain.run_one(ACLB, c.CreateDomain("wing", "customer"))) == rejected(e.PERMISSION_DENIED)
    assert chain.state(keys.domain("wing")) is None


# ---- CreateAccount ----

def test_bank_admin_creates_a_customer_in_its_own_domain_with_the_default_role(chain: Chain) -> None:
    pk = key("erin@aclb").public_key
    assert chain.run_one(ACLB, c.CreateAccount("erin", "aclb", pk)).status == TxStatus.COMMITTED
    assert chain.account("erin@aclb") == Account(1, ("customer",), (pk,))


def test_bank_admin_may_not_create_an_account_in_another_banks_domain(chain: Chain) -> None:
    result = chain.run_one(ACLB, c.CreateAccount("erin", "abaa", key("erin@abaa").public_key))
    assert outcome(result) == rejected(e.PERMISSION_DENIED)
    assert chain.account("erin@abaa") is None


def test_create_account_that_exists_is_rejected(chain: Chain) -> None:
    result = chain.run_one(ACLB, c.CreateAccount("bob", "aclb", key("other").public_key))
    assert outcome(result) == rejected(e.ACCOUNT_EXISTS)
    assert chain.account(BOB).signatories == (key(BOB).public_key,)


def test_create_account_in_unknown_domain_is_rejected(chain: Chain) -> None:
    result = chain.run_one(NBC, c.CreateAccount("erin", "nowhere", key("erin").public_key))
    assert outcome(result) == rejected(e.NO_SUCH_DOMAIN)


def test_customer_may_not_create_accounts(chain: Chain) -> None:
    result = chain.run_one(ALICE, c.CreateAccount("erin", "aclb", key("erin").public_key))
    assert outcome(result) == rejected(e.PERMISSION_DENIED)


# ---- CreateAsset ----

def test_central_bank_creates_an_asset_with_its_precision(chain: Chain) -> None:
    assert chain.run_one(NBC, c.CreateAsset("thb", "nbc", 2)).status == TxStatus.COMMITTED
    assert chain.state(keys.asset("thb#nbc")) == Asset(2)


def test_create_asset_that_exists_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.CreateAsset("khr", "nbc", 0))) == rejected(e.ASSET_EXISTS)
    assert chain.state(keys.asset(KHR)) == Asset(2)


def test_create_asset_in_unknown_domain_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.CreateAsset("thb", "nowhere", 2))) == rejected(e.NO_SUCH_DOMAIN)


def test_customer_may_not_create_an_asset(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, c.CreateAsset("coin", "aclb", 0))) == rejected(e.PERMISSION_DENIED)


# ---- AddAssetQuantity (mint) ----

def test_central_bank_mints_into_its_own_account(chain: Chain) -> None:
    assert chain.run_one(NBC, c.AddAssetQuantity(KHR, "1500.5")).status == TxStatus.COMMITTED
    assert chain.balance(NBC) == 150050


def test_customer_mint_is_permission_denied(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, c.AddAssetQuantity(KHR, "1"))) == rejected(e.PERMISSION_DENIED)
    assert chain.balance(ALICE) == 100000


def test_bank_admin_mints_its_own_domains_asset_only(chain: Chain) -> None:
    assert chain.run_one(ACLB, c.AddAssetQuantity(POINTS, "7")).status == TxStatus.COMMITTED
    assert chain.balance(ACLB, POINTS) == 7
    assert outcome(chain.run_one(ACLB, c.AddAssetQuantity(KHR, "1"))) == rejected(e.PERMISSION_DENIED)
    assert outcome(chain.run_one(ABAA, c.AddAssetQuantity(POINTS, "1"))) == rejected(e.PERMISSION_DENIED)


def test_mint_with_more_decimals_than_the_asset_is_precision_exceeded(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.AddAssetQuantity(KHR, "1.001"))) == rejected(e.PRECISION_EXCEEDED)
    assert outcome(chain.run_one(ACLB, c.AddAssetQuantity(POINTS, "1.0"))) == rejected(e.PRECISION_EXCEEDED)


def test_mint_of_unknown_asset_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.AddAssetQuantity("gold#nbc", "1"))) == rejected(e.NO_SUCH_ASSET)


def test_mint_beyond_the_largest_balance_is_amount_overflow(chain: Chain) -> None:
    assert chain.run_one(NBC, c.AddAssetQuantity(KHR, "92233720368547758.07")).status == TxStatus.COMMITTED
    assert outcome(chain.run_one(NBC, c.AddAssetQuantity(KHR, "0.01"))) == rejected(e.AMOUNT_OVERFLOW)
    assert chain.balance(NBC) == 2**63 - 1


# ---- SubtractAssetQuantity (burn) ----

def test_central_bank_burns_from_its_own_account(chain: Chain) -> None:
    chain.run_one(NBC, c.AddAssetQuantity(KHR, "10"))
    assert chain.run_one(NBC, c.SubtractAssetQuantity(KHR, "2.50")).status == TxStatus.COMMITTED
    assert chain.balance(NBC) == 750


def test_burn_of_more_than_the_balance_is_insufficient_funds(chain: Chain) -> None:
    chain.run_one(NBC, c.AddAssetQuantity(KHR, "10"))
    assert outcome(chain.run_one(NBC, c.SubtractAssetQuantity(KHR, "10.01"))) == rejected(e.INSUFFICIENT_FUNDS)
    assert chain.balance(NBC) == 1000


def test_customer_burn_is_permission_denied(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, c.SubtractAssetQuantity(KHR, "1"))) == rejected(e.PERMISSION_DENIED)


# ---- TransferAsset ----

def test_transfer_moves_minor_units_between_accounts(chain: Chain) -> None:
    assert chain.run_one(ALICE, pay(ALICE, BOB, "10.5")).status == TxStatus.COMMITTED
    assert (chain.balance(ALICE), chain.balance(BOB)) == (100000 - 1050, 1050)


def test_transfer_across_banks_is_allowed(chain: Chain) -> None:
    assert chain.run_one(ALICE, pay(ALICE, CAROL, "1")).status == TxStatus.COMMITTED
    assert chain.balance(CAROL) == 100


def test_overdraft_is_insufficient_funds(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, pay(ALICE, BOB, "1000.01"))) == rejected(e.INSUFFICIENT_FUNDS)
    assert (chain.balance(ALICE), chain.balance(BOB)) == (100000, 0)


def test_transfer_to_oneself_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, pay(ALICE, ALICE, "1"))) == rejected(e.SELF_TRANSFER)


def test_transfer_to_unknown_account_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, pay(ALICE, "ghost@aclb", "1"))) == rejected(e.NO_SUCH_ACCOUNT)


def test_transfer_of_unknown_asset_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, pay(ALICE, BOB, "1", "gold#nbc"))) == rejected(e.NO_SUCH_ASSET)


def test_transfer_with_more_decimals_than_the_asset_is_precision_exceeded(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, pay(ALICE, BOB, "0.001"))) == rejected(e.PRECISION_EXCEEDED)


def test_transfer_from_another_account_without_a_grant_is_denied(chain: Chain) -> None:
    assert outcome(chain.run_one(BOB, pay(ALICE, BOB, "1"))) == rejected(e.PERMISSION_DENIED)
    assert chain.balance(BOB) == 0


def test_grant_of_can_transfer_my_assets_lets_the_grantee_move_the_grantors_money(chain: Chain) -> None:
    assert chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets")).status == TxStatus.COMMITTED
    assert chain.run_one(BOB, pay(ALICE, CAROL, "3")).status == TxStatus.COMMITTED
    assert (chain.balance(ALICE), chain.balance(CAROL)) == (99700, 300)


def test_transfer_to_an_account_without_can_receive_is_denied(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, pay(ALICE, DAVE, "1"))) == rejected(e.PERMISSION_DENIED)
    assert chain.balance(DAVE) == 0


# ---- AddSignatory / RemoveSignatory / SetAccountQuorum ----

def test_account_adds_a_signatory_to_itself(chain: Chain) -> None:
    new = key("alice-phone").public_key
    assert chain.run_one(ALICE, c.AddSignatory(ALICE, new)).status == TxStatus.COMMITTED
    assert chain.account(ALICE).signatories == tuple(sorted([key(ALICE).public_key, new]))


def test_adding_an_existing_signatory_is_rejected(chain: Chain) -> None:
    result = chain.run_one(ALICE, c.AddSignatory(ALICE, key(ALICE).public_key))
    assert outcome(result) == rejected(e.SIGNATORY_EXISTS)


def test_adding_a_signatory_to_another_account_needs_its_grant(chain: Chain) -> None:
    new = key("intruder").public_key
    assert outcome(chain.run_one(BOB, c.AddSignatory(ALICE, new))) == rejected(e.PERMISSION_DENIED)
    chain.run_one(ALICE, c.GrantPermission(BOB, "can_add_my_signatory"))
    assert chain.run_one(BOB, c.AddSignatory(ALICE, new)).status == TxStatus.COMMITTED
    assert new in chain.account(ALICE).signatories


def test_account_removes_one_of_its_signatories(chain: Chain) -> None:
    new = key("alice-phone").public_key
    chain.run_one(ALICE, c.AddSignatory(ALICE, new))
    assert chain.run_one(ALICE, c.RemoveSignatory(ALICE, key(ALICE).public_key)).status == TxStatus.COMMITTED
    assert chain.account(ALICE).signatories == (new,)


def test_removing_an_unknown_signatory_is_rejected(chain: Chain) -> None:
    result = chain.run_one(ALICE, c.RemoveSignatory(ALICE, key("nobody").public_key))
    assert outcome(result) == rejected(e.NO_SUCH_SIGNATORY)


def test_removing_the_last_signatory_is_rejected(chain: Chain) -> None:
    result = chain.run_one(ALICE, c.RemoveSignatory(ALICE, key(ALICE).public_key))
    assert outcome(result) == rejected(e.LAST_SIGNATORY)


def test_removing_a_signatory_below_the_quorum_is_rejected(chain: Chain) -> None:
    phone = key("alice-phone")
    chain.run_one(ALICE, c.AddSignatory(ALICE, phone.public_key), c.SetAccountQuorum(ALICE, 2))
    result = chain.run_one(ALICE, c.RemoveSignatory(ALICE, phone.public_key), signers=(key(ALICE), phone))
    assert outcome(result) == rejected(e.QUORUM_TOO_HIGH)


def test_quorum_above_the_signatory_count_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, c.SetAccountQuorum(ALICE, 2))) == rejected(e.QUORUM_TOO_HIGH)
    assert chain.account(ALICE).quorum == 1


def test_setting_another_accounts_quorum_without_grant_is_denied(chain: Chain) -> None:
    assert outcome(chain.run_one(BOB, c.SetAccountQuorum(ALICE, 1))) == rejected(e.PERMISSION_DENIED)


def test_quorum_two_rejects_a_transaction_with_one_signature(chain: Chain) -> None:
    phone = key("alice-phone")
    result = chain.run_one(ALICE, c.AddSignatory(ALICE, phone.public_key), c.SetAccountQuorum(ALICE, 2))
    assert result.status == TxStatus.COMMITTED
    assert chain.account(ALICE).quorum == 2
    assert chain.left_out(chain.tx(ALICE, pay(ALICE, BOB, "1"))) == e.QUORUM_NOT_MET
    two_sigs = chain.run_one(ALICE, pay(ALICE, BOB, "1"), signers=(key(ALICE), phone))
    assert two_sigs.status == TxStatus.COMMITTED
    assert chain.balance(BOB) == 100


def test_signature_by_a_key_that_is_not_a_signatory_keeps_it_out_of_every_block(chain: Chain) -> None:
    assert chain.left_out(chain.tx(ALICE, pay(ALICE, BOB, "1"), signers=(key(BOB),))) == e.NOT_A_SIGNATORY
    assert chain.balance(BOB) == 0


def test_transaction_from_an_unknown_creator_is_rejected(chain: Chain) -> None:
    result = chain.run_one("ghost@aclb", pay("ghost@aclb", BOB, "1"))
    assert outcome(result) == (TxStatus.REJECTED, None, e.NO_SUCH_ACCOUNT)


# ---- roles ----

def test_central_bank_creates_a_role_from_permissions_it_holds(chain: Chain) -> None:
    perms = ("can_receive", "can_transfer")
    assert chain.run_one(NBC, c.CreateRole("teller", perms)).status == TxStatus.COMMITTED
    assert chain.state(keys.role("teller")) == Role(frozenset(perms))


def test_creating_a_role_with_a_permission_the_creator_lacks_is_denied(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.CreateRole("god", ("root",)))) == rejected(e.PERMISSION_DENIED)
    assert chain.state(keys.role("god")) is None


def test_creating_an_existing_role_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.CreateRole("customer", ("can_receive",)))) == rejected(e.ROLE_EXISTS)


def test_customer_may_not_create_roles(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, c.CreateRole("mine", ("can_receive",)))) == rejected(e.PERMISSION_DENIED)


def test_appending_a_role_grants_its_permissions(chain: Chain) -> None:
    assert chain.run_one(NBC, c.AppendRole(DAVE, "receiver")).status == TxStatus.COMMITTED
    assert chain.account(DAVE).roles == ("receiver", "sender_only")
    assert chain.run_one(ALICE, pay(ALICE, DAVE, "1")).status == TxStatus.COMMITTED


def test_appending_a_role_with_permissions_the_appender_lacks_is_denied(chain: Chain) -> None:
    # the central bank does not hold root
    assert outcome(chain.run_one(NBC, c.AppendRole(DAVE, "superuser"))) == rejected(e.PERMISSION_DENIED)
    assert chain.account(DAVE).roles == ("sender_only",)


def test_appending_a_role_already_held_is_rejected(chain: Chain) -> None:
    chain.run_one(NBC, c.AppendRole(ALICE, "receiver"))
    assert outcome(chain.run_one(NBC, c.AppendRole(ALICE, "receiver"))) == rejected(e.ROLE_ALREADY_HELD)


def test_appending_an_unknown_role_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.AppendRole(ALICE, "ghost"))) == rejected(e.NO_SUCH_ROLE)


def test_bank_admin_may_not_append_roles(chain: Chain) -> None:
    assert outcome(chain.run_one(ACLB, c.AppendRole(DAVE, "receiver"))) == rejected(e.PERMISSION_DENIED)


def test_detaching_a_role_takes_its_permissions_away(chain: Chain) -> None:
    assert chain.run_one(NBC, c.DetachRole(ALICE, "customer")).status == TxStatus.COMMITTED
    assert chain.account(ALICE).roles == ()
    assert outcome(chain.run_one(ALICE, pay(ALICE, BOB, "1"))) == rejected(e.PERMISSION_DENIED)


def test_detaching_a_role_not_held_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.DetachRole(ALICE, "bank_admin"))) == rejected(e.ROLE_NOT_HELD)


# ---- grantable permissions ----

def test_granting_twice_is_rejected(chain: Chain) -> None:
    chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))
    result = chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))
    assert outcome(result) == rejected(e.PERMISSION_ALREADY_GRANTED)


def test_granting_to_an_unknown_account_is_rejected(chain: Chain) -> None:
    result = chain.run_one(ALICE, c.GrantPermission("ghost@aclb", "can_transfer_my_assets"))
    assert outcome(result) == rejected(e.NO_SUCH_ACCOUNT)


def test_granting_without_the_grant_right_is_denied(chain: Chain) -> None:
    result = chain.run_one(DAVE, c.GrantPermission(BOB, "can_transfer_my_assets"))
    assert outcome(result) == rejected(e.PERMISSION_DENIED)


def test_revoking_a_grant_ends_the_grantees_power(chain: Chain) -> None:
    chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))
    assert chain.run_one(ALICE, c.RevokePermission(BOB, "can_transfer_my_assets")).status == TxStatus.COMMITTED
    assert chain.state(keys.grant(BOB, ALICE)) is None
    assert outcome(chain.run_one(BOB, pay(ALICE, BOB, "1"))) == rejected(e.PERMISSION_DENIED)


def test_revoking_what_was_not_granted_is_rejected(chain: Chain) -> None:
    result = chain.run_one(ALICE, c.RevokePermission(BOB, "can_transfer_my_assets"))
    assert outcome(result) == rejected(e.PERMISSION_NOT_GRANTED)


# ---- account details ----

def test_account_sets_a_detail_on_itself_under_its_own_name(chain: Chain) -> None:
    assert chain.run_one(ALICE, c.SetAccountDetail(ALICE, "phone", "+855")).status == TxStatus.COMMITTED
    assert chain.state(keys.detail(ALICE, ALICE, "phone")) == "+855"


def test_customer_may_not_set_details_of_another_account(chain: Chain) -> None:
    assert outcome(chain.run_one(BOB, c.SetAccountDetail(ALICE, "x", "y"))) == rejected(e.PERMISSION_DENIED)


def test_setting_a_detail_on_an_unknown_account_is_rejected(chain: Chain) -> None:
    result = chain.run_one(NBC, c.SetAccountDetail("ghost@aclb", "k", "v"))
    assert outcome(result) == rejected(e.NO_SUCH_ACCOUNT)


def test_compare_and_set_writes_only_over_the_expected_value(chain: Chain) -> None:
    assert chain.run_one(ALICE, c.CompareAndSetAccountDetail(ALICE, "kyc", "pending", None)).status == TxStatus.COMMITTED
    stale = chain.run_one(ALICE, c.CompareAndSetAccountDetail(ALICE, "kyc", "done", "wrong"))
    assert outcome(stale) == rejected(e.DETAIL_MISMATCH)
    assert chain.state(keys.detail(ALICE, ALICE, "kyc")) == "pending"
    assert chain.run_one(ALICE, c.CompareAndSetAccountDetail(ALICE, "kyc", "done", "pending")).status == TxStatus.COMMITTED
    assert chain.state(keys.detail(ALICE, ALICE, "kyc")) == "done"


def test_compare_and_set_expecting_absence_fails_when_the_detail_exists(chain: Chain) -> None:
    chain.run_one(ALICE, c.SetAccountDetail(ALICE, "kyc", "pending"))
    result = chain.run_one(ALICE, c.CompareAndSetAccountDetail(ALICE, "kyc", "x", None))
    assert outcome(result) == rejected(e.DETAIL_MISMATCH)


# ---- peers ----

def test_central_bank_adds_a_peer(chain: Chain) -> None:
    pk = key("peer:abaa").public_key
    assert chain.run_one(NBC, c.AddPeer("10.0.0.3:7100", pk, "abaa", False)).status == TxStatus.COMMITTED
    assert chain.state(keys.peer(pk)) == Peer(pk, "10.0.0.3:7100", "abaa", False)


def test_adding_a_known_peer_is_rejected(chain: Chain) -> None:
    result = chain.run_one(NBC, c.AddPeer("10.0.0.3:7100", key("peer:nbc").public_key, "x", False))
    assert outcome(result) == rejected(e.PEER_EXISTS)


def test_bank_admin_may_not_add_peers(chain: Chain) -> None:
    result = chain.run_one(ACLB, c.AddPeer("10.0.0.3:7100", key("peer:aclb").public_key, "aclb", False))
    assert outcome(result) == rejected(e.PERMISSION_DENIED)


def test_central_bank_removes_an_observer(chain: Chain) -> None:
    pk = key("peer:wing").public_key
    assert chain.run_one(NBC, c.RemovePeer(pk)).status == TxStatus.COMMITTED
    assert chain.state(keys.peer(pk)) is None


def test_removing_an_unknown_peer_is_rejected(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.RemovePeer(key("peer:none").public_key))) == rejected(e.NO_SUCH_PEER)


def test_the_last_validator_cannot_be_removed(chain: Chain) -> None:
    result = chain.run_one(NBC, c.RemovePeer(key("peer:nbc").public_key))
    assert outcome(result) == rejected(e.LAST_VALIDATOR)


def test_a_validator_can_be_removed_when_another_remains(chain: Chain) -> None:
    second = key("peer:aclb").public_key
    result = chain.run_one(NBC, c.AddPeer("10.0.0.2:7100", second, "aclb", False), c.RemovePeer(key("peer:nbc").public_key))
    assert result.status == TxStatus.COMMITTED
    assert chain.state(keys.peer(key("peer:nbc").public_key)) is None


# ---- transactions as a whole ----

def test_a_failing_second_command_leaves_nothing_of_the_first(chain: Chain) -> None:
    result = chain.run_one(ALICE, pay(ALICE, BOB, "10"), pay(ALICE, CAROL, "5000"))
    assert outcome(result) == (TxStatus.REJECTED, 1, e.INSUFFICIENT_FUNDS)
    assert (chain.balance(ALICE), chain.balance(BOB), chain.balance(CAROL)) == (100000, 0, 0)


def test_rejection_is_recorded_with_command_index_and_code(chain: Chain) -> None:
    tx = chain.tx(ALICE, c.SetAccountDetail(ALICE, "a", "b"), pay(ALICE, BOB, "1"), pay(ALICE, BOB, "0.001"))
    chain.run(tx)
    status = chain.ledger.tx_status(tx.hash)
    assert status is not None
    assert (status.height, status.index) == (1, 0)
    assert outcome(status.result) == (TxStatus.REJECTED, 2, e.PRECISION_EXCEEDED)
    assert chain.state(keys.detail(ALICE, ALICE, "a")) is None


def test_a_rejected_transaction_does_not_stop_the_others_in_its_block(chain: Chain) -> None:
    results = chain.run(chain.tx(ALICE, pay(ALICE, BOB, "2000")), chain.tx(ALICE, pay(ALICE, BOB, "2")))
    assert [r.status for r in results] == [TxStatus.REJECTED, TxStatus.COMMITTED]
    assert chain.balance(BOB) == 200


def test_later_transactions_in_a_block_see_the_earlier_ones(chain: Chain) -> None:
    results = chain.run(chain.tx(ALICE, pay(ALICE, BOB, "600")), chain.tx(BOB, pay(BOB, CAROL, "600")),
                        chain.tx(ALICE, pay(ALICE, CAROL, "600")))
    assert [outcome(r) for r in results] == [(TxStatus.COMMITTED, None, None), (TxStatus.COMMITTED, None, None),
                                             rejected(e.INSUFFICIENT_FUNDS)]
    assert chain.balance(CAROL) == 60000


# ---- time window against the block time ----

def next_block_time(chain: Chain) -> int:
    """The time of the block ``run_one`` builds next (it makes one tx, +1 ms, then a block, +1000 ms)."""
    return chain.now + 1 + 1000


def test_transaction_older_than_24_hours_before_the_block_is_expired(chain: Chain) -> None:
    result = chain.run_one(ALICE, pay(ALICE, BOB, "1"), created_ms=next_block_time(chain) - MAX_AGE_MS - 1)
    assert outcome(result) == (TxStatus.REJECTED, None, e.EXPIRED)


def test_transaction_more_than_5_minutes_after_the_block_is_from_future(chain: Chain) -> None:
    result = chain.run_one(ALICE, pay(ALICE, BOB, "1"), created_ms=next_block_time(chain) + MAX_FUTURE_MS + 1)
    assert outcome(result) == (TxStatus.REJECTED, None, e.FROM_FUTURE)


def test_transaction_at_the_edges_of_the_window_is_accepted(chain: Chain) -> None:
    block_time = chain.now + 1000 + 2  # run() advances the clock by 1000 after two tx() calls
    old = chain.tx(ALICE, pay(ALICE, BOB, "1"), created_ms=block_time - MAX_AGE_MS)
    new = chain.tx(ALICE, pay(ALICE, BOB, "2"), created_ms=block_time + MAX_FUTURE_MS)
    assert [r.status for r in chain.run(old, new)] == [TxStatus.COMMITTED, TxStatus.COMMITTED]


# ---- replay ----

def test_build_block_drops_a_committed_transaction(chain: Chain) -> None:
    t1 = chain.tx(ALICE, pay(ALICE, BOB, "1"))
    chain.run(t1)
    t2 = chain.tx(ALICE, pay(ALICE, BOB, "2"))
    block, execution = chain.ledger.build_block([t1, t2], chain.now, chain.proposer)
    assert [tx.hash for tx in block.transactions] == [t2.hash]
    chain.ledger.commit(block, execution, b"")
    assert chain.balance(BOB) == 300


def test_a_rejected_transaction_is_never_applied_later(chain: Chain) -> None:
    early = chain.tx(BOB, pay(BOB, CAROL, "1"))
    assert chain.run(early)[0].status == TxStatus.REJECTED
    chain.run_one(ALICE, pay(ALICE, BOB, "5"))
    assert chain.run(early) == []
    assert chain.balance(BOB) == 500


def test_execute_refuses_a_committed_transaction(chain: Chain) -> None:
    t1 = chain.tx(ALICE, pay(ALICE, BOB, "1"))
    chain.run(t1)
    with pytest.raises(InvalidBlock) as info:
        chain.ledger.execute(chain.ledger.head.height + 1, chain.now + 1000, [t1])
    assert info.value.code == "replayed_transaction"


def test_execute_refuses_the_same_transaction_twice_in_one_block(chain: Chain) -> None:
    t1 = chain.tx(ALICE, pay(ALICE, BOB, "1"))
    with pytest.raises(InvalidBlock) as info:
        chain.ledger.execute(1, chain.now + 1000, [t1, t1])
    assert info.value.code == "replayed_transaction"


def test_build_block_keeps_one_copy_of_a_duplicated_candidate(chain: Chain) -> None:
    t1 = chain.tx(ALICE, pay(ALICE, BOB, "1"))
    block, execution = chain.ledger.build_block([t1, t1], chain.now + 1000, chain.proposer)
    assert [tx.hash for tx in block.transactions] == [t1.hash]
    chain.ledger.commit(block, execution, b"")
    assert chain.balance(BOB) == 100


def test_validate_block_refuses_a_block_replaying_a_committed_transaction(chain: Chain) -> None:
    t1 = chain.tx(ALICE, pay(ALICE, BOB, "1"))
    chain.run(t1)
    head = chain.ledger.head
    header = BlockHeader(head.height + 1, head.block_hash, chain.now + 1000, chain.proposer, tx_root([t1]),
                         head.state_root, ())
    with pytest.raises(InvalidBlock) as info:
        chain.ledger.validate_block(make_block(header, (t1,)))
    assert info.value.code == "replayed_transaction"
    assert chain.balance(BOB) == 100


# ---- validate_block: a second node re-executes and compares ----

@pytest.fixture
def proposed(chain: Chain, tmp_path: Path):
    """A block proposed by ``chain`` (not committed there) and a fresh follower at the same head."""
    follower = Chain(tmp_path / "follower")
    txs = [chain.tx(ALICE, pay(ALICE, BOB, "7")), chain.tx(ALICE, pay(ALICE, BOB, "5000"))]
    block, _ = chain.ledger.build_block(txs, chain.now + 1000, chain.proposer)
    yield block, follower
    follower.close()


def test_follower_accepts_an_honest_block_and_reaches_the_same_state(chain: Chain, proposed) -> None:
    block, follower = proposed
    execution = follow(follower.ledger, block)
    assert [r.status for r in execution.results] == [TxStatus.COMMITTED, TxStatus.REJECTED]
    assert follower.ledger.head.block_hash == block.hash
    assert follower.ledger.head.state_root == block.header.state_root
    assert follower.balance(BOB) == 700


def tampered(block, **changes):
    return make_block(dataclasses.replace(block.header, **changes), block.transactions)


def test_validate_block_rejects_a_tampered_state_root(proposed) -> None:
    block, follower = proposed
    with pytest.raises(InvalidBlock) as info:
        follower.ledger.validate_block(tampered(block, state_root=bytes(32)))
    assert info.value.code == "state_root_mismatch"


def test_validate_block_rejects_a_tampered_rejected_list(proposed) -> None:
    block, follower = proposed
    with pytest.raises(InvalidBlock) as info:
        follower.ledger.validate_block(tampered(block, rejected=()))
    assert info.value.code == "rejected_mismatch"


def test_validate_block_rejects_a_wrong_parent(proposed) -> None:
    block, follower = proposed
    with pytest.raises(InvalidBlock) as info:
        follower.ledger.validate_block(tampered(block, prev_hash=b"\x01" * 32))
    assert info.value.code == "wrong_parent"


def test_validate_block_rejects_a_wrong_height(proposed) -> None:
    block, follower = proposed
    with pytest.raises(InvalidBlock) as info:
        follower.ledger.validate_block(tampered(block, height=2))
    assert info.value.code == "wrong_height"


def test_validate_block_rejects_transactions_that_do_not_match_the_tx_root(proposed) -> None:
    block, follower = proposed
    swapped = make_block(block.header, tuple(reversed(block.transactions)))
    with pytest.raises(InvalidBlock) as info:
        follower.ledger.validate_block(swapped)
    assert info.value.code == "bad_tx_root"


def test_validate_block_rejects_a_badly_signed_transaction(chain: Chain, proposed) -> None:
    block, follower = proposed
    tx = block.transactions[0]
    forged = dataclasses.replace(tx, signatures=((key(ALICE).public_key, bytes(64)),))
    with pytest.raises(InvalidBlock) as info:
        follower.ledger.validate_block(make_block(block.header, (forged, *block.transactions[1:])))
    assert info.value.code == "bad_transaction_signature"


def test_a_block_that_fails_validation_changes_nothing(proposed) -> None:
    block, follower = proposed
    before = follower.ledger.head
    with pytest.raises(InvalidBlock):
        follow(follower.ledger, tampered(block, state_root=bytes(32)))
    assert follower.ledger.head == before
    assert follower.balance(BOB) == 0


# ---- stateless validation ----

NOW = 1_764_000_100_000


def stateless(tx, chain_id: str = CHAIN, now: int = NOW, cache: VerifiedSignatures | None = None) -> None:
    validate_stateless(tx, chain_id, now, cache if cache is not None else VerifiedSignatures())


def signed(*signers: KeyPair, chain: Chain, created_ms: int = NOW, quorum: int = 1):
    return chain.tx(ALICE, pay(ALICE, BOB, "1"), signers=signers, created_ms=created_ms, quorum=quorum)


def stateless_code(tx, **kw) -> str:
    with pytest.raises(StatelessError) as info:
        stateless(tx, **kw)
    return info.value.code


def test_a_well_signed_transaction_passes_stateless_validation(chain: Chain) -> None:
    stateless(signed(key(ALICE), chain=chain))


def test_a_bad_signature_fails_stateless_validation(chain: Chain) -> None:
    tx = signed(key(ALICE), chain=chain)
    (pk, sig), = tx.signatures
    forged = dataclasses.replace(tx, signatures=((pk, bytes([sig[0] ^ 1]) + sig[1:]),))
    assert stateless_code(forged) == "bad_signature"


def test_a_cached_verification_does_not_cover_other_signatures_on_the_same_hash(chain: Chain) -> None:
    cache = VerifiedSignatures()
    tx = signed(key(ALICE), chain=chain)
    stateless(tx, cache=cache)
    forged = dataclasses.replace(tx, signatures=((key(ALICE).public_key, bytes(64)),))
    with pytest.raises(StatelessError):
        stateless(forged, cache=cache)


def test_the_same_signer_twice_fails_stateless_validation(chain: Chain) -> None:
    tx = signed(key(ALICE), chain=chain)
    doubled = dataclasses.replace(tx, signatures=tx.signatures * 2)
    assert stateless_code(doubled) == "duplicate_signer"


def test_a_transaction_for_another_chain_fails_stateless_validation(chain: Chain) -> None:
    assert stateless_code(signed(key(ALICE), chain=chain), chain_id="other-chain") == "wrong_chain"


def test_an_unsigned_transaction_fails_stateless_validation(chain: Chain) -> None:
    assert stateless_code(signed(chain=chain)) == "quorum_not_met"  # a quorum is at least 1


def test_fewer_signatures_than_the_transactions_own_quorum_fail_stateless_validation(chain: Chain) -> None:
    assert stateless_code(signed(key(ALICE), chain=chain, quorum=2)) == "quorum_not_met"


def test_stateless_time_window_is_5_minutes_ahead_and_24_hours_behind(chain: Chain) -> None:
    assert stateless_code(signed(key(ALICE), chain=chain, created_ms=NOW + MAX_FUTURE_MS + 1)) == "from_future"
    assert stateless_code(signed(key(ALICE), chain=chain, created_ms=NOW - MAX_AGE_MS - 1)) == "expired"
    stateless(signed(key(ALICE), chain=chain, created_ms=NOW + MAX_FUTURE_MS))


def test_the_verified_signature_memory_lets_go_of_committed_transactions(tmp_path) -> None:
    chain = Chain(tmp_path / "db")
    pending, later = (chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00")) for _ in range(2))
    for tx in (pending, later):
        validate_stateless(tx, CHAIN, chain.now, chain.ledger.verified)
    assert len(chain.ledger.verified) == 2
    assert chain.run(pending)[0].status == TxStatus.COMMITTED
    assert len(chain.ledger.verified) == 1, "the committed one is forgotten; the one still waiting is kept"
    chain.close()
