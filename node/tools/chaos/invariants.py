"""What a chaos campaign must not break, one function per invariant.

Each function is pure: it takes what ``observe`` read from the nodes and what the load recorded, and
returns the JSON fields that report it (the names docs/reliability.md and the tests read). ``failures``
then names every invariant a result breaks; the run is OK when it names none.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import Any

from node.intake import statuses as st
from node.tools.chaos.observe import ChainView

RECOVERY_LIMIT_S = 10.0
"""After a fault ends, the chain must advance again within this (three honest validators form a quorum
on their own, with or without a Byzantine fourth)."""

Fields = dict[str, Any]


def no_fork(view: ChainView) -> Fields:
    """Every node holds the same block hash and state root at every height up to the lowest head, and
    one snapshot finds every node on the same head."""
    forks = sum(1 for per_node in view.blocks.values() if len(set(per_node.values())) != 1)
    heads = set(view.heads.values())
    heights = {h for h, _root in heads}
    return {"forks": forks, "state_roots_equal": forks == 0 and len(heads) == 1 and len(heights) == 1}


def committed_answers_kept(answers: Mapping[int, int], hashes: list[str], view: ChainView) -> Fields:
    """Every transaction an API answered COMMITTED at height h is committed in the chain at height h."""
    lost = sum(1 for j, h in answers.items() if view.placed.get(hashes[j]) != (h, "committed"))
    return {"committed_answers_checked": len(answers), "lost_committed": lost}


def no_duplicate(hashes: list[str], view: ChainView) -> Fields:
    """None of our transactions is in more than one block."""
    ours = set(hashes)
    return {"duplicated_committed": sum(1 for tx, k in view.occurrences.items() if k > 1 and tx in ours)}


def outcomes(accepted: Collection[int], hashes: list[str], view: ChainView) -> Fields:
    """How the accepted transactions ended in the chain (figures, not an invariant)."""
    fates = Counter(view.placed.get(hashes[j], (0, ""))[1] for j in accepted)
    return {"committed": fates["committed"], "rejected_in_block": fates["rejected"]}


def nothing_accepted_lost(missing_statuses: list[str]) -> Fields:
    """Every accepted transaction found in no block: NOT_RECEIVED means a node accepted it and then
    forgot it (the intake journal exists so that a crash cannot do that); any other status means it is
    still somewhere between mempool and block after the drain (``unresolved``)."""
    lost = sum(1 for s in missing_statuses if s == st.NOT_RECEIVED)
    return {"lost_uncommitted": lost, "unresolved": len(missing_statuses) - lost}


def money_conserved(holdings: list[tuple[str, int]], opening: Mapping[str, int], accounts: int) -> Fields:
    """Each asset's total over the bench accounts equals what genesis gave them (``opening`` per account,
    in minor units), and no balance is below zero."""
    totals: Counter[str] = Counter()
    for asset, minor in holdings:
        totals[asset] += minor
    expected = {asset: per_account * accounts for asset, per_account in opening.items()}
    return {"money_conserved": dict(totals) == expected,
            "negative_balances": sum(1 for _asset, minor in holdings if minor < 0)}


def heights_advanced(start_height: int, final_height: int) -> Fields:
    return {"start_height": start_height, "heights_advanced": final_height > start_height}


def evidence_names_only_byzantine(names: Counter[str], byzantine_node: str) -> Fields:
    """Evidence the honest nodes recorded names no validator but the Byzantine one."""
    return {"evidence_naming_honest": sum(k for name, k in names.items() if name != byzantine_node)}


def recovered_in_time(recoveries: list[float | None]) -> Fields:
    """Every fault was followed by a new height; ``max_recovery_s`` is None if one never was."""
    if any(r is None for r in recoveries):
        return {"max_recovery_s": None}
    return {"max_recovery_s": max((r for r in recoveries if r is not None), default=0.0)}


def commit_crashes_fired(perturbations: list[dict[str, Any]]) -> Fields:
    """Every armed commit crash killed its node (exit -SIGKILL): one that did not is a broken injection,
    and the crash path it was meant to test went untested."""
    sigkill = -signal.SIGKILL  # Popen.returncode of a process killed by that signal
    return {"commit_crashes": sum(1 for p in perturbations if p.get("exit") == sigkill),
            "commit_crashes_missed": sum(1 for p in perturbations if "point" in p and p.get("exit") != sigkill)}


# The verdict: each invariant's pass condition over the result's fields.
CHECKS: dict[str, Callable[[Fields], bool]] = {
    "no_fork": lambda r: r["forks"] == 0,
    "committed_answers_kept": lambda r: r["lost_committed"] == 0,
    "no_duplicate": lambda r: r["duplicated_committed"] == 0,
    "state_roots_equal": lambda r: bool(r["state_roots_equal"]),
    "nothing_unresolved": lambda r: r["unresolved"] == 0,
    "nothing_accepted_lost": lambda r: r["lost_uncommitted"] == 0,
    "money_conserved": lambda r: bool(r["money_conserved"]),
    "no_negative_balance": lambda r: r["negative_balances"] == 0,
    "commit_crashes_fired": lambda r: r["commit_crashes_missed"] == 0,
    "heights_advanced": lambda r: bool(r["heights_advanced"]),
    "evidence_names_only_byzantine": lambda r: r["evidence_naming_honest"] == 0,
    "evidence_readable": lambda r: not r["evidence_unreadable"],
    "recovered_in_time": lambda r: r["max_recovery_s"] is not None and r["max_recovery_s"] <= RECOVERY_LIMIT_S,
}


def failures(result: Fields) -> list[str]:
    """The invariants ``result`` breaks, in ``CHECKS`` order; empty when the run is OK."""
    return [name for name, holds in CHECKS.items() if not holds(result)]
