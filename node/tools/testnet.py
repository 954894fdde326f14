"""A local Bakong-like network: files (``init``) and processes (``start_node``), all on loopback.

Layout of a testnet directory::

    genesis.json                 shared by every node
    keys/node-<bank>.key         node keys;  keys/<account>.key  account keys (e.g. admin@nbc.key)
    nodes/<bank>.toml            node configs;  data/<bank>/  LevelDB;  logs/<bank>.log
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consensus.crypto import KeyPair
from node.keyfile import write_key
from node.ledger import permissions as P

BANKS = ["nbc", "aclb", "abaa", "wing", "ftb", "ppcb", "canadia", "amk"]
CUSTOMERS = [("alice", "aclb"), ("bob", "abaa"), ("chenda", "wing"), ("dara", "aclb"), ("sokha", "abaa"),
             ("vanna", "wing")]
CHAIN_ID = "bakong-testnet"
# Opening balances: KHR and USD, precision 2 (minor units are riel and cents).
CUSTOMER_BALANCES = {"khr#nbc": "4000000.00", "usd#nbc": "1000.00"}
DEFAULT_API_PORT = 8100
TORII_PORT = 50051
"""Iroha's Torii port: the first node's in a testnet on the default ports."""
CENTRAL_BANK_BALANCES = {"khr#nbc": "100000000000.00", "usd#nbc": "50000000.00"}


@dataclass(frozen=True)
class TestnetNode:
    name: str
    role: str
    config: Path
    api_url: str
    p2p_address: str
    torii: str = ""
    """Torii's (Iroha 1 gRPC) "host:port"; "" for a testnet written before it had one."""


def init_testnet(directory: str | Path, *, validators: int = 1, observers: int = 0, base_port: int = DEFAULT_API_PORT,
                 p2p_base_port: int = 7100, customers: int = len(CUSTOMERS), extra_accounts: int = 0,
                 block: dict[str, int] | None = None, torii_base_port: int | None = None) -> list[TestnetNode]:
    """Write keys, genesis and node configs for ``validators`` + ``observers`` banks into ``directory``.

    Torii ports: ``torii_base_port`` + i; by default Iroha's 50051 + i for a testnet on the default API
    port, else ports free now (a test or tool that picked its API ports must not collide on 50051)."""
    root = Path(directory)
    if (root / "genesis.json").exists():
        raise FileExistsError(f"{root} already holds a testnet (genesis.json exists)")
    if not 1 <= validators + observers <= len(BANKS):
        raise ValueError(f"between 1 and {len(BANKS)} nodes")
    (root / "keys").mkdir(parents=True, exist_ok=True)
    (root / "nodes").mkdir(exist_ok=True)
    banks = BANKS[: max(validators + observers, 4)]
    node_banks = BANKS[: validators + observers]

    def new_key(name: str) -> KeyPair:
        key = KeyPair.generate()
        write_key(root / "keys" / f"{name}.key", key)
        return key

    accounts: list[dict[str, Any]] = []
    for bank in banks:
        role = "central_bank" if bank == "nbc" else "bank_admin"
        entry: dict[str, Any] = {"id": f"admin@{bank}", "public_key": new_key(f"admin@{bank}").public_key.hex(),
                                 "roles": [role]}
        if bank == "nbc":
            entry["balances"] = CENTRAL_BANK_BALANCES
        accounts.append(entry)
    for name, bank in CUSTOMERS[:customers]:
        accounts.append({"id": f"{name}@{bank}", "public_key": new_key(f"{name}@{bank}").public_key.hex(),
                         "balances": CUSTOMER_BALANCES})
    # Benchmark accounts c{i}@<bank> (every bank but nbc in turn), sharing the key keys/bench.key. They go
    # in the genesis's bulk section, not in "accounts": each node writes their rows directly at first start
    # (1,000,000 in seconds), where one mint transaction per account would make block 0 enormous.
    bulk: dict[str, Any] | None = None
    if extra_accounts:
        bulk = {"count": extra_accounts, "name_prefix": "c", "domains": banks[1:],
                "public_key": new_key("bench").public_key.hex(), "role": "customer", "balances": CUSTOMER_BALANCES}
    if torii_base_port is None:
        count = validators + observers
        torii_base_port = TORII_PORT if base_port == DEFAULT_API_PORT else free_port_base(count)
    peers = []
    nodes = []
    for i, bank in enumerate(node_banks):
        role = "validator" if i < validators else "observer"
        key = new_key(f"node-{bank}")
        p2p = f"127.0.0.1:{p2p_base_port + i}"
        peers.append({"name": bank, "public_key": key.public_key.hex(), "address": p2p, "syncing": role == "observer"})
        config = root / "nodes" / f"{bank}.toml"
        block_lines = "".join(f"{k} = {v}\n" for k, v in (block or {}).items())
        config.write_text(
            f'name = "{bank}"\nrole = "{role}"\ngenesis = "../genesis.json"\nkey_file = "../keys/node-{bank}.key"\n'
            f'data_dir = "../data/{bank}"\n\n[api]\nlisten = "127.0.0.1:{base_port + i}"\n\n'
            f'[p2p]\nlisten = "{p2p}"\n\n[torii]\nlisten = "127.0.0.1:{torii_base_port + i}"\n\n[block]\n{block_lines}'
        )
        nodes.append(TestnetNode(bank, role, config, f"http://127.0.0.1:{base_port + i}", p2p,
                                 f"127.0.0.1:{torii_base_port + i}"))
    genesis = {
        "chain_id": CHAIN_ID,
        "created_ms": int(time.time() * 1000) - 60_000,
        "roles": {"central_bank": P.CENTRAL_BANK_ROLE, "bank_admin": P.BANK_ADMIN_ROLE, "customer": P.CUSTOMER_ROLE},
        "domains": [{"id": bank, "default_role": "customer"} for bank in banks],
        "assets": [{"id": "khr#nbc", "precision": 2}, {"id": "usd#nbc", "precision": 2}],
        "accounts": accounts,
        "peers": peers,
    }
    if bulk is not None:
        genesis["bulk_accounts"] = bulk
    (root / "genesis.json").write_text(json.dumps(genesis, indent=1) + "\n")
    write_manifest(root, nodes, {})
    return nodes


def write_manifest(directory: Path, nodes: list[TestnetNode], pids: dict[str, int]) -> None:
    """``testnet.json``: how tools and people find and drive every node of the network."""
    doc = {"chain_id": CHAIN_ID, "nodes": [
        {"name": n.name, "role": n.role, "api_url": n.api_url, "p2p_address": n.p2p_address, "torii": n.torii,
         "config": str(n.config.resolve()), "pid": pids.get(n.name),
         "log": str((directory / "logs" / f"{n.name}.log").resolve()),
         "restart": " ".join(node_command(n.config.resolve()))} for n in nodes]}
    tmp = directory / "testnet.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(directory / "testnet.json")


def load_nodes(directory: str | Path) -> list[TestnetNode]:
    doc = json.loads((Path(directory) / "testnet.json").read_text())
    return [TestnetNode(n["name"], n["role"], Path(n["config"]), n["api_url"], n["p2p_address"], n.get("torii", ""))
            for n in doc["nodes"]]


def load_pids(directory: str | Path) -> dict[str, int]:
    doc = json.loads((Path(directory) / "testnet.json").read_text())
    return {n["name"]: n["pid"] for n in doc["nodes"] if n.get("pid")}


def node_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "node.cli", "node", "--config", str(config)]


def start_node(directory: str | Path, node: TestnetNode) -> subprocess.Popen[bytes]:
    """Start one node as its own OS process (so killing it is a real crash); output to logs/<name>.log."""
    logs = Path(directory) / "logs"
    logs.mkdir(exist_ok=True)
    env = dict(os.environ)
    # The repository root (this file is node/tools/testnet.py), so a node starts from any working directory.
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    # The child gets its own copy of the descriptor; ours is closed at once (a chaos run restarts nodes
    # hundreds of times, and each kept copy would be a leaked descriptor).
    with open(logs / f"{node.name}.log", "ab") as log:
        return subprocess.Popen(node_command(node.config), stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def free_port_base(count: int) -> int:
    """A base port such that base .. base+count-1 are all free now (``init_testnet`` numbers ports
    consecutively). Drawn below the kernel's ephemeral range, so the nodes' own outgoing connections
    cannot take one of them between this check and the nodes binding it."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")
