"""A Byzantine validator among real node processes on loopback ([testing] byzantine, test-only).

One of the four validators ("wing") misuses its key: it double-votes (every prevote and precommit is
followed by a conflicting one) or, as proposer, signs two different blocks for one round. With f = 1
the honest three keep agreement: transfers still commit, every honest node has the same block hash and
state root at every height, and an honest node records evidence naming "wing" (``GET /v1/evidence``).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import testnet  # the module, not its TestnetNode class: pytest would try to collect "Test*"
from tests.integration.conftest import RunningNet, start_network
from tests.integration.test_network import assert_same_chain, commit, transfer, wait_for, wait_for_growth

pytestmark = pytest.mark.integration

BYZANTINE = "wing"
HONEST = ["nbc", "aclb", "abaa"]
EVIDENCE_TIMEOUT = 15.0


def start_with_byzantine(directory: Path, mode: str) -> RunningNet:
    """4 validators + 1 observer with fast timeouts, "wing" in byzantine ``mode`` (retried on port races)."""

    def make_byzantine(node: testnet.TestnetNode) -> None:
        if node.name == BYZANTINE:
            with node.config.open("a") as f:
                f.write(f'\n[testing]\nbyzantine = "{mode}"\n')

    return start_network(directory, configure=make_byzantine)


KINDS = {"double_vote": {"prevote", "precommit"}, "equivocate": {"propose"}}


@pytest.fixture(params=sorted(KINDS))
def byzantine_net(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RunningNet, str]]:
    net = start_with_byzantine(tmp_path / "net", request.param)
    try:
        yield net, request.param
    finally:
        net.stop_all()


def evidence(net: RunningNet, name: str) -> list[tuple[str | None, str]]:
    with urllib.request.urlopen(net.client(name).url + "/v1/evidence", timeout=10) as resp:
        body = json.loads(resp.read())
    return [(e["name"], e["kind"]) for e in body["evidence"]]


def test_honest_nodes_agree_and_record_evidence_naming_the_byzantine_validator(
        byzantine_net: tuple[RunningNet, str]) -> None:
    net, mode = byzantine_net
    assert "BYZANTINE TEST MODE" in net.log(BYZANTINE)
    assert all("BYZANTINE TEST MODE" not in net.log(name) for name in HONEST)

    for i, via in enumerate(HONEST + HONEST):
        commit(net, transfer(net, amount=f"{i + 1}.00"), via)
    # Enough heights that the Byzantine node proposes at least once (equivocate) and votes many times.
    wait_for_growth(net, HONEST, 6)

    def named() -> dict[str, list[tuple[str | None, str]]]:
        found = {name: evidence(net, name) for name in HONEST}
        return found if any(e[0] == BYZANTINE for records in found.values() for e in records) else {}

    found = wait_for(named, f"an honest node to record evidence naming {BYZANTINE}", EVIDENCE_TIMEOUT)
    # Only the Byzantine validator ever signed twice: no honest validator is named by an honest node.
    records = [e for found_at in found.values() for e in found_at]
    assert {n for n, _ in records} == {BYZANTINE}, found
    assert {k for _, k in records} <= KINDS[mode], found

    commit(net, transfer(net, amount="9.00"), "nbc")
    assert_same_chain(net, HONEST + ["ftb"])
