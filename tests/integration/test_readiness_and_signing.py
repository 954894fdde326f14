"""What an operator sees when things go wrong, on a real 4+1 network (issue 16, points 1 and 3).

One network, two incidents in turn:

1. An operator copies a running validator's key into a second node (other name, data directory and
   ports): the copy must not sign with it. It syncs, finds the validator's precommits in the chain's
   certificates that it never signed, stops signing, says so in its log, in ``/v1/status`` and in
   ``/readyz``; the original validator is untouched and the chain goes on.
2. Two of the four validators are killed: the survivors' ``/readyz`` turns 503 naming the quorum
   check within 3 block intervals, and their logs say "quorum lost". ``/healthz`` still answers 200:
   the processes are alive, which is what liveness means.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.tools import testnet
from tests.integration.conftest import FAST_BLOCK, RunningNet, free_port, lowest_key_validator, start_network
from tests.integration.test_network import wait_for_growth

pytestmark = pytest.mark.integration

BLOCK_INTERVAL_S = FAST_BLOCK["max_block_interval_ms"] / 1000
VALIDATORS = ["nbc", "aclb", "abaa", "wing"]


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def net(tmp_path: Path) -> Iterator[RunningNet]:
    running = start_network(tmp_path / "net")
    try:
        yield running
    finally:
        running.stop_all()


def start_copy_of(net: RunningNet, name: str) -> testnet.TestnetNode:
    original = net.node(name)
    api, p2p = free_port(), free_port()
    text = original.config.read_text()
    text = re.sub(rf'(?m)^name = "{name}"$', f'name = "{name}_copy"', text)
    text = re.sub(rf'(?m)^data_dir = "(.*)/{name}"$', rf'data_dir = "\1/{name}_copy"', text)
    text = re.sub(r'(?ms)(\[api\]\s*listen = )"[^"]*"', rf'\1"127.0.0.1:{api}"', text)
    text = re.sub(r'(?ms)(\[p2p\]\s*listen = )"[^"]*"', rf'\1"127.0.0.1:{p2p}"', text)
    text = re.sub(r'(?ms)(\[torii\]\s*listen = )"[^"]*"', r'\1""', text)  # no Torii: its port is the original's
    text += '\n[log]\nformat = "json"\n'  # and its log is JSON lines, as a log shipper reads them
    config = original.config.with_name(f"{name}_copy.toml")
    config.write_text(text)
    copy = testnet.TestnetNode(f"{name}_copy", "validator", config, f"http://127.0.0.1:{api}", f"127.0.0.1:{p2p}")
    net.nodes.append(copy)
    net.start(copy)
    return copy


def test_a_copied_validator_key_stops_signing_and_two_dead_validators_make_the_others_unready(net: RunningNet) -> None:
    # The copied key is the lowest-keyed validator's, so the peers take the copy's connections (and the
    # original's, in turn): a copy of a higher key can be refused by every peer, never sync and never be
    # heard, which signs nothing anyone counts but detects nothing either (conftest.lowest_key_validator;
    # docs/health.md). Before this choice 1 CI run in several copied a highest-keyed validator and failed.
    copied = lowest_key_validator(net.nodes[0].config.parent.parent / "genesis.json", VALIDATORS)
    others = [v for v in VALIDATORS if v != copied]
    wait_for_growth(net, [others[0]], 3)

    # 1. The copy of the key: it must find the original's signatures in the chain and refuse to sign.
    copy = start_copy_of(net, copied)
    # Usually seconds: the first synced certificate holding the original's precommit stops the copy. Under
    # load the copy can catch up and vote before one arrives (a certificate needs 3 of the 4 precommits, so
    # the original's may be left out of several); while it signs exactly what the original signs it is not
    # distinguishable (docs/health.md), so detection waits for the two to differ.
    deadline = time.monotonic() + 60
    while True:
        status = net.client(copy.name).status()
        if status["signing"] is not None and not status["signing"]["allowed"]:
            break
        assert time.monotonic() < deadline, f"the copy still signs at height {status['height']}: {status['signing']}"
        time.sleep(0.1)
    assert status["signing"]["code"] in ("data_dir_older_than_last_signature", "key_signing_elsewhere")
    code, ready = get(copy.api_url + "/readyz")
    assert code == 503 and "signing" in ready["failing"]
    stopped = [json.loads(line) for line in net.log(copy.name).splitlines() if "signing stopped" in line]
    assert stopped and stopped[0]["level"] == "ERROR" and stopped[0]["ts"].endswith("Z")
    assert status["consensus"]["voting"] is False
    original = net.client(copied).status()
    assert original["signing"]["allowed"] is True and original["consensus"]["voting"] is True
    net.kill(copy.name)
    wait_for_growth(net, [others[0], copied], 2)  # the chain went on throughout, the original with it

    # 2. Kill two of the four validators: the survivors have no quorum.
    survivors = others[:2]
    for survivor in survivors:
        code, ready = get(net.node(survivor).api_url + "/readyz")
        assert code == 200 and ready["ready"], ready
    net.kill(copied)
    net.kill(others[2])
    killed = time.monotonic()
    unready: dict[str, float] = {}
    while len(unready) < 2 and time.monotonic() - killed < 10:
        for survivor in survivors:
            if survivor not in unready:
                code, ready = get(net.node(survivor).api_url + "/readyz")
                if code == 503 and "quorum" in ready["failing"]:
                    unready[survivor] = time.monotonic() - killed
        time.sleep(0.05)
    print(f"readyz 503 (quorum) after {unready} s; block interval {BLOCK_INTERVAL_S} s")
    assert set(unready) == set(survivors), unready
    assert max(unready.values()) <= 3 * BLOCK_INTERVAL_S
    quorum = next(c for c in get(net.node(survivors[0]).api_url + "/readyz")[1]["checks"] if c["name"] == "quorum")
    assert quorum["detail"].startswith("2 of 4 validators reachable, quorum 3")
    assert get(net.node(survivors[0]).api_url + "/healthz")[0] == 200  # alive, not ready
    deadline = time.monotonic() + 5
    while "quorum lost" not in net.log(survivors[0]):
        assert time.monotonic() < deadline, "no 'quorum lost' line in the survivor's log"
        time.sleep(0.1)


def test_a_copy_of_the_highest_keyed_validator_is_caught_by_its_guard_or_by_the_peers_that_refuse_it(
        net: RunningNet) -> None:
    """Its peers may all refuse the copy (each keeps the link it dialed to the original), so it never
    syncs and its own guard sees nothing; then they see a second live holder of the key and say so."""
    genesis = net.nodes[0].config.parent.parent / "genesis.json"
    peers = json.loads(genesis.read_text())["peers"]
    copied_key, copied = max((p["public_key"], p["name"]) for p in peers if p["name"] in VALIDATORS)
    others = [v for v in VALIDATORS if v != copied]
    wait_for_growth(net, [others[0]], 3)
    copy = start_copy_of(net, copied)
    deadline = time.monotonic() + 45
    while True:
        signing = net.client(copy.name).status()["signing"]
        halted = signing is not None and not signing["allowed"]
        clashes = {name: net.client(name).status()["p2p"]["key_clashes"] for name in others + ["ftb"]}
        if halted or any(clashes.values()):
            break
        assert time.monotonic() < deadline, f"the copy is caught by no one: {signing}, {clashes}"
        time.sleep(0.2)
    print(f"copy of {copied}: its guard stopped it: {halted}; key clashes seen by its peers: {clashes}")
    for name, seen in clashes.items():
        if seen:
            warned = [line for line in net.log(name).splitlines() if "two live processes hold its node key" in line]
            assert warned and copied_key[:16] in warned[0], f"{name} counted a clash but did not log it"
    net.kill(copy.name)
    wait_for_growth(net, others, 2)  # the chain went on
