"""A twin in real processes: two honest node processes share one validator's key (the Twins method).

Each twin runs an honest engine with its own safety record, so together they sign whatever two honest
validators in different states would: two proposals for one round, votes for different values. Both
dial the same peers with the same key; each peer keeps one link to that key at a time (the transport's
duplicate rule), so the peers hear now one twin, now the other (which validator is twinned follows from
that rule: see lowest_key_validator). With f = 1 that is one Byzantine
validator: the honest three and the observer must keep one chain, commit what is submitted through
them and stay up, and any evidence they record names the twinned validator only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.tools import testnet  # the module: pytest would try to collect a class named Test*
from tests.integration.conftest import RunningNet, free_port, lowest_key_validator, start_network
from tests.integration.test_byzantine import assert_agreement, evidence
from tests.integration.test_network import commit, transfer, wait_for_growth

pytestmark = pytest.mark.integration

VALIDATORS = ["nbc", "aclb", "abaa", "wing"]
OBSERVER = "ftb"


@dataclass
class TwinNet:
    net: RunningNet
    twinned: str
    """The validator whose key two processes share (the Byzantine one)."""

    @property
    def honest(self) -> list[str]:
        return [v for v in VALIDATORS if v != self.twinned]


@pytest.fixture
def twin_net(tmp_path: Path) -> Iterator[TwinNet]:
    # Both processes are a Byzantine device holding one key on purpose: each would otherwise see the
    # other's precommits in certificates and stop signing (the signing guard), which is the product's
    # defence against an operator's copy-paste, not the adversary this test needs (test_signing_guard.py
    # tests it).
    chosen: list[str] = []

    def twin_config(node: testnet.TestnetNode) -> None:
        if not chosen:
            chosen.append(lowest_key_validator(node.config.parent.parent / "genesis.json", VALIDATORS))
        if node.name == chosen[0]:
            with node.config.open("a") as f:
                f.write("\n[testing]\ntwin = true\n")

    net = start_network(tmp_path / "net", configure=twin_config)
    try:
        original = net.node(chosen[-1])
        name = f"{original.name}_twin"
        api, p2p = free_port(), free_port()
        text = original.config.read_text()
        text = re.sub(rf'(?m)^name = "{original.name}"$', f'name = "{name}"', text)
        text = re.sub(rf'(?m)^data_dir = "(.*)/{original.name}"$', rf'data_dir = "\1/{name}"', text)
        text = re.sub(r'(?ms)(\[api\]\s*listen = )"[^"]*"', rf'\1"127.0.0.1:{api}"', text)
        text = re.sub(r'(?ms)(\[p2p\]\s*listen = )"[^"]*"', rf'\1"127.0.0.1:{p2p}"', text)
        text = re.sub(r'(?ms)(\[torii\]\s*listen = )"[^"]*"', r'\1""', text)  # no Torii: its port is the original's
        assert "twin = true" in text and f'name = "{name}"' in text
        config = original.config.with_name(f"{name}.toml")
        config.write_text(text)
        twin = testnet.TestnetNode(name, "validator", config, f"http://127.0.0.1:{api}", f"127.0.0.1:{p2p}")
        net.nodes.append(twin)
        net.start(twin)
        yield TwinNet(net, original.name)
    finally:
        net.stop_all()


def test_the_twinned_validator_is_the_lowest_keyed(tmp_path: Path) -> None:
    genesis = tmp_path / "genesis.json"
    keys = {"nbc": "c0", "aclb": "a1", "abaa": "ff", "wing": "b2", "ftb": "00"}  # the observer never counts
    genesis.write_text(json.dumps({"peers": [{"name": n, "public_key": k} for n, k in keys.items()]}))
    assert lowest_key_validator(genesis, VALIDATORS) == "aclb"


def test_two_processes_sharing_a_validator_key_break_neither_agreement_nor_liveness(twin_net: TwinNet) -> None:
    net, honest = twin_net.net, twin_net.honest
    followers = honest + [OBSERVER]
    twin = f"{twin_net.twinned}_twin"
    start = max(int(net.client(n).status()["height"]) for n in followers)
    for i, via in enumerate(honest * 3):
        commit(net, transfer(net, amount=f"{i + 1}.00"), via)
    wait_for_growth(net, followers, 12, timeout=60)
    assert all(proc.poll() is None for proc in net.procs.values()), "a node exited"
    top = assert_agreement(net, followers, 1)
    # The twin followed and took part: it is on the chain too (its engine is honest, only shared).
    assert int(net.client(twin).status()["height"]) >= top - 3
    named = {e["name"] for name in honest for e in evidence(net, name) if int(e["height"]) > start}  # type: ignore[call-overload]
    assert named <= {twin_net.twinned}, named
    assert "Traceback" not in "".join(net.log(n) for n in followers)
