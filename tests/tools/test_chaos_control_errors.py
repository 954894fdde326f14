"""The chaos campaign survives a node too slow to answer a control request (issue 14, low finding: a
run aborted with "unreachable: Remote end closed connection" when the machine was loaded)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from node.api.client import ClientError
from node.tools.chaos import perturbations


class RisingChain:
    """Just what ``perturb`` reads of the network: the highest height, advancing as time passes."""

    def __init__(self) -> None:
        self.height = 10

    def max_height(self) -> int:
        self.height += 1
        return self.height


def test_a_control_request_that_fails_is_recorded_and_the_campaign_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_node(net: Any, rng: random.Random, hold: float, record: dict[str, Any]) -> float:
        record["node"] = "abaa"
        raise ClientError("unreachable", "cannot reach node at http://127.0.0.1:1: Remote end closed connection")

    monkeypatch.setitem(perturbations.FAULTS, "slow_control", slow_node)
    record = perturbations.perturb(RisingChain(), random.Random(7), "slow_control", 0.0)  # type: ignore[arg-type]
    assert record["control_error"].startswith("unreachable")
    assert record["node"] == "abaa" and record["recovery_s"] is not None  # recovery still measured
