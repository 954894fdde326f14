"""The consensus driver keeps a bounded number of validated blocks per height.

A Byzantine proposer can propose several valid blocks in each of its rounds, and the driver kept the
execution (decoded block + write set) of every one until the height ended. Now at most
MAX_CANDIDATES are kept, oldest first out, never the engine's locked or valid value.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from node.runtime.driver import MAX_CANDIDATES, ConsensusDriver


def driver_with(locked: bytes | None, valid: bytes | None) -> Any:
    driver = object.__new__(ConsensusDriver)  # only the candidate store is exercised
    driver._candidates = {}
    driver.engine = SimpleNamespace(locked_value_id=locked, valid_value_id=valid)
    return driver


def vid(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_candidates_stay_bounded_and_the_oldest_go_first() -> None:
    driver = driver_with(None, None)
    for i in range(MAX_CANDIDATES + 5):
        driver._remember(vid(i), f"block {i}", f"execution {i}")
    assert list(driver._candidates) == [vid(i) for i in range(5, MAX_CANDIDATES + 5)]
    assert driver._candidates[vid(MAX_CANDIDATES + 4)] == (f"block {MAX_CANDIDATES + 4}", f"execution {MAX_CANDIDATES + 4}")


def test_the_locked_and_valid_values_are_never_forgotten() -> None:
    driver = driver_with(vid(0), vid(1))
    for i in range(3 * MAX_CANDIDATES):
        driver._remember(vid(i), "b", "e")
    assert vid(0) in driver._candidates and vid(1) in driver._candidates
    assert len(driver._candidates) == MAX_CANDIDATES
    assert vid(3 * MAX_CANDIDATES - 1) in driver._candidates
