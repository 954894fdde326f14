"""Freezing accounts (issue 14, finding 10), on a real ledger (LevelDB).

The central bank (``can_freeze_account``) freezes and unfreezes accounts with a reason. A frozen account
can be debited by nobody: not by its owner, not by a grantee; it can still be credited. The freeze is in
the account's world-state row (so in the state root) and its history is the audit trail. A grantor takes
back its grants without any right, so a frozen account, or one whose roles were removed, can still revoke.

The commands are reached as ``c.FreezeAccount`` inside the tests so each test fails on its own on code
that lacks them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgpack
import pytest

from consensus import codec
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger.queries import GetAccount, GetAccountTransactions, Query, QueryService, decode_query, sign_query
from node.ledger.statuses import TxStatus
from storage import keys
from tests.ledger_world import CHAIN, KHR, Chain, key

ALICE, BOB, CAROL = "alice@aclb", "bob@aclb", "carol@abaa"
ACLB_ADMIN, NBC = "admin@aclb", "admin@nbc"


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def outcome(result: Any) -> tuple[str, str | None]:
    return result.status, result.error_code


def ask(chain: Chain, creator: str, query: Query) -> dict[str, Any]:
    signed = sign_query(CHAIN, creator, chain.now, 1, query, key(creator))
    return QueryService(chain.ledger, lambda _creator: []).answer(decode_query(signed.encode()), chain.now)


def pay(src: str, dest: str, amount: str) -> c.TransferAsset:
    return c.TransferAsset(src, dest, KHR, "", amount)


COMMITTED = (TxStatus.COMMITTED, None)
FROZEN = (TxStatus.REJECTED, e.ACCOUNT_FROZEN if hasattr(e, "ACCOUNT_FROZEN") else "account_frozen")


def test_an_earlier_grantee_cannot_move_money_out_of_a_frozen_account(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))) == COMMITTED
    assert outcome(chain.run_one(NBC, c.FreezeAccount(ALICE, "court order 2026/118"))) == COMMITTED
    assert outcome(chain.run_one(BOB, pay(ALICE, BOB, "1000.00"))) == FROZEN
    assert chain.balance(ALICE) == 100_000


def test_a_frozen_account_cannot_send_but_can_still_receive(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.FreezeAccount(ALICE, "AML case 7"))) == COMMITTED
    assert outcome(chain.run_one(ALICE, pay(ALICE, BOB, "1.00"))) == FROZEN
    chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))
    assert outcome(chain.run_one(BOB, pay(ALICE, CAROL, "1.00"))) == FROZEN
    # Credits go through: a salary paid to a frozen account is held there, not bounced.
    chain.run_one(NBC, c.UnfreezeAccount(ALICE, "lifted"))
    chain.run_one(ALICE, pay(ALICE, BOB, "5.00"))
    chain.run_one(NBC, c.FreezeAccount(ALICE, "AML case 7, again"))
    assert outcome(chain.run_one(BOB, pay(BOB, ALICE, "2.00"))) == COMMITTED
    assert chain.balance(ALICE) == 100_000 - 500 + 200


def test_a_frozen_account_cannot_burn(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.AddAssetQuantity(KHR, "10.00"))) == COMMITTED
    assert outcome(chain.run_one(NBC, c.FreezeAccount(NBC, "audit"))) == COMMITTED
    assert outcome(chain.run_one(NBC, c.SubtractAssetQuantity(KHR, "1.00"))) == FROZEN


def test_unfreezing_restores_sending(chain: Chain) -> None:
    chain.run_one(NBC, c.FreezeAccount(ALICE, "check"))
    assert outcome(chain.run_one(NBC, c.UnfreezeAccount(ALICE, "cleared"))) == COMMITTED
    assert outcome(chain.run_one(ALICE, pay(ALICE, BOB, "1.00"))) == COMMITTED


def test_only_the_freeze_permission_freezes_or_unfreezes(chain: Chain) -> None:
    for who in (ACLB_ADMIN, BOB, ALICE):
        assert outcome(chain.run_one(who, c.FreezeAccount(ALICE, "x"))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    chain.run_one(NBC, c.FreezeAccount(ALICE, "x"))
    for who in (ACLB_ADMIN, ALICE):
        assert outcome(chain.run_one(who, c.UnfreezeAccount(ALICE, "x"))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)


def test_freezing_twice_or_unfreezing_an_unfrozen_account_is_refused_by_name(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.UnfreezeAccount(ALICE, "x"))) == (TxStatus.REJECTED, "account_not_frozen")
    chain.run_one(NBC, c.FreezeAccount(ALICE, "x"))
    assert outcome(chain.run_one(NBC, c.FreezeAccount(ALICE, "y"))) == FROZEN
    assert outcome(chain.run_one(NBC, c.FreezeAccount("ghost@aclb", "y"))) == (TxStatus.REJECTED, e.NO_SUCH_ACCOUNT)


def test_a_grantor_whose_role_was_removed_can_still_revoke_its_grant(chain: Chain) -> None:
    assert outcome(chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))) == COMMITTED
    assert outcome(chain.run_one(NBC, c.DetachRole(ALICE, "customer"))) == COMMITTED
    assert outcome(chain.run_one(ALICE, c.RevokePermission(BOB, "can_transfer_my_assets"))) == COMMITTED
    assert outcome(chain.run_one(BOB, pay(ALICE, BOB, "1000.00"))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)


def test_a_frozen_account_can_revoke_its_grants(chain: Chain) -> None:
    chain.run_one(ALICE, c.GrantPermission(BOB, "can_transfer_my_assets"))
    chain.run_one(NBC, c.FreezeAccount(ALICE, "x"))
    assert outcome(chain.run_one(ALICE, c.RevokePermission(BOB, "can_transfer_my_assets"))) == COMMITTED


def test_the_freeze_is_shown_with_its_reason_height_and_author(chain: Chain) -> None:
    chain.run_one(NBC, c.FreezeAccount(ALICE, "court order 2026/118"))
    height = chain.ledger.head.height
    frozen = ask(chain, NBC, GetAccount(ALICE))["account"]["frozen"]
    assert frozen == {"height": height, "by": NBC, "reason": "court order 2026/118"}
    chain.run_one(NBC, c.UnfreezeAccount(ALICE, "order lifted"))
    assert ask(chain, NBC, GetAccount(ALICE))["account"]["frozen"] is None


def test_the_accounts_history_is_the_freeze_audit_trail(chain: Chain) -> None:
    chain.run_one(NBC, c.FreezeAccount(ALICE, "court order 2026/118"))
    chain.run_one(NBC, c.UnfreezeAccount(ALICE, "order lifted"))
    history = ask(chain, NBC, GetAccountTransactions(ALICE, 10, None))["transactions"]
    trail = [(tx["creator"], tx["height"], cmd["type"], cmd["reason"]) for tx in history for cmd in tx["commands"]
             if "reason" in cmd]  # her genesis mint is in her history too
    head = chain.ledger.head.height
    assert trail == [(NBC, head, "UnfreezeAccount", "order lifted"),
                     (NBC, head - 1, "FreezeAccount", "court order 2026/118")]


def test_the_freeze_is_in_the_account_row_and_so_in_the_state_root(chain: Chain) -> None:
    row_key = keys.account(ALICE)
    before = chain.ledger.store.get(row_key)
    root = chain.ledger.head.state_root
    chain.run_one(NBC, c.FreezeAccount(ALICE, "x"))
    during = chain.ledger.store.get(row_key)
    assert codec.decode(during)[3] == [chain.ledger.head.height, NBC, "x"]
    # The documented formula over the block's only world-state write: the account row.
    digest = hashlib.sha256(msgpack.packb([[row_key, during]], use_bin_type=True)).digest()
    assert chain.ledger.head.state_root == hashlib.sha256(root + digest).digest()
    chain.run_one(NBC, c.UnfreezeAccount(ALICE, "y"))
    assert chain.ledger.store.get(row_key) == before  # an unfrozen row is byte for byte what it was


def test_the_freeze_commands_take_new_tags_and_leave_the_others_unchanged() -> None:
    names = [c.COMMAND_TYPES[tag].__name__ for tag in range(1, 21)]
    assert names[:18] == [
        "CreateDomain", "CreateAccount", "CreateAsset", "AddAssetQuantity", "SubtractAssetQuantity",
        "TransferAsset", "AddSignatory", "RemoveSignatory", "SetAccountQuorum", "CreateRole", "AppendRole",
        "DetachRole", "GrantPermission", "RevokePermission", "SetAccountDetail", "CompareAndSetAccountDetail",
        "AddPeer", "RemovePeer"]
    assert names[18:] == ["FreezeAccount", "UnfreezeAccount"]
    freeze = c.FreezeAccount(ALICE, "court order")
    assert freeze.to_array() == [19, ALICE, "court order"]
    assert c.command_from_array([19, ALICE, "court order"]) == freeze
    assert c.command_from_json({"type": "UnfreezeAccount", "account_id": ALICE, "reason": "ok"}) == \
        c.UnfreezeAccount(ALICE, "ok")
