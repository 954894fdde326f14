"""A Byzantine validator among real node processes on loopback ([testing] byzantine, test-only).

One of the four validators ("wing") misuses its key around its honest engine, in one mode per test
(``node.byzantine`` describes them). With f = 1 the honest three and the observer must, in every mode:
keep agreement (one block hash and state root per height), commit transfers submitted through them,
keep the chain growing and stay up; where the mode signs conflicting content, the evidence they record
names "wing" and only "wing"; where it does not, they record none.

The modes share one network (a fresh one costs ~5 s and nothing here needs it): each test restarts
only "wing", with its mode in its config, so the honest nodes also live through each switch. After a
test that failed, the next one starts a fresh network, so one mode's damage (a dead node, evidence the
API cannot read) is blamed on that mode only.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ledger.queries import GetBlock
from tests.integration.conftest import RunningNet, start_network
from tests.integration.test_network import ADMIN, heights, transfer, wait_for, wait_for_growth

pytestmark = pytest.mark.integration

BYZANTINE = "wing"
HONEST = ["nbc", "aclb", "abaa"]
OBSERVER = "ftb"
FOLLOWERS = HONEST + [OBSERVER]
EVIDENCE_TIMEOUT = 20.0
VOTES = {"prevote", "precommit"}
# Evidence kinds each mode must produce; modes that sign nothing conflicting must produce none.
CONFLICTING = {"double_vote": VOTES, "equivocate": {"propose"}, "multi_vote": VOTES, "oversized": {"propose"},
               "future_flood": VOTES | {"propose"}, "mixed": VOTES | {"propose"}}
# Heights to watch per mode: enough for wing to propose at least twice (every 4th height at round 0),
# and for ``mixed`` to pass through its whole repertoire once (9 behaviours, 4 heights each).
GROWTH = {"mixed": 36, "oversized": 10}
# ``mixed`` (all of them in one run) is left to tests/integration/test_chaos_short.py, which runs it under
# load and perturbations; ``BAKONG_BYZANTINE_MIXED=1`` adds it here too (~20 s).
MODES = ["double_vote", "equivocate", "multi_vote", "resign", "lying_head", "withhold", "amnesia",
         "oversized", "future_flood"] + (["mixed"] if os.environ.get("BAKONG_BYZANTINE_MIXED") == "1" else [])
# Evidence about heights this close to a mode switch may come from the previous mode (future_flood
# signs for the next two heights): only evidence above it is blamed on the mode under test.
SWITCH_MARGIN = 3


class ByzantineNet:
    """One 4+1 network whose "wing" is restarted in each test's mode."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.generation = 0
        self.net: RunningNet | None = None
        self.configs: dict[str, str] = {}
        self.clean = False
        """True when the last test on ``net`` passed."""

    def fresh(self) -> RunningNet:
        if self.net is not None:
            self.net.stop_all()
        self.generation += 1
        self.net = start_network(self.directory / f"net{self.generation}")
        self.configs = {n.name: n.config.read_text() for n in self.net.nodes}
        return self.net

    def in_mode(self, mode: str) -> RunningNet:
        net = self.net
        if net is None or not self.clean:
            net = self.fresh()
        self.clean = False
        if BYZANTINE in net.procs:
            net.kill(BYZANTINE, signal.SIGTERM)
        wing = net.node(BYZANTINE)
        wing.config.write_text(self.configs[BYZANTINE] + f'\n[testing]\nbyzantine = "{mode}"\n')
        net.start(wing)
        return net

    def close(self) -> None:
        if self.net is not None:
            self.net.stop_all()


@pytest.fixture(scope="module")
def byzantine_nets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ByzantineNet]:
    nets = ByzantineNet(tmp_path_factory.mktemp("byzantine"))
    try:
        yield nets
    finally:
        nets.close()


def evidence(net: RunningNet, name: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(net.client(name).url + "/v1/evidence", timeout=30) as resp:
        records: list[dict[str, object]] = json.loads(resp.read())["evidence"]
    return [{k: v for k, v in e.items() if k != "evidence"} for e in records]


def all_evidence(net: RunningNet, above: int) -> list[dict[str, object]]:
    return [dict(e, at=name) for name in HONEST for e in evidence(net, name) if int(e["height"]) > above]  # type: ignore[call-overload]


def assert_agreement(net: RunningNet, names: list[str], first: int) -> int:
    """Every named node reaches the highest head among them, and heights ``first``.. have one block hash
    and one state root on all of them. Returns the height compared up to."""
    top = max(heights(net, names).values())
    wait_for(lambda: min(heights(net, names).values()) >= top, f"{names} to reach height {top}", 30)
    admin = net.key(ADMIN)
    for height in range(max(1, first), top + 1):
        seen = {name: (b["hash"], b["state_root"]) for name in names
                for b in [net.client(name).query(ADMIN, admin, GetBlock(height))["block"]]}
        assert len(set(seen.values())) == 1, f"nodes disagree at height {height}: {seen}"
    return top


def restart_and_catch_up(net: RunningNet, name: str, behind: int = 4) -> None:
    """Kill ``name``, let the chain move ``behind`` heights on, restart it: it must catch up."""
    net.kill(name)
    wait_for_growth(net, [n for n in HONEST if n != name], behind)
    net.start(net.node(name))
    target = max(heights(net, [n for n in HONEST if n != name]).values())
    wait_for(lambda: heights(net, [name])[name] >= target, f"{name} to catch up to height {target}", 30)


@pytest.mark.parametrize("mode", MODES)
def test_honest_nodes_stay_live_agree_and_blame_only_the_byzantine_validator(
        byzantine_nets: ByzantineNet, mode: str) -> None:
    t0 = time.monotonic()
    net = byzantine_nets.in_mode(mode)
    assert f"BYZANTINE TEST MODE '{mode}'" in net.log(BYZANTINE)
    assert all("BYZANTINE TEST MODE" not in net.log(name) for name in FOLLOWERS)
    start = max(heights(net, FOLLOWERS).values())

    # Transfers submitted through each honest validator commit.
    txs = [(transfer(net, amount=f"{i + 1}.00"), via) for i, via in enumerate(HONEST)]
    for tx, via in txs:
        assert net.client(via).submit(tx)["status"] == "STATELESS_VALIDATION_SUCCESS"
    for tx, via in txs:
        assert net.client(via).wait_final(tx.hash.hex(), 30)["status"] == "COMMITTED", mode

    # The chain stays live on every honest node and the observer.
    wait_for_growth(net, FOLLOWERS, GROWTH.get(mode, 8), timeout=60)
    if mode == "lying_head":  # an observer and a validator that fall behind still catch up past the liar
        restart_and_catch_up(net, OBSERVER)
        restart_and_catch_up(net, "aclb")

    # Evidence: only wing is ever named; conflicting modes are caught, the others accuse no one.
    above = start + SWITCH_MARGIN
    if mode in CONFLICTING:
        found = wait_for(lambda: all_evidence(net, above), f"evidence naming {BYZANTINE} ({mode})", EVIDENCE_TIMEOUT)
        assert {e["kind"] for e in found} <= CONFLICTING[mode], found
    found = all_evidence(net, above)
    assert {e["name"] for e in found} <= {BYZANTINE}, found
    if mode not in CONFLICTING:
        assert found == [], f"{mode} signs nothing conflicting, yet: {found}"

    assert_agreement(net, FOLLOWERS, start)
    for name in FOLLOWERS:
        assert net.procs[name].poll() is None, f"{name} exited:\n{net.log(name)[-3000:]}"
    byzantine_nets.clean = True
    print(f"{mode}: {time.monotonic() - t0:.1f} s, heights {start}..{max(heights(net, FOLLOWERS).values())}")
