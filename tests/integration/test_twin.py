"""A twin in real processes: two honest node processes share validator wing's key (the Twins method).

Each twin runs an honest engine with its own safety record, so together they sign whatever two honest
validators in different states would: two proposals for one round, votes for different values. Both
dial the same peers with the same key; each peer keeps one link to "wing" at a time (the transport's
duplicate rule), so the peers hear now one twin, now the other. With f = 1 that is one Byzantine
validator: the honest three and the observer must keep one chain, commit what is submitted through
them and stay up, and any evidence they record names wing only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.tools import testnet  # the module: pytest would try to collect a class named Test*
from tests.integration.conftest import RunningNet, free_port, start_network
from tests.integration.test_byzantine import all_evidence, assert_agreement
from tests.integration.test_network import commit, transfer, wait_for_growth

pytestmark = pytest.mark.integration

HONEST = ["nbc", "aclb", "abaa"]
FOLLOWERS = HONEST + ["ftb"]


def _twin_on_wing(node: testnet.TestnetNode) -> None:
    if node.name == "wing":
        with node.config.open("a") as f:
            f.write("\n[testing]\ntwin = true\n")


@pytest.fixture
def twin_net(tmp_path: Path) -> Iterator[RunningNet]:
    # Both wings are a Byzantine device holding one key on purpose: each would otherwise see the other's
    # precommits in certificates and stop signing (the signing guard), which is the product's defence
    # against an operator's copy-paste, not the adversary this test needs (test_signing_guard.py tests it).
    net = start_network(tmp_path / "net", configure=_twin_on_wing)
    try:
        wing = net.node("wing")
        api, p2p = free_port(), free_port()
        text = wing.config.read_text()
        text = re.sub(r'(?m)^name = "wing"$', 'name = "wing_twin"', text)
        text = re.sub(r'(?m)^data_dir = "(.*)/wing"$', r'data_dir = "\1/wing_twin"', text)
        text = re.sub(r'(?ms)(\[api\]\s*listen = )"[^"]*"', rf'\1"127.0.0.1:{api}"', text)
        text = re.sub(r'(?ms)(\[p2p\]\s*listen = )"[^"]*"', rf'\1"127.0.0.1:{p2p}"', text)
        text = re.sub(r'(?ms)(\[torii\]\s*listen = )"[^"]*"', r'\1""', text)  # no Torii: its port is the original's
        assert "twin = true" in text
        config = wing.config.with_name("wing_twin.toml")
        config.write_text(text)
        twin = testnet.TestnetNode("wing_twin", "validator", config, f"http://127.0.0.1:{api}", f"127.0.0.1:{p2p}")
        net.nodes.append(twin)
        net.start(twin)
        yield net
    finally:
        net.stop_all()


def test_two_processes_sharing_a_validator_key_break_neither_agreement_nor_liveness(twin_net: RunningNet) -> None:
    net = twin_net
    start = max(int(net.client(n).status()["height"]) for n in FOLLOWERS)
    for i, via in enumerate(HONEST * 3):
        commit(net, transfer(net, amount=f"{i + 1}.00"), via)
    wait_for_growth(net, FOLLOWERS, 12, timeout=60)
    assert all(proc.poll() is None for proc in net.procs.values()), "a node exited"
    top = assert_agreement(net, FOLLOWERS, 1)
    # The twin followed and took part: it is on the chain too (its engine is honest, only shared).
    assert int(net.client("wing_twin").status()["height"]) >= top - 3
    named = {e["name"] for e in all_evidence(net, start)}
    assert named <= {"wing"}, named
    assert "Traceback" not in "".join(net.log(n) for n in FOLLOWERS)
