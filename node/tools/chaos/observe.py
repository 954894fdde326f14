"""Reading the end state of a chaos campaign from the nodes, for the invariants to judge.

Everything here asks the nodes (or reads the Byzantine node's log) and returns plain records; nothing
here decides whether the run passed. That is ``invariants``, which can then be read and tested without
a network.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from consensus.crypto import KeyPair
from node.api.client import ClientError, NodeClient
from node.ledger.queries import GetAccountAssets, GetBlock
from node.tools.chaos.network import ChaosNet

COUNTERS_LINE = "BYZANTINE COUNTERS "
BANNER = "BYZANTINE TEST MODE"
HEAD_SETTLE_S = 10.0
ADMIN = "admin@nbc"


@dataclass
class ChainView:
    """The chain as every node holds it, up to the lowest node's height."""

    checked_heights: int
    blocks: dict[int, dict[str, tuple[str, str]]] = field(default_factory=dict)
    """Height -> node -> (block hash, state root)."""
    placed: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Tx hash -> (height, "committed" | "rejected"), from the first node's blocks."""
    occurrences: Counter[str] = field(default_factory=Counter)
    """Tx hash -> how many blocks of the first node hold it."""
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Node -> (height, state root) at the settled snapshot."""


def read_chain(net: ChaosNet, admin: KeyPair) -> ChainView:
    """Every block up to the lowest node's height from every node, then one snapshot of all heads."""
    clients = {n.name: net.client(n, 10.0) for n in net.nodes}
    top = min(int(c.status()["height"]) for c in clients.values())
    view = ChainView(checked_heights=top)
    reference = net.nodes[0].name
    for h in range(1, top + 1):
        blocks = {name: c.query(ADMIN, admin, GetBlock(h))["block"] for name, c in clients.items()}
        view.blocks[h] = {name: (b["hash"], b["state_root"]) for name, b in blocks.items()}
        rejected = set(blocks[reference]["rejected"])
        for tx in blocks[reference]["transactions"]:
            view.occurrences[tx["hash"]] += 1
            view.placed[tx["hash"]] = (h, "rejected" if tx["hash"] in rejected else "committed")
    view.heads = _settled_heads(clients)
    return view


def _settled_heads(clients: dict[str, NodeClient]) -> dict[str, tuple[int, str]]:
    """Heads keep moving (heartbeat blocks), so sample until one snapshot finds every node on the same
    head, or ``HEAD_SETTLE_S`` passes: a node one block behind at the instant of asking is not a
    divergence (the per-height comparison catches real ones)."""
    deadline = time.monotonic() + HEAD_SETTLE_S
    while True:
        heads = {name: c.status() for name, c in clients.items()}
        snapshot = {name: (int(h["height"]), str(h["state_root"])) for name, h in heads.items()}
        if len(set(snapshot.values())) == 1 or time.monotonic() > deadline:
            return snapshot
        time.sleep(0.05)


def statuses(probe: NodeClient, hashes: list[str]) -> list[str]:
    """The tx status endpoint's answer for each hash, in order."""
    return [str(probe.tx_status(h)["status"]) for h in hashes]


def balances(probe: NodeClient, admin: KeyPair, accounts: list[str]) -> list[tuple[str, int]]:
    """(asset id, balance in minor units) for every holding of ``accounts``."""
    out: list[tuple[str, int]] = []
    for account in accounts:
        for a in probe.query(ADMIN, admin, GetAccountAssets(account, 10, None))["assets"]:
            out.append((a["asset_id"], int(a["balance"].replace(".", ""))))
    return out


def evidence_names(net: ChaosNet) -> tuple[Counter[str], list[str]]:
    """Validators named in the evidence the honest nodes recorded, with counts; and the honest nodes
    whose ``GET /v1/evidence`` failed (then nobody can tell whom they blame)."""
    names: Counter[str] = Counter()
    unreadable: list[str] = []
    for n in net.nodes:
        if n.name == net.byzantine:
            continue
        code: int | str
        try:
            code, body = net.client(n, 60.0)._request("GET", "/v1/evidence")
        except ClientError as exc:  # unreachable: the code names why (no HTTP status to show)
            code, body = exc.code, None
        if code == 200 and isinstance(body, dict):
            names.update(str(e.get("name")) for e in body.get("evidence", []))
        else:
            unreadable.append(f"{n.name}: HTTP {code}")
    return names, unreadable


def byzantine_counters(net: ChaosNet) -> dict[str, int]:
    """What the Byzantine node did, summed over its process lives (each logs running totals every
    few seconds: the last few seconds before a kill are not counted)."""
    if net.byzantine is None:
        return {}
    total: Counter[str] = Counter()
    last: dict[str, int] = {}
    log_text = (net.dir / "logs" / f"{net.byzantine}.log").read_text(errors="replace")
    for line in log_text.splitlines():
        if BANNER in line:  # a new process life: its counters start from zero
            total.update(last)
            last = {}
        elif COUNTERS_LINE in line:
            try:
                last = json.loads(line.split(COUNTERS_LINE, 1)[1])
            except ValueError:
                pass
    total.update(last)
    return dict(sorted(total.items()))
