"""Bounded details and queries (issue 14, low findings), on a real ledger (LevelDB).

One writer keeps a bounded number and size of details on an account (``detail_quota_exceeded``),
GetAccountDetail answers in pages, and GetTransactions accepts only as many hashes as fit in a query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.ledger import commands as c
from node.ledger import queries as Q
from node.ledger.errors import StatelessError
from node.ledger.queries import GetAccountDetail, GetTransactions, Query, QueryService, decode_query, sign_query
from node.ledger.statuses import TxStatus
from tests.ledger_world import CHAIN, Chain, key

ALICE, ACLB_ADMIN = "alice@aclb", "admin@aclb"
QUOTA = "detail_quota_exceeded"


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def ask(chain: Chain, creator: str, query: Query) -> dict[str, Any]:
    signed = sign_query(CHAIN, creator, chain.now, 1, query, key(creator))
    return QueryService(chain.ledger, lambda _creator: []).answer(decode_query(signed.encode()), chain.now)


def outcome(result: Any) -> tuple[str, str | None]:
    return result.status, result.error_code


def test_a_customer_cannot_write_more_than_the_detail_count_quota_on_itself(chain: Chain) -> None:
    count = c.MAX_DETAILS_PER_WRITER if hasattr(c, "MAX_DETAILS_PER_WRITER") else 128
    for start in range(0, count, 64):
        tx = chain.tx(ALICE, *(c.SetAccountDetail(ALICE, f"k{i}", "v") for i in range(start, min(start + 64, count))))
        assert [r.status for r in chain.run(tx)] == [TxStatus.COMMITTED]
    assert outcome(chain.run_one(ALICE, c.SetAccountDetail(ALICE, "one_more", "v"))) == (TxStatus.REJECTED, QUOTA)
    # Overwriting a detail it has is still fine, and the quota is per writer: its bank still writes.
    assert outcome(chain.run_one(ALICE, c.SetAccountDetail(ALICE, "k0", "w"))) == (TxStatus.COMMITTED, None)
    assert outcome(chain.run_one(ACLB_ADMIN, c.SetAccountDetail(ALICE, "kyc", "ok"))) == (TxStatus.COMMITTED, None)


def test_a_customer_cannot_write_more_than_the_detail_byte_quota_on_itself(chain: Chain) -> None:
    big = "x" * c.MAX_DETAIL_VALUE
    results = chain.run(*(chain.tx(ALICE, c.SetAccountDetail(ALICE, f"b{i}", big)) for i in range(16)))
    # 15 x 4 KiB fit in 64 KiB; the 16th does not.
    assert [outcome(r) for r in results] == [(TxStatus.COMMITTED, None)] * 15 + [(TxStatus.REJECTED, QUOTA)]
    result = chain.run_one(ALICE, c.CompareAndSetAccountDetail(ALICE, "b15", big, None))
    assert outcome(result) == (TxStatus.REJECTED, QUOTA)


def test_account_details_are_answered_in_pages(chain: Chain) -> None:
    chain.run_one(ALICE, *(c.SetAccountDetail(ALICE, f"k{i}", str(i)) for i in range(5)))
    chain.run_one(ACLB_ADMIN, c.SetAccountDetail(ALICE, "kyc", "ok"))
    seen: list[tuple[str, str, str]] = []
    cursor = None
    pages = 0
    while True:
        answer = ask(chain, ALICE, GetAccountDetail(ALICE, None, None, 2, cursor))
        page = [(w, k, v) for w, kv in answer["details"].items() for k, v in kv.items()]
        assert len(page) <= 2
        seen += page
        pages += 1
        cursor = answer["next"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [(ACLB_ADMIN, "kyc", "ok")] + [(ALICE, f"k{i}", str(i)) for i in range(5)]


def test_account_detail_pages_are_bounded() -> None:
    with pytest.raises(StatelessError) as err:
        GetAccountDetail.CHECKS[3](1000)
    assert err.value.code == "bad_page_size"


def longest_creator() -> str:
    return "a" * 32 + "@" + ".".join(["b" * 63] * 4)[:253]


def test_the_largest_get_transactions_a_node_accepts_fits_in_a_query(chain: Chain) -> None:
    most = Q.MAX_TX_HASHES
    signed = sign_query("c" * 64, longest_creator(), chain.now, 2**63 - 1, GetTransactions(("ab" * 32,) * most),
                        key(ALICE))
    assert len(signed.encode()) <= Q.MAX_QUERY_BYTES
    assert len(decode_query(signed.encode()).query.tx_hashes) == most


def test_one_hash_more_than_the_limit_is_refused_by_name(chain: Chain) -> None:
    signed = sign_query(CHAIN, ALICE, chain.now, 1, GetTransactions(("ab" * 32,) * (Q.MAX_TX_HASHES + 1)), key(ALICE))
    with pytest.raises(StatelessError) as err:
        decode_query(signed.encode())
    assert err.value.code == "bad_hash"
