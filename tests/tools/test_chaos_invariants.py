"""The chaos campaign's invariants as pure functions: each one fails on the state it exists to catch.

The campaign itself (tests/integration/test_chaos_short.py) only ever shows them passing; these show
that each would fail, without a network.
"""

from __future__ import annotations

from collections import Counter

from node.tools.chaos import invariants as inv
from node.tools.chaos.observe import ChainView

HASHES = ["aa", "bb", "cc"]


def view(**kwargs: object) -> ChainView:
    v = ChainView(checked_heights=2)
    v.blocks = {1: {"n1": ("h1", "r1"), "n2": ("h1", "r1")}, 2: {"n1": ("h2", "r2"), "n2": ("h2", "r2")}}
    v.placed = {"aa": (1, "committed"), "bb": (2, "rejected")}
    v.occurrences = Counter({"aa": 1, "bb": 1})
    v.heads = {"n1": (2, "r2"), "n2": (2, "r2")}
    for k, value in kwargs.items():
        setattr(v, k, value)
    return v


def passing_result() -> dict[str, object]:
    r: dict[str, object] = {}
    r |= inv.no_fork(view())
    r |= inv.committed_answers_kept({0: 1}, HASHES, view())
    r |= inv.no_duplicate(HASHES, view())
    r |= inv.nothing_accepted_lost([])
    r |= inv.money_conserved([("khr#nbc", 100), ("khr#nbc", 100)], {"khr#nbc": 100}, 2)
    r |= inv.heights_advanced(1, 2)
    r |= inv.evidence_names_only_byzantine(Counter({"wing": 3}), "wing")
    r |= {"evidence_unreadable": []}
    r |= inv.recovered_in_time([0.5, 1.2])
    r |= inv.commit_crashes_fired([{"kind": "kill_mid_commit", "point": "during_write", "exit": -9}])
    return r


def test_a_consistent_run_breaks_no_invariant() -> None:
    assert inv.failures(passing_result()) == []


def test_two_nodes_with_different_blocks_at_one_height_are_a_fork() -> None:
    blocks = {1: {"n1": ("h1", "r1"), "n2": ("x1", "r1")}}
    assert inv.no_fork(view(blocks=blocks)) == {"forks": 1, "state_roots_equal": False}


def test_nodes_on_different_heads_at_the_end_are_not_equal() -> None:
    assert inv.no_fork(view(heads={"n1": (2, "r2"), "n2": (3, "r3")}))["state_roots_equal"] is False


def test_a_committed_answer_at_another_height_than_the_chain_is_lost() -> None:
    assert inv.committed_answers_kept({0: 2}, HASHES, view())["lost_committed"] == 1


def test_a_committed_answer_for_a_rejected_transaction_is_lost() -> None:
    assert inv.committed_answers_kept({1: 2}, HASHES, view())["lost_committed"] == 1


def test_one_of_our_transactions_in_two_blocks_is_a_duplicate() -> None:
    assert inv.no_duplicate(HASHES, view(occurrences=Counter({"aa": 2})))["duplicated_committed"] == 1


def test_someone_elses_transaction_in_two_blocks_is_not_ours_to_count() -> None:
    assert inv.no_duplicate(HASHES, view(occurrences=Counter({"zz": 2})))["duplicated_committed"] == 0


def test_an_accepted_transaction_the_node_no_longer_knows_is_lost_and_a_pending_one_unresolved() -> None:
    assert inv.nothing_accepted_lost(["NOT_RECEIVED", "STATELESS_VALIDATION_SUCCESS"]) == \
        {"lost_uncommitted": 1, "unresolved": 1}


def test_money_created_or_destroyed_is_caught_and_a_negative_balance_counted() -> None:
    assert inv.money_conserved([("khr#nbc", 150)], {"khr#nbc": 100}, 1)["money_conserved"] is False
    assert inv.money_conserved([("khr#nbc", 250), ("khr#nbc", -50)], {"khr#nbc": 100}, 2) == \
        {"money_conserved": True, "negative_balances": 1}


def test_one_fault_without_recovery_leaves_no_maximum() -> None:
    assert inv.recovered_in_time([0.5, None]) == {"max_recovery_s": None}
    assert inv.failures(passing_result() | {"max_recovery_s": None}) == ["recovered_in_time"]


def test_a_recovery_slower_than_the_limit_fails_the_run() -> None:
    slow = passing_result() | inv.recovered_in_time([inv.RECOVERY_LIMIT_S + 0.1])
    assert inv.failures(slow) == ["recovered_in_time"]


def test_an_armed_commit_crash_that_never_fired_is_missed() -> None:
    fired = inv.commit_crashes_fired([{"point": "after_write", "exit": None}, {"kind": "isolate"}])
    assert fired == {"commit_crashes": 0, "commit_crashes_missed": 1}


def test_evidence_naming_an_honest_validator_fails_the_run() -> None:
    blamed = passing_result() | inv.evidence_names_only_byzantine(Counter({"wing": 2, "nbc": 1}), "wing")
    assert inv.failures(blamed) == ["evidence_names_only_byzantine"]


def test_a_chain_that_did_not_advance_fails_the_run() -> None:
    assert inv.failures(passing_result() | inv.heights_advanced(5, 5)) == ["heights_advanced"]
