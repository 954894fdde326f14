"""A 4-validator + 1-observer network of real node processes on loopback, as the banks would run it.

Transfers submitted to any node commit and every node ends with the same chain; one validator down
does not stop the chain and it catches up when restarted; two down stop commits without a fork and
one back resumes them; a node added by AddPeer syncs and then votes; a key outside the peer set
cannot connect, and one removed by RemovePeer is dropped; the observer follows and serves clients
but never votes.

Tests that leave every node running share one network (``shared_network``); tests that kill nodes or
change the peer set get their own (``network``). Waits poll against deadlines; the only fixed waits
are the windows in which something must *not* happen.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import pytest

from consensus.crypto import KeyPair
from node.api.client import NodeClient
from node.keyfile import write_key
from node.ledger import commands as c
from node.ledger.queries import GetAccountAssets, GetBlock
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.tools.testnet import CHAIN_ID, CUSTOMERS
from node.tools.testnet import TestnetNode as NodeEntry  # aliased: pytest would try to collect Test*
from tests.integration.conftest import FAST_CONSENSUS, RunningNet, add_consensus_section, free_port_range

pytestmark = pytest.mark.integration

T = TypeVar("T")
ADMIN = "admin@nbc"
ACCOUNTS = [f"{n}@{b}" for n, b in CUSTOMERS]
VALIDATORS = ["nbc", "aclb", "abaa", "wing"]
OBSERVER = "ftb"
COMMIT_TIMEOUT = 30.0
_memo = itertools.count()


# ---- helpers ----

def wait_for(condition: Callable[[], T], what: str, timeout: float = COMMIT_TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def transfer(net: RunningNet, src: str = "alice@aclb", dest: str = "bob@abaa",
             amount: str = "1.00") -> Transaction:
    payload = TxPayload(CHAIN_ID, src, int(time.time() * 1000), 1,
                        (c.TransferAsset(src, dest, "khr#nbc", f"t{next(_memo)}", amount),))
    return build_transaction(payload, net.key(src))


def admin_tx(net: RunningNet, *commands: c.Command) -> Transaction:
    payload = TxPayload(CHAIN_ID, ADMIN, int(time.time() * 1000), 1, tuple(commands))
    return build_transaction(payload, net.key(ADMIN))


def commit(net: RunningNet, tx: Transaction, via: str) -> dict[str, object]:
    """Submit ``tx`` to node ``via`` and wait until that node reports it final."""
    client = net.client(via)
    assert client.submit(tx)["status"] == "STATELESS_VALIDATION_SUCCESS"
    return client.wait_final(tx.hash.hex(), COMMIT_TIMEOUT)


def heights(net: RunningNet, names: Iterable[str]) -> dict[str, int]:
    return {name: net.client(name).status()["height"] for name in names}


def wait_for_growth(net: RunningNet, names: list[str], blocks: int, timeout: float = COMMIT_TIMEOUT) -> int:
    """Wait until every named node is ``blocks`` past the highest of them now; return that height."""
    target = max(heights(net, names).values()) + blocks
    wait_for(lambda: min(heights(net, names).values()) >= target, f"{names} to reach height {target}",
             timeout)
    return target


def assert_same_chain(net: RunningNet, names: list[str]) -> int:
    """Once every named node reaches the highest head among them, each height has one block hash and
    one state root on all of them. Returns the height compared up to."""
    top = max(heights(net, names).values())
    wait_for(lambda: min(heights(net, names).values()) >= top, f"{names} to reach height {top}")
    admin = net.key(ADMIN)
    clients = {name: net.client(name) for name in names}
    for height in range(1, top + 1):
        seen = {}
        for name, client in clients.items():
            block = client.query(ADMIN, admin, GetBlock(height))["block"]
            seen[name] = (block["hash"], block["state_root"])
        assert len(set(seen.values())) == 1, f"nodes disagree at height {height}: {seen}"
    return top


def khr_balance(client: NodeClient, net: RunningNet, account: str) -> str:
    assets = client.query(ADMIN, net.key(ADMIN), GetAccountAssets(account, 10, None))["assets"]
    return next(a["balance"] for a in assets if a["asset_id"] == "khr#nbc")


def extra_node(net: RunningNet, name: str, role: str = "validator") -> tuple[NodeEntry, KeyPair]:
    """Key and config for a node that is not in genesis (same genesis file, its own ports and data)."""
    key = KeyPair.generate()
    write_key(net.dir / "keys" / f"node-{name}.key", key)
    base = free_port_range(2)
    api, p2p = f"127.0.0.1:{base}", f"127.0.0.1:{base + 1}"
    config = net.dir / "nodes" / f"{name}.toml"
    config.write_text(
        f'name = "{name}"\nrole = "{role}"\ngenesis = "../genesis.json"\n'
        f'key_file = "../keys/node-{name}.key"\n'
        f'data_dir = "../data/{name}"\n\n[api]\nlisten = "{api}"\n\n[p2p]\nlisten = "{p2p}"\n\n'
        f'[torii]\nlisten = ""\n\n'  # no Torii on a node added by hand: Iroha's default port is shared
        f'[block]\nbatch_wait_ms = 20\nmax_block_interval_ms = 500\n'
    )
    add_consensus_section(config, FAST_CONSENSUS)
    return NodeEntry(name, role, config, f"http://{api}", p2p), key


# ---- one shared network: nothing here stops a node or changes the peer set ----

def test_transfers_submitted_to_any_node_commit_and_all_nodes_agree_at_every_height(
        shared_network: RunningNet) -> None:
    net = shared_network
    submitted: dict[str, list[Transaction]] = {}
    for i, node in enumerate(net.nodes):
        src, dest = ACCOUNTS[i % len(ACCOUNTS)], ACCOUNTS[(i + 1) % len(ACCOUNTS)]
        txs = [transfer(net, src, dest) for _ in range(10)]
        results = net.client(node.name).submit_many(txs)
        assert [r["status"] for r in results] == ["STATELESS_VALIDATION_SUCCESS"] * len(txs)
        submitted[node.name] = txs

    for name, txs in submitted.items():
        for tx in txs:
            assert net.client(name).wait_final(tx.hash.hex(), COMMIT_TIMEOUT)["status"] == "COMMITTED", name

    assert_same_chain(net, [n.name for n in net.nodes])


def test_the_observer_follows_and_serves_clients_but_never_votes(shared_network: RunningNet) -> None:
    net = shared_network
    observer = net.client(OBSERVER)
    status = observer.status()
    assert status["role"] == "observer"
    assert status["consensus"] is None or status["consensus"]["voting"] is False
    for name in VALIDATORS:
        consensus = net.client(name).status()["consensus"]
        assert consensus is not None and consensus["voting"] is True
        listed = {p["name"]: p for p in net.client(name).status()["peers"]}
        assert listed[OBSERVER]["role"] == "observer", name
        # The observer dials the validators with backoff from start-up; give the links a moment.
        wait_for(lambda name=name: {p["name"]: p for p in net.client(name).status()["peers"]}[OBSERVER]["connected"],
                 f"the observer to connect to {name}")

    # It forwards a client's transaction to the validators: it commits everywhere.
    tx = transfer(net, "chenda@wing", "dara@aclb")
    assert commit(net, tx, via=OBSERVER)["status"] == "COMMITTED"
    at_validator = net.client("nbc").wait_final(tx.hash.hex(), COMMIT_TIMEOUT)
    assert at_validator["status"] == "COMMITTED"
    assert observer.tx_status(tx.hash.hex())["height"] == at_validator["height"]

    # It serves queries from its own copy of the chain, which is the validators' copy.
    admin = net.key(ADMIN)
    height = at_validator["height"]
    validator = net.client("nbc")
    assert observer.query(ADMIN, admin, GetBlock(height)) == validator.query(ADMIN, admin, GetBlock(height))
    wait_for(lambda: observer.status()["height"] >= validator.status()["height"], "the observer to catch up")
    assert khr_balance(observer, net, "dara@aclb") == khr_balance(validator, net, "dara@aclb")
    # Its status says what the validators announce and that it is not catching up once it follows them.
    wait_for(lambda: observer.status()["sync"]["best_known_height"] >= height, "the validators' heads to arrive")
    assert observer.status()["sync"]["catching_up"] is False

    # No block was ever proposed by it.
    observer_key = status["public_key"]
    top = observer.status()["height"]
    for h in range(1, top + 1):
        assert observer.query(ADMIN, admin, GetBlock(h))["block"]["proposer"] != observer_key


def test_a_node_whose_key_is_not_in_the_peer_set_cannot_connect_or_sync(shared_network: RunningNet) -> None:
    net = shared_network
    stranger, key = extra_node(net, "stranger")
    start_height = max(heights(net, VALIDATORS).values())
    net.start(stranger)
    try:
        refusal = f"key {key.public_key.hex()[:16]} is not in the peer set"
        # It does dial them (it knows their addresses from genesis); each validator refuses its key.
        wait_for(lambda: all(refusal in net.log(name) for name in VALIDATORS),
                 "every validator to refuse the stranger's handshake", timeout=15)
        wait_for_growth(net, [n.name for n in net.nodes], 2)  # the network carries on meanwhile

        own = NodeClient(stranger.api_url).status()
        assert own["height"] == 0, "a node nobody accepts cannot sync"
        assert not any(p["connected"] for p in own["peers"])
        assert max(heights(net, VALIDATORS).values()) > start_height
        for node in net.nodes:
            listed = {p["public_key"]: p for p in net.client(node.name).status()["peers"]}
            assert key.public_key.hex() not in listed, node.name
    finally:
        net.kill("stranger", signal.SIGTERM)


# ---- a fresh network per test: these kill nodes or change the peer set ----

def test_one_killed_validator_does_not_stop_the_chain_and_catches_up_when_restarted(
        network: RunningNet) -> None:
    net = network
    net.kill("abaa")
    live = ["nbc", "aclb", "wing", OBSERVER]
    wait_for_growth(net, live, 3)
    assert commit(net, transfer(net), via="nbc")["status"] == "COMMITTED"

    net.start(net.node("abaa"))
    top = max(heights(net, live).values())
    wait_for(lambda: net.client("abaa").status()["height"] >= top,
             f"the restarted validator to sync to {top}")
    assert_same_chain(net, [n.name for n in net.nodes])

    # It votes again: with another validator down, 3 of 4 votes are needed, so its own among them.
    net.kill("wing")
    wait_for_growth(net, ["nbc", "aclb", "abaa"], 3)
    assert commit(net, transfer(net), via="abaa")["status"] == "COMMITTED"


def test_two_killed_validators_stop_commits_without_a_fork_and_one_restart_resumes_them(
        network: RunningNet) -> None:
    net = network
    live = ["nbc", "wing", OBSERVER]
    wait_for_growth(net, live, 1)
    net.kill("aclb")
    net.kill("abaa")

    # Let a block already in flight land, then nothing may commit: 2 of 4 is short of the quorum of 3.
    def settled() -> bool:
        before = heights(net, live)
        time.sleep(1.0)
        return heights(net, live) == before and len(set(before.values())) == 1
    wait_for(settled, "the survivors to stop at one height", timeout=15)
    stalled = heights(net, live)
    pending = transfer(net)
    assert net.client("nbc").submit(pending)["status"] == "STATELESS_VALIDATION_SUCCESS"
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        assert heights(net, live) == stalled
        assert net.client("nbc").tx_status(pending.hash.hex())["status"] == "STATELESS_VALIDATION_SUCCESS"
        time.sleep(0.2)
    assert_same_chain(net, live)

    net.start(net.node("aclb"))
    assert net.client("nbc").wait_final(pending.hash.hex(), COMMIT_TIMEOUT)["status"] == "COMMITTED"
    wait_for_growth(net, live + ["aclb"], 2)

    net.start(net.node("abaa"))
    assert_same_chain(net, [n.name for n in net.nodes])


def test_a_validator_added_by_add_peer_syncs_then_votes(network: RunningNet) -> None:
    net = network
    originals = [n.name for n in net.nodes]
    wait_for_growth(net, originals, 3)  # some chain for the newcomer to sync
    newcomer, key = extra_node(net, "ppcb")

    add = admin_tx(net, c.AddPeer(newcomer.p2p_address, key.public_key, "ppcb", False))
    assert commit(net, add, via="nbc")["status"] == "COMMITTED"
    listed = {p["name"]: p for p in net.client("nbc").status()["peers"]}
    assert listed["ppcb"]["role"] == "validator"

    net.nodes.append(newcomer)
    net.start(newcomer)
    client = net.client("ppcb")
    top = max(heights(net, originals).values())
    wait_for(lambda: client.status()["height"] >= top, f"the new validator to sync to {top}")
    wait_for(lambda: (client.status()["consensus"] or {}).get("voting") is True, "the new validator to vote")
    wait_for_growth(net, originals + ["ppcb"], 3)
    assert_same_chain(net, originals + ["ppcb"])

    # With 5 validators the quorum is 4: with one original down, no block commits without its votes.
    net.kill("wing")
    survivors = ["nbc", "aclb", "abaa", "ppcb"]
    wait_for_growth(net, survivors, 3)
    assert commit(net, transfer(net), via="ppcb")["status"] == "COMMITTED"
    assert_same_chain(net, survivors + [OBSERVER])


def test_removing_the_observer_from_the_peer_set_makes_the_validators_drop_it(network: RunningNet) -> None:
    net = network
    observer = net.client(OBSERVER)

    def following() -> bool:
        status = observer.status()
        validators = [p for p in status["peers"] if p["role"] == "validator"]
        return status["height"] >= 1 and all(p["connected"] for p in validators)
    wait_for(following, "the observer to connect to every validator and follow the chain")
    observer_key = bytes.fromhex(observer.status()["public_key"])
    remove = admin_tx(net, c.RemovePeer(observer_key))
    removed_at = commit(net, remove, via="nbc")["height"]

    def dropped() -> bool:
        return all(OBSERVER not in {p["name"] for p in net.client(name).status()["peers"]}
                   for name in VALIDATORS)
    wait_for(dropped, "every validator to drop the observer from its peer list")
    wait_for_growth(net, VALIDATORS, 3)
    # Cut off, it no longer follows: it stops at most at the block that removed it.
    stuck = observer.status()
    assert stuck["height"] <= removed_at
    assert not any(p["connected"] for p in stuck["peers"] if not p["self"])
    refusal = f"key {observer_key.hex()[:16]} is not in the peer set"
    wait_for(lambda: any(refusal in net.log(name) for name in VALIDATORS),
             "a validator to refuse the removed observer's redial", timeout=15)
