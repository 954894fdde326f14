"""docs/operations.md, tried end to end with real node processes on loopback and the real ``bakong`` CLI:
a new member bank runs ``bakong init`` on its own, the central bank submits the join request (AddPeer),
the new node syncs from genesis and the validator lists it connected; an online backup of the running
validator is restored into the new bank's data directory, and the node started on it catches up by block
sync to the network's head."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.api.client import NodeClient
from node.tools import testnet
from tests.integration.conftest import RunningNet, free_port, start_network

pytestmark = pytest.mark.integration


@pytest.fixture
def network(tmp_path: Path) -> Iterator[RunningNet]:
    net = start_network(tmp_path / "net", validators=1, observers=0)
    try:
        yield net
    finally:
        net.stop_all()


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_for(what: str, check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def same_head(a: NodeClient, b: NodeClient) -> dict[str, Any] | None:
    """Both nodes' status when they report the same height (else None): then the block hashes must agree."""
    first, second = a.status(), b.status()
    if first["height"] == second["height"]:
        assert first["block_hash"] == second["block_hash"] and first["state_root"] == second["state_root"]
        return second
    return None


def test_a_bank_joins_a_running_network_and_a_backup_of_the_validator_restores_and_catches_up(
        network: RunningNet, tmp_path: Path) -> None:
    net = network
    validator = net.client()
    bank = tmp_path / "prasac"
    api, p2p = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"

    # 1. The new bank, on its own host: key, config, join request.
    out = ok(net.cli("init", "--dir", str(bank), "--name", "prasac", "--role", "observer",
                     "--genesis", str(net.dir / "genesis.json"), "--api-listen", api, "--p2p-listen", p2p))
    public_key = json.loads((bank / "join-request.json").read_text())["commands"][0]["public_key"]
    assert public_key in out

    # 2. The central bank adds it (AddPeer, as an observer).
    added = json.loads(ok(net.cli("tx", "submit", str(bank / "join-request.json"), "--key", net.key_path("admin@nbc"))))
    assert added["status"] == "COMMITTED"

    # 3. The new node starts, syncs from genesis, and the validator sees it.
    torii = f"127.0.0.1:{free_port()}"  # not Iroha's 50051, which `bakong init` writes: tests run side by side
    config_text = (bank / "node.toml").read_text()
    assert 'listen = "127.0.0.1:50051"' in config_text
    (bank / "node.toml").write_text(config_text.replace('listen = "127.0.0.1:50051"', f'listen = "{torii}"'))
    prasac = testnet.TestnetNode("prasac", "observer", bank / "node.toml", f"http://{api}", p2p, torii)
    net.nodes.append(prasac)
    net.start(prasac)
    observer = net.client("prasac")
    wait_for("the new node to reach the validator's head", lambda: same_head(validator, observer))
    peers = wait_for("the validator to list prasac connected", lambda: [
        p for p in validator.status()["peers"] if p["name"] == "prasac" and p["connected"]])
    assert peers[0]["role"] == "observer" and peers[0]["public_key"] == public_key

    # 4. Online backup of the running validator (its database is locked: the node writes the snapshot).
    data_dir = net.dir / "data" / "nbc"
    taken = json.loads(ok(net.cli("backup", "--data-dir", str(data_dir), "--out", str(tmp_path / "backup"))))
    assert taken["online"] is True
    backed_up = taken["manifest"]
    assert not (tmp_path / "backup" / "consensus").exists()

    # 5. Restore it as the new bank's data and start the node on it: it catches up by block sync.
    net.kill("prasac")
    (bank / "data").rename(bank / "data.before")
    restored = json.loads(ok(net.cli("restore", "--backup", str(tmp_path / "backup"), "--data-dir", str(bank / "data"),
                                     "--genesis", str(bank / "genesis.json"))))
    assert (restored["height"], restored["block_hash"]) == (backed_up["height"], backed_up["block_hash"])
    assert (bank / "data" / "RESTORED").is_file()
    net.start(prasac)
    assert observer.status()["height"] >= backed_up["height"]
    caught_up = wait_for("the restored node to catch up", lambda: same_head(validator, observer))
    assert caught_up["height"] > backed_up["height"]
