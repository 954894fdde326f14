"""Signed queries against a real ledger: authentication, permission scopes, pagination."""

from __future__ import annotations

from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node.ledger import commands as c
from node.ledger.errors import QueryError, StatelessError
from node.ledger.queries import (
    GetAccount,
    GetAccountAssets,
    GetAccountAssetTransactions,
    GetAccountDetail,
    GetAccountTransactions,
    GetAssetInfo,
    GetBlock,
    GetPeers,
    GetPendingTransactions,
    GetRolePermissions,
    GetRoles,
    GetSignatories,
    GetTransactions,
    Query,
    QueryService,
    decode_query,
    sign_query,
)
from storage import keys
from tests.ledger_world import CHAIN, KHR, Chain, key


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def ask(chain: Chain, creator: str, query: Query, *, signer: KeyPair | None = None, chain_id: str = CHAIN,
        at: int | None = None) -> dict:
    now = chain.now if at is None else at
    signed = sign_query(chain_id, creator, now, 1, query, signer or key(creator))
    service = QueryService(chain.ledger, lambda creator: [])
    return service.answer(decode_query(signed.encode()), chain.now)


def test_customer_reads_own_balances_with_decimal_strings(chain: Chain) -> None:
    answer = ask(chain, "alice@aclb", GetAccountAssets("alice@aclb", 10, None))
    assert answer["assets"] == [{"asset_id": "khr#nbc", "balance": "1000.00"}, {"asset_id": "usd#nbc", "balance": "50.00"}]


def test_customer_cannot_read_another_customers_account(chain: Chain) -> None:
    for query in (GetAccountAssets("bob@aclb", 10, None), GetAccount("bob@aclb"), GetSignatories("bob@aclb"),
                  GetAccountTransactions("bob@aclb", 10, None)):
        with pytest.raises(QueryError) as err:
            ask(chain, "alice@aclb", query)
        assert err.value.code == "permission_denied"


def test_bank_admin_reads_its_own_domain_but_not_another_banks(chain: Chain) -> None:
    assert ask(chain, "admin@aclb", GetAccount("alice@aclb"))["account"]["roles"] == ["customer"]
    with pytest.raises(QueryError) as err:
        ask(chain, "admin@aclb", GetAccount("carol@abaa"))
    assert err.value.code == "permission_denied"


def test_central_bank_reads_everything(chain: Chain) -> None:
    assert ask(chain, "admin@nbc", GetAccount("carol@abaa"))["account"]["domain_id"] == "abaa"
    assert "customer" in ask(chain, "admin@nbc", GetRoles())["roles"]
    assert "can_transfer" in ask(chain, "admin@nbc", GetRolePermissions("customer"))["permissions"]
    assert ask(chain, "admin@nbc", GetAssetInfo(KHR))["asset"]["precision"] == 2
    assert {p["name"] for p in ask(chain, "admin@nbc", GetPeers())["peers"]} == {"nbc", "wing"}
    assert ask(chain, "admin@nbc", GetBlock(0))["block"]["height"] == 0


def test_query_signed_by_a_key_that_is_not_a_signatory_is_refused(chain: Chain) -> None:
    with pytest.raises(QueryError) as err:
        ask(chain, "alice@aclb", GetAccountAssets("alice@aclb", 10, None), signer=key("mallory"))
    assert err.value.code == "not_a_signatory"


def test_query_for_another_chain_or_stale_is_refused(chain: Chain) -> None:
    with pytest.raises(StatelessError) as err:
        ask(chain, "alice@aclb", GetAccount("alice@aclb"), chain_id="other")
    assert err.value.code == "wrong_chain"
    with pytest.raises(StatelessError) as err:
        ask(chain, "alice@aclb", GetAccount("alice@aclb"), at=chain.now - 10 * 60 * 1000)
    assert err.value.code == "stale_query"


def test_tampered_query_signature_is_refused(chain: Chain) -> None:
    signed = sign_query(CHAIN, "alice@aclb", chain.now, 1, GetAccount("alice@aclb"), key("alice@aclb"))
    forged = type(signed)(**{**signed.__dict__, "signature": bytes(64)})
    with pytest.raises(StatelessError) as err:
        QueryService(chain.ledger).answer(decode_query(forged.encode()), chain.now)
    assert err.value.code == "bad_signature"


def test_account_transactions_are_paged_newest_first_with_a_cursor(chain: Chain) -> None:
    txs = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00")) for i in range(5)]
    for t in txs:
        chain.run(t)
    first = ask(chain, "alice@aclb", GetAccountTransactions("alice@aclb", 2, None))
    assert [t["hash"] for t in first["transactions"]] == [txs[4].hash.hex(), txs[3].hash.hex()]
    second = ask(chain, "alice@aclb", GetAccountTransactions("alice@aclb", 2, first["next"]))
    assert [t["hash"] for t in second["transactions"]] == [txs[2].hash.hex(), txs[1].hash.hex()]
    # The receiver sees the payments in its history too, and per asset.
    bob = ask(chain, "bob@aclb", GetAccountAssetTransactions("bob@aclb", KHR, 10, None))
    assert len(bob["transactions"]) == 5 and bob["next"] is None


def test_history_pages_cross_blocks_and_rows_hold_only_their_key(chain: Chain) -> None:
    """History rows are keyed by (account, position) with empty values: a page reads the blocks."""
    txs = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00")) for i in range(5)]
    chain.run(*txs[:3])  # one block holds three of them, the next block two
    chain.run(*txs[3:])
    newest_first = [t.hash.hex() for t in reversed(txs)]
    seen, cursor = [], None
    for _ in range(3):
        page = ask(chain, "bob@aclb", GetAccountTransactions("bob@aclb", 2, cursor))
        seen += [t["hash"] for t in page["transactions"]]
        cursor = page["next"]
    assert seen == newest_first and cursor is None
    assert all(t["status"] == "COMMITTED" for t in page["transactions"])
    rows = list(chain.ledger.store.scan(keys.account_txs_prefix("bob@aclb")))
    rows += list(chain.ledger.store.scan(keys.account_asset_txs_prefix("bob@aclb", KHR)))
    assert len(rows) == 10 and {value for _key, value in rows} == {b""}


def test_get_transactions_my_scope_returns_own_and_those_naming_the_querier_only(chain: Chain) -> None:
    mine = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00"))
    chain.run(mine)
    assert ask(chain, "alice@aclb", GetTransactions((mine.hash.hex(),)))["transactions"][0]["status"] == "COMMITTED"
    # bob is paid by it: he sees his command (as in his history); carol takes no part: "no such".
    assert ask(chain, "bob@aclb", GetTransactions((mine.hash.hex(),)))["transactions"][0]["redacted"] == 0
    with pytest.raises(QueryError) as err:
        ask(chain, "carol@abaa", GetTransactions((mine.hash.hex(),)))
    assert err.value.code == "no_such_transaction"


def test_account_detail_by_writer_and_key(chain: Chain) -> None:
    chain.run_one("alice@aclb", c.SetAccountDetail("alice@aclb", "phone", "+855-12-000"))
    answer = ask(chain, "alice@aclb", GetAccountDetail("alice@aclb", None, "phone"))
    assert answer["details"] == {"alice@aclb": {"phone": "+855-12-000"}}


def test_account_assets_pagination(chain: Chain) -> None:
    page = ask(chain, "alice@aclb", GetAccountAssets("alice@aclb", 1, None))
    assert [a["asset_id"] for a in page["assets"]] == ["khr#nbc"] and page["next"] == "usd#nbc"
    rest = ask(chain, "alice@aclb", GetAccountAssets("alice@aclb", 1, page["next"]))
    assert [a["asset_id"] for a in rest["assets"]] == ["usd#nbc"] and rest["next"] is None


def test_pending_transactions_come_from_the_mempool_source(chain: Chain) -> None:
    waiting = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00"))
    service = QueryService(chain.ledger, lambda creator: [waiting] if creator == "alice@aclb" else [])
    signed = sign_query(CHAIN, "alice@aclb", chain.now, 1, GetPendingTransactions(10, None), key("alice@aclb"))
    answer = service.answer(decode_query(signed.encode()), chain.now)
    assert [t["hash"] for t in answer["transactions"]] == [waiting.hash.hex()]


def test_a_transaction_already_in_the_chain_is_not_listed_as_pending(chain: Chain) -> None:
    # The node's mempool forgets a block's transactions a moment after the block is published.
    done = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00"))
    chain.run(done)
    waiting = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "2.00"))
    service = QueryService(chain.ledger, lambda creator: [done, waiting] if creator == "alice@aclb" else [])
    signed = sign_query(CHAIN, "alice@aclb", chain.now, 1, GetPendingTransactions(10, None), key("alice@aclb"))
    answer = service.answer(decode_query(signed.encode()), chain.now)
    assert [t["hash"] for t in answer["transactions"]] == [waiting.hash.hex()]
