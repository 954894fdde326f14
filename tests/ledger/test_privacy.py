"""Privacy of answers (issue 14, finding 8 and a low finding), on a real ledger (LevelDB).

A customer sees a transaction whole only if it created it; of anyone else's transaction it sees only the
commands that name its account, the others redacted (as the account's bank admin does for its domain's
accounts). A transaction a querier may not see answers exactly like one that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.ledger import commands as c
from node.ledger.errors import QueryError
from node.ledger.queries import (
    GetAccountAssetTransactions,
    GetAccountTransactions,
    GetTransactions,
    Query,
    QueryService,
    decode_query,
    sign_query,
)
from node.ledger.statuses import TxStatus
from tests.ledger_world import CHAIN, KHR, Chain, key

ALICE, BOB, CAROL = "alice@aclb", "bob@aclb", "carol@abaa"
ACLB_ADMIN, ABAA_ADMIN, NBC = "admin@aclb", "admin@abaa", "admin@nbc"


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def ask(chain: Chain, creator: str, query: Query) -> dict[str, Any]:
    signed = sign_query(CHAIN, creator, chain.now, 1, query, key(creator))
    return QueryService(chain.ledger, lambda _creator: []).answer(decode_query(signed.encode()), chain.now)


def pay(src: str, dest: str, amount: str) -> c.TransferAsset:
    return c.TransferAsset(src, dest, KHR, "salary", amount)


def payroll(chain: Chain) -> str:
    """alice pays bob 10 and carol 20 in one transaction; returns its hash."""
    batch = chain.tx(ALICE, pay(ALICE, BOB, "10.00"), pay(ALICE, CAROL, "20.00"))
    assert [r.status for r in chain.run(batch)] == [TxStatus.COMMITTED]
    return batch.hash.hex()


def amounts(tx: dict[str, Any]) -> list[tuple[str, str]]:
    return [(cmd["dest_account_id"], cmd["amount"]) for cmd in tx["commands"]]


def test_a_payee_sees_only_its_own_salary_in_its_history(chain: Chain) -> None:
    batch = payroll(chain)
    [tx] = ask(chain, BOB, GetAccountTransactions(BOB, 10, None))["transactions"]
    assert tx["hash"] == batch
    assert amounts(tx) == [(BOB, "10.00")]  # not carol's 20.00
    assert (tx["command_indices"], tx["redacted"]) == ([0], 1)


def test_a_payee_sees_only_its_own_salary_in_its_asset_history(chain: Chain) -> None:
    payroll(chain)
    [tx] = ask(chain, CAROL, GetAccountAssetTransactions(CAROL, KHR, 10, None))["transactions"]
    assert amounts(tx) == [(CAROL, "20.00")]
    assert (tx["command_indices"], tx["redacted"]) == ([1], 1)


def test_a_payee_reading_the_batch_by_hash_sees_only_its_own_salary(chain: Chain) -> None:
    batch = payroll(chain)
    [tx] = ask(chain, BOB, GetTransactions((batch,)))["transactions"]
    assert amounts(tx) == [(BOB, "10.00")]


def test_the_creator_and_the_central_bank_see_the_whole_batch(chain: Chain) -> None:
    batch = payroll(chain)
    for querier in (ALICE, NBC):
        [tx] = ask(chain, querier, GetTransactions((batch,)))["transactions"]
        assert amounts(tx) == [(BOB, "10.00"), (CAROL, "20.00")] and "redacted" not in tx


def test_a_bank_admin_sees_another_banks_customers_batch_only_where_it_names_its_own_customers(chain: Chain) -> None:
    chain.run_one(ALICE, pay(ALICE, CAROL, "100.00"))
    batch = chain.tx(CAROL, pay(CAROL, BOB, "10.00"), pay(CAROL, ABAA_ADMIN, "5.00"))
    assert [r.status for r in chain.run(batch)] == [TxStatus.COMMITTED]
    [tx] = ask(chain, ACLB_ADMIN, GetAccountTransactions(BOB, 10, None))["transactions"]
    assert amounts(tx) == [(BOB, "10.00")]
    newest = ask(chain, ABAA_ADMIN, GetAccountTransactions(CAROL, 10, None))["transactions"][0]
    assert amounts(newest) == [(BOB, "10.00"), (ABAA_ADMIN, "5.00")]  # carol is abaa's customer


def test_someone_elses_transaction_hash_answers_exactly_like_a_missing_one(chain: Chain) -> None:
    batch = payroll(chain)
    answers = []
    for h in (batch, "ab" * 32):
        with pytest.raises(QueryError) as err:
            ask(chain, ACLB_ADMIN, GetTransactions((h,)))  # takes no part in alice's payroll
        answers.append((err.value.code, err.value.message.replace(h, "<hash>")))
    assert answers[0] == answers[1] and answers[0][0] == "no_such_transaction"
    assert err.value.http_status == 404


def test_a_history_cursor_outside_the_history_answers_like_an_unknown_one(chain: Chain) -> None:
    batch = payroll(chain)
    chain.run_one(ACLB_ADMIN, c.SetAccountDetail(ACLB_ADMIN, "k", "v"))  # a history of its own
    answers = []
    for h in (batch, "ab" * 32):
        with pytest.raises(QueryError) as err:
            ask(chain, ACLB_ADMIN, GetAccountTransactions(ACLB_ADMIN, 10, h))
        answers.append((err.value.code, err.value.message.replace(h, "<hash>")))
    assert answers[0] == answers[1] and answers[0][0] == "no_such_transaction"
