"""The load benchmark's pre-signed workload: valid transfers never overdraw, and a pool larger than the
accounts' balances can fund ends with a clear error instead of searching for a solvent sender forever
(an hour-long run's 11,000,000-transfer pool over 1,000 accounts hung once every USD balance was spent)."""

from __future__ import annotations

from collections import Counter

import pytest

from consensus.crypto import KeyPair
from node.ledger.transactions import decode_transaction
from node.tools.bench import report, workload
from node.tools.bench.workload import ASSETS, OVERDRAFT, VALID, build_workload

ACCOUNTS = ["c0@abaa", "c1@abaa", "c2@abaa"]
KEY = KeyPair.from_seed(bytes(32))


def debits(work: workload.Workload) -> Counter[tuple[str, str]]:
    """Minor units each (sender, asset) pays over the valid transfers."""
    paid: Counter[tuple[str, str]] = Counter()
    for data, kind in zip(work.encoded, work.kinds, strict=True):
        if kind == VALID:
            [cmd] = decode_transaction(data).payload.commands
            whole, _, frac = cmd.amount.partition(".")
            paid[cmd.src_account_id, cmd.asset_id] += int(whole) * 100 + int(frac or 0)
    return paid


def test_once_the_usd_balances_are_spent_valid_transfers_pay_in_khr_within_budget(monkeypatch) -> None:
    # 0.50 USD each: a handful of USD transfers spend it all, long before the pool ends.
    monkeypatch.setattr(workload, "CUSTOMER_BALANCES", {ASSETS[0]: "4000000.00", ASSETS[1]: "0.50"})
    work = build_workload(600, ACCOUNTS, KEY, 0.02, seed=1, now_ms=1_700_000_000_000)
    assert len(work) == 600
    paid = debits(work)
    assert all(paid[a, ASSETS[1]] <= 50 for a in ACCOUNTS)
    assert all(paid[a, ASSETS[0]] <= 400_000_000 for a in ACCOUNTS)
    assert sum(paid[a, ASSETS[0]] > 0 for a in ACCOUNTS) == len(ACCOUNTS)
    assert OVERDRAFT in work.kinds  # the invalid share is still drawn


def test_a_pool_the_balances_cannot_fund_is_refused_with_a_hint(monkeypatch) -> None:
    monkeypatch.setattr(workload, "CUSTOMER_BALANCES", {ASSETS[0]: "2.00", ASSETS[1]: "0.50"})
    with pytest.raises(ValueError, match="cannot fund 5,000 valid transfers; use a smaller --pool"):
        build_workload(5_000, ACCOUNTS, KEY, 0.02, seed=1, now_ms=1_700_000_000_000)


def test_the_per_minute_rates_count_each_commit_in_its_own_minute() -> None:
    start = 1000.0
    commits = [start + 0.5] * 120 + [start + 61.0] * 30 + [start + 125.0] * 60 + [start - 1.0]
    # The window ends inside minute 3: only whole minutes are reported; commits outside it are not counted.
    assert report.per_minute_tps(commits, start, 150.0) == [2.0, 0.5]
    assert report.per_minute_tps(commits, start, 59.0) == []
