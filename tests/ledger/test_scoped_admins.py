"""Scoped admins (issue 14, finding 9), on a real ledger (LevelDB).

A member bank's admin acts in its own domain only: it creates assets there and writes details on its own
customers, never in the central bank's domain or on another bank's customers. The central bank's role
keeps the global permissions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger import permissions as P
from node.ledger.statuses import TxStatus
from tests.ledger_world import Chain

ALICE, CAROL = "alice@aclb", "carol@abaa"
ACLB_ADMIN, NBC = "admin@aclb", "admin@nbc"
GLOBAL_ADMIN_PERMISSIONS = {
    "root", "can_create_domain", "can_create_account", "can_create_asset", "can_add_asset_qty",
    "can_subtract_asset_qty", "can_set_detail", "can_append_role", "can_detach_role", "can_create_role",
    "can_add_peer", "can_remove_peer", "can_freeze_account",
}
REPO = next(p for p in Path(__file__).resolve().parents if (p / "configs").is_dir())
GENESIS_EXAMPLE = REPO / "configs" / "genesis.example.json"


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def outcome(result) -> tuple[str, str | None]:
    return result.status, result.error_code


def test_a_bank_admin_cannot_create_an_asset_in_the_central_banks_domain(chain: Chain) -> None:
    squat = chain.run_one(ACLB_ADMIN, c.CreateAsset("digital", "nbc", 2))
    assert outcome(squat) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    # ... so the central bank can still create it.
    assert outcome(chain.run_one(NBC, c.CreateAsset("digital", "nbc", 2))) == (TxStatus.COMMITTED, None)


def test_a_bank_admin_cannot_create_an_asset_in_another_banks_domain(chain: Chain) -> None:
    assert outcome(chain.run_one(ACLB_ADMIN, c.CreateAsset("miles", "abaa", 0))) == (TxStatus.REJECTED, e.PERMISSION_DENIED)


def test_a_bank_admin_creates_assets_in_its_own_domain(chain: Chain) -> None:
    assert outcome(chain.run_one(ACLB_ADMIN, c.CreateAsset("miles", "aclb", 0))) == (TxStatus.COMMITTED, None)


def test_a_bank_admin_cannot_write_details_on_another_banks_customer(chain: Chain) -> None:
    result = chain.run_one(ACLB_ADMIN, c.SetAccountDetail(CAROL, "kyc", "blocked"))
    assert outcome(result) == (TxStatus.REJECTED, e.PERMISSION_DENIED)
    result = chain.run_one(ACLB_ADMIN, c.CompareAndSetAccountDetail(CAROL, "kyc", "blocked", None))
    assert outcome(result) == (TxStatus.REJECTED, e.PERMISSION_DENIED)


def test_a_bank_admin_writes_details_on_its_own_customers(chain: Chain) -> None:
    assert outcome(chain.run_one(ACLB_ADMIN, c.SetAccountDetail(ALICE, "kyc", "verified"))) == (TxStatus.COMMITTED, None)


def test_the_central_bank_creates_assets_and_writes_details_anywhere(chain: Chain) -> None:
    assert outcome(chain.run_one(NBC, c.CreateAsset("miles", "abaa", 0))) == (TxStatus.COMMITTED, None)
    assert outcome(chain.run_one(NBC, c.SetAccountDetail(CAROL, "sanction", "none"))) == (TxStatus.COMMITTED, None)


@pytest.mark.parametrize("roles", [
    {"bank_admin": P.BANK_ADMIN_ROLE, "central_bank": P.CENTRAL_BANK_ROLE},
    json.loads(GENESIS_EXAMPLE.read_text())["roles"],
], ids=["code", "genesis.example.json"])
def test_the_bank_admin_role_holds_no_global_admin_permission(roles: dict[str, list[str]]) -> None:
    assert not GLOBAL_ADMIN_PERMISSIONS & set(roles["bank_admin"])
    # The central bank appoints bank admins, so it holds every permission of their role (Iroha's rule).
    assert set(roles["bank_admin"]) <= set(roles["central_bank"])
    assert "can_freeze_account" in roles["central_bank"]
