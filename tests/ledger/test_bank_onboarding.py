"""The central bank onboards a new member bank, whose admin then serves only its own customers."""

from __future__ import annotations

from pathlib import Path

from node.ledger import commands as c
from tests.ledger_world import KHR, Chain, key


def test_central_bank_creates_a_bank_whose_admin_opens_accounts_only_in_its_domain(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    onboard = chain.run_one(
        "admin@nbc",
        c.CreateDomain("prasac", "customer"),
        c.CreateAccount("admin", "prasac", key("admin@prasac").public_key),
        c.AppendRole("admin@prasac", "bank_admin"),
    )
    assert onboard.status == "COMMITTED", onboard
    own = chain.run_one("admin@prasac", c.CreateAccount("kosal", "prasac", key("kosal@prasac").public_key))
    assert own.status == "COMMITTED"
    other = chain.run_one("admin@prasac", c.CreateAccount("kosal", "aclb", key("kosal@aclb").public_key))
    assert (other.status, other.error_code) == ("REJECTED", "permission_denied")
    mint = chain.run_one("admin@prasac", c.AddAssetQuantity(KHR, "1.00"))
    assert (mint.status, mint.error_code) == ("REJECTED", "permission_denied")
    chain.close()
