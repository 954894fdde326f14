"""The network's part of consensus re-gossip: a stalled validator sends each connected validator what the
driver selected for it, and a peer that (re)connects gets the selection with nothing held back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from node.p2p.messages import ConsensusWire, HeadAnnounce, decode_peer_message
from node.p2p.network import TICK_S, P2PNetwork

V1, V2, OBSERVER, STRANGER = b"v1" * 16, b"v2" * 16, b"ob" * 16, b"st" * 16


class Consensus:
    signing = True
    round = 3

    def __init__(self, last_commit: float) -> None:
        self.last_commit = last_commit
        self.asked: list[list[bytes | None]] = []

    def regossip(self, peers: list[bytes | None]) -> dict[bytes | None, list[bytes]]:
        self.asked.append(list(peers))
        return {p: [b"for " + (p or b"anyone"), b"vote"] for p in peers}


class Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.broadcasts: list[bytes] = []

    def connected(self) -> set[bytes]:
        return {V1, V2, OBSERVER}

    def send(self, peer: bytes, payload: bytes) -> bool:
        self.sent.append((peer, payload))
        return True

    def broadcast(self, payload: bytes) -> None:
        self.broadcasts.append(payload)


def network(consensus: Consensus) -> Any:
    net: Any = object.__new__(P2PNetwork)  # no sockets: the transport and the wings around it are fakes
    net.transport = Transport()
    net.consensus = consensus
    net.peers = {V1: SimpleNamespace(observer=False), V2: SimpleNamespace(observer=False),
                 STRANGER: SimpleNamespace(observer=False), OBSERVER: SimpleNamespace(observer=True)}
    net.host = SimpleNamespace(ledger=SimpleNamespace(head=SimpleNamespace(height=5, block_hash=bytes(32))))
    net.head_to_announce = None
    net.pending_regossip_s = 30.0
    net.calls = []
    net.sync = SimpleNamespace(maybe_request=lambda: net.calls.append("sync"))
    net.gossip = SimpleNamespace(regossip_stale=lambda: net.calls.append("stale"),
                                 regossip_pending=lambda **kw: net.calls.append(("pending", kw)))
    net.metrics = SimpleNamespace(round=SimpleNamespace(set=lambda r: net.calls.append(("round", r))),
                                  peers=SimpleNamespace(set=lambda n: net.calls.append(("peers", n))))
    return net


def head_announcements(payloads: list[bytes]) -> list[int]:
    return [msg.height for msg in (decode_peer_message(p, 1 << 20) for p in payloads)
            if isinstance(msg, HeadAnnounce)]


def consensus_sent(net: Any) -> list[tuple[bytes, bytes]]:
    out = []
    for peer, payload in net.transport.sent:
        msg = decode_peer_message(payload, 1 << 20)
        if isinstance(msg, ConsensusWire):
            out.append((peer, msg.message))
    return out


def test_a_stalled_validator_sends_each_connected_validator_its_own_selection(monkeypatch: Any) -> None:
    loop_time = 100.0
    monkeypatch.setattr("asyncio.get_running_loop", lambda: SimpleNamespace(time=lambda: loop_time))
    consensus = Consensus(last_commit=loop_time - 2 * TICK_S - 0.1)
    net = network(consensus)
    net._tick_once()
    assert consensus.asked == [[V1, V2]]  # connected validators only: not the observer, not the stranger
    assert consensus_sent(net) == [(V1, b"for " + V1), (V1, b"vote"), (V2, b"for " + V2), (V2, b"vote")]
    # The rest of the tick: head announced to all, sync asked, pending copies to every peer (a
    # signing validator), stale transactions left to the proposer's pool, the round reported.
    assert head_announcements(net.transport.broadcasts) == [5]
    assert net.calls == ["sync", ("pending", {"every_s": 30.0, "to_all": True}), ("round", 3)]


def test_a_validator_that_committed_lately_sends_nothing(monkeypatch: Any) -> None:
    monkeypatch.setattr("asyncio.get_running_loop", lambda: SimpleNamespace(time=lambda: 100.0))
    consensus = Consensus(last_commit=100.0 - 2 * TICK_S)
    net = network(consensus)
    consensus.signing = False  # a validator not (or no longer) in the set: re-sends stale transactions
    net._tick_once()
    assert consensus.asked == [] and consensus_sent(net) == []
    assert net.calls == ["sync", "stale", ("pending", {"every_s": 30.0, "to_all": False}), ("round", 3)]


def test_an_observer_ticks_without_consensus(monkeypatch: Any) -> None:
    monkeypatch.setattr("asyncio.get_running_loop", lambda: SimpleNamespace(time=lambda: 100.0))
    net = network(Consensus(last_commit=0.0))
    net.consensus = None
    net._tick_once()
    assert consensus_sent(net) == [] and head_announcements(net.transport.broadcasts) == [5]
    assert net.calls == ["sync", "stale", ("pending", {"every_s": 30.0, "to_all": False})]


def test_a_validator_that_connects_gets_everything_that_may_matter_and_an_observer_nothing() -> None:
    consensus = Consensus(last_commit=0.0)
    net = network(consensus)
    net.on_connect(V2)
    assert consensus.asked == [[None]]
    assert consensus_sent(net) == [(V2, b"for anyone"), (V2, b"vote")]
    assert net.calls == [("peers", 3)]
    assert head_announcements([p for peer, p in net.transport.sent if peer == V2]) == [5]
    net.on_connect(OBSERVER)
    assert consensus.asked == [[None]] and len(consensus_sent(net)) == 2
