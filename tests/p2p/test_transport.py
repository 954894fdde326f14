"""The p2p transport over real loopback sockets: handshake refusals, framing faults, reconnects, order.

Every test runs its scenario with ``asyncio.run`` under a deadline; the loop's exception handler
collects anything the transport reports as its own bug, and the test fails if that is not empty.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from consensus import codec
from consensus.crypto import KeyPair
from node.p2p.errors import FrameError, PayloadTooLarge
from node.p2p.frames import HEADER, FrameCipher, encode_frame
from node.p2p.handshake import (
    AUTH_TAG,
    VERSION,
    Hello,
    Role,
    Session,
    auth_digest,
    derive_session_keys,
    perform_handshake,
    transcript_hash,
)
from node.p2p.transport import Transport

CHAIN = "bakong-test"
HOST = "127.0.0.1"
FAST = {"backoff_initial": 0.02, "backoff_max": 0.2, "handshake_timeout": 1.0}


class Node:
    """A transport plus an inbox; ``refuse`` holds keys its ``is_allowed`` says no to."""

    def __init__(self, key: KeyPair | None = None, chain: str = CHAIN, **options: Any) -> None:
        self.key = key or KeyPair.generate()
        self.refuse: set[bytes] = set()
        self.inbox: list[tuple[bytes, bytes]] = []
        self.handle: Callable[[bytes, bytes], None] = lambda peer, payload: self.inbox.append((peer, payload))
        self.t = Transport(chain, self.key, lambda k: k not in self.refuse,
                           lambda peer, payload: self.handle(peer, payload), **{**FAST, **options})

    @property
    def pk(self) -> bytes:
        return self.key.public_key

    @property
    def port(self) -> int:
        assert self.t.address is not None
        return self.t.address[1]

    async def start(self, port: int = 0) -> Node:
        await self.t.start(HOST, port)
        return self

    def dial(self, other: Node) -> None:
        self.t.add_peer(other.pk, HOST, other.port)

    def received_from(self, other: Node) -> list[bytes]:
        return [payload for peer, payload in self.inbox if peer == other.pk]


def run(scenario: Callable[[list[Node]], Awaitable[None]], timeout: float = 10.0) -> list[dict[str, Any]]:
    """Run a scenario with a list it fills with nodes (all closed at the end); fail on reported bugs."""
    errors: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
        nodes: list[Node] = []
        try:
            async with asyncio.timeout(timeout):
                await scenario(nodes)
        finally:
            for node in nodes:
                await node.t.close()

    asyncio.run(main())
    return errors


def run_clean(scenario: Callable[[list[Node]], Awaitable[None]], timeout: float = 10.0) -> None:
    errors = run(scenario, timeout)
    assert errors == [], errors


async def started(nodes: list[Node], count: int = 1, **options: Any) -> list[Node]:
    fresh = [await Node(**options).start() for _ in range(count)]
    nodes.extend(fresh)
    return fresh


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def linked(a: Node, b: Node) -> None:
    """a dials b and both see the link."""
    a.dial(b)
    await wait_until(lambda: b.pk in a.t.connected() and a.pk in b.t.connected())


async def rogue_session(server: Node, key: KeyPair) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Session]:
    """A hand-driven client that completes a genuine handshake, to misbehave afterwards."""
    reader, writer = await asyncio.open_connection(HOST, server.port)
    session = await perform_handshake(reader, writer, role=Role.INITIATOR, chain_id=CHAIN, key=key,
                                      is_allowed=lambda _k: True, expected_key=server.pk)
    return reader, writer, session


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(2.0):
            while await reader.read(65536):
                pass
    except ConnectionError:
        pass
    return True


async def still_serves(server: Node, nodes: list[Node]) -> None:
    """After dropping a bad peer the server still accepts and delivers for a good one."""
    (good,) = await started(nodes)
    await linked(good, server)
    assert good.t.send(server.pk, b"still here")
    await wait_until(lambda: server.received_from(good) == [b"still here"])


# ---- key schedule and frame cipher (no sockets) ----


def test_session_keys_differ_per_direction_and_per_transcript() -> None:
    i2r, r2i = derive_session_keys(bytes(range(32)), b"t" * 32)
    other_i2r, _ = derive_session_keys(bytes(range(32)), b"u" * 32)
    assert len({i2r, r2i, other_i2r}) == 3


def test_the_frame_cipher_uses_a_fresh_nonce_for_every_frame() -> None:
    sender, receiver = FrameCipher(bytes(32)), FrameCipher(bytes(32))
    first, second = sender.seal(b"same"), sender.seal(b"same")
    assert first != second and sender.counter == 2
    assert receiver.open(first) == receiver.open(second) == b"same"
    with pytest.raises(FrameError):
        receiver.open(first)  # a replay: the receiver's counter has moved past it


# ---- messaging ----


def test_two_transports_exchange_messages_both_ways() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)
        assert a.t.send(b.pk, b"ping") and b.t.send(a.pk, b"pong")
        await wait_until(lambda: b.received_from(a) == [b"ping"] and a.received_from(b) == [b"pong"])
        assert a.t.counters.handshakes_ok == b.t.counters.handshakes_ok == 1
        assert a.t.counters.frames_out == b.t.counters.frames_in == 1
        assert a.t.counters.bytes_out == b.t.counters.bytes_in == HEADER.size + 4 + 16

    run_clean(scenario)


def test_three_transports_in_a_mesh_exchange_messages_between_every_pair() -> None:
    async def scenario(nodes: list[Node]) -> None:
        trio = await started(nodes, 3)
        for i, x in enumerate(trio):
            for y in trio[i + 1:]:
                await linked(x, y)
        for x in trio:
            for y in trio:
                if x is not y:
                    assert x.t.send(y.pk, b"from " + x.pk[:4])
        await wait_until(lambda: all(len(x.inbox) == 2 for x in trio))
        for x in trio:
            assert sorted(x.inbox) == sorted((y.pk, b"from " + y.pk[:4]) for y in trio if y is not x)

    run_clean(scenario)


def test_broadcast_reaches_every_connected_peer_except_the_excluded() -> None:
    async def scenario(nodes: list[Node]) -> None:
        hub, *spokes = await started(nodes, 4)
        for spoke in spokes:
            await linked(spoke, hub)
        assert hub.t.broadcast(b"block", exclude={spokes[0].pk}) == 2
        await wait_until(lambda: all(s.received_from(hub) == [b"block"] for s in spokes[1:]))
        await asyncio.sleep(0.05)
        assert spokes[0].inbox == []

    run_clean(scenario)


def test_thousands_of_frames_arrive_complete_and_in_order_both_ways() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)
        sizes = [1 + (i * 7919) % 3000 for i in range(3000)]
        outbound = [i.to_bytes(4, "big") * (n // 4 + 1) for i, n in enumerate(sizes)]
        for payload in outbound:
            assert a.t.send(b.pk, payload) and b.t.send(a.pk, payload[::-1])
        await wait_until(lambda: len(b.inbox) == len(a.inbox) == len(outbound), timeout=8.0)
        assert b.received_from(a) == outbound
        assert a.received_from(b) == [p[::-1] for p in outbound]
        assert a.t.counters.queue_drops == b.t.counters.queue_drops == 0

    run_clean(scenario)


def test_simultaneous_dials_settle_on_one_connection_that_both_sides_keep() -> None:
    async def scenario(nodes: list[Node]) -> None:
        for _ in range(5):
            await dial_each_other(*await started(nodes, 2))

    async def dial_each_other(a: Node, b: Node) -> None:
        a.dial(b)
        b.dial(a)
        await wait_until(lambda: b.pk in a.t.connected() and a.pk in b.t.connected())
        await asyncio.sleep(0.1)  # let any duplicate finish its handshake and be resolved
        # Private peek: the rule is that both ends keep the same TCP connection.
        kept_by_a, kept_by_b = a.t._links[b.pk], b.t._links[a.pk]
        assert kept_by_a.session.transcript_hash == kept_by_b.session.transcript_hash
        assert a.t.send(b.pk, b"x") and b.t.send(a.pk, b"y")
        await wait_until(lambda: b.received_from(a) == [b"x"] and a.received_from(b) == [b"y"])

    run_clean(scenario)


def test_send_to_a_peer_that_is_not_connected_returns_false() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (a,) = await started(nodes)
        assert a.t.send(KeyPair.generate().public_key, b"nobody") is False
        assert a.t.broadcast(b"nobody") == 0

    run_clean(scenario)


def test_a_payload_larger_than_the_frame_cap_is_refused_at_send() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2, max_frame=1024)
        await linked(a, b)
        with pytest.raises(PayloadTooLarge):
            a.t.send(b.pk, bytes(1024))
        assert a.t.send(b.pk, bytes(1024 - 16))

    run_clean(scenario)


def test_a_transport_refuses_to_dial_itself() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (a,) = await started(nodes)
        with pytest.raises(ValueError):
            a.dial(a)

    run_clean(scenario)


def test_a_full_send_queue_drops_the_oldest_payloads() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2, max_queue_frames=3)
        await linked(a, b)
        # No await between sends: the writer task cannot run, so the queue must hold only the newest 3.
        for i in range(10):
            a.t.send(b.pk, bytes([i]))
        await wait_until(lambda: len(b.inbox) == 3)
        assert b.received_from(a) == [bytes([7]), bytes([8]), bytes([9])]
        assert a.t.counters.queue_drops == 7

    run_clean(scenario)


# ---- refusals at the handshake ----


def test_the_accepting_side_refuses_a_key_it_does_not_allow() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        b.refuse.add(a.pk)
        a.dial(b)
        await wait_until(lambda: b.t.counters.refused_keys >= 1 and a.t.counters.handshakes_failed >= 1)
        assert a.t.connected() == b.t.connected() == set()

    run_clean(scenario)


def test_the_dialing_side_refuses_a_key_it_does_not_allow() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        a.refuse.add(b.pk)
        a.dial(b)
        await wait_until(lambda: a.t.counters.refused_keys >= 1 and b.t.counters.handshakes_failed >= 1)
        assert a.t.connected() == b.t.connected() == set()

    run_clean(scenario)


def test_a_peer_presenting_another_key_than_the_one_dialed_is_refused() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, impostor = await started(nodes, 2)
        expected = KeyPair.generate().public_key
        a.t.add_peer(expected, HOST, impostor.port)
        await wait_until(lambda: a.t.counters.refused_keys >= 1)
        assert a.t.connected() == impostor.t.connected() == set()

    run_clean(scenario)


def test_a_peer_on_another_chain_is_refused() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (a,) = await started(nodes)
        (other_chain,) = await started(nodes, chain="some-other-chain")
        a.dial(other_chain)
        await wait_until(lambda: a.t.counters.handshakes_failed >= 1 and other_chain.t.counters.handshakes_failed >= 1)
        assert a.t.connected() == other_chain.t.connected() == set()
        assert a.t.counters.handshakes_ok == 0

    run_clean(scenario)


def test_a_hello_claiming_someone_elses_key_fails_on_the_signature() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes)
        victim, forger = KeyPair.generate(), KeyPair.generate()
        reader, writer = await asyncio.open_connection(HOST, server.port)
        ours = Hello(CHAIN, victim.public_key, bytes(range(1, 33)))
        writer.write(encode_frame(ours.encode()))
        theirs = Hello.decode(await reader.readexactly(HEADER.unpack(await reader.readexactly(4))[0]))
        th = transcript_hash(CHAIN, ours, theirs)
        forged = forger.sign(auth_digest(CHAIN, Role.INITIATOR, th))
        writer.write(encode_frame(codec.encode([AUTH_TAG, VERSION, forged])))
        assert await closed_by_peer(reader)
        assert server.t.counters.handshakes_failed == 1 and server.t.connected() == set()
        writer.close()

    run_clean(scenario)


def test_a_silent_peer_times_out_in_the_handshake() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes, handshake_timeout=0.2)
        reader, writer = await asyncio.open_connection(HOST, server.port)
        assert await closed_by_peer(reader)
        assert server.t.counters.handshakes_failed == 1
        writer.close()

    run_clean(scenario)


def test_connections_past_the_pending_handshake_limit_are_closed_at_once_and_peers_still_get_in() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes, handshake_timeout=0.5, max_pending_handshakes=2)
        silent = [await asyncio.open_connection(HOST, server.port) for _ in range(2)]
        await wait_until(lambda: server.t._pending_handshakes == 2)  # both are in their handshake
        reader, writer = await asyncio.open_connection(HOST, server.port)
        async with asyncio.timeout(0.3):  # closed on arrival, well before any handshake timeout
            assert await reader.read(1) == b""
        assert server.t.counters.refused_connections == 1
        for _reader, silent_writer in silent:
            silent_writer.close()
        writer.close()
        await still_serves(server, nodes)  # the silent ones time out; a real peer gets in

    run_clean(scenario)


# ---- misbehaving peers are dropped and counted; the transport carries on ----


@pytest.mark.parametrize("garbage", [
    b"\xff\xff\xff\xff" + os.urandom(60),  # declares a 4 GiB frame before authenticating
    HEADER.pack(40) + os.urandom(40),  # a frame of the right size that is not a hello
], ids=["huge-length", "junk-record"])
def test_garbage_before_the_handshake_is_dropped_and_counted(garbage: bytes) -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes)
        reader, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(garbage)
        assert await closed_by_peer(reader)
        assert server.t.counters.bad_frames == 1 and server.t.counters.handshakes_failed == 1
        writer.close()
        await still_serves(server, nodes)

    run_clean(scenario)


def test_an_oversized_frame_after_the_handshake_drops_the_peer() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes, max_frame=4096)
        reader, writer, _session = await rogue_session(server, KeyPair.generate())
        await wait_until(lambda: len(server.t.connected()) == 1)
        writer.write(HEADER.pack(4097) + bytes(100))
        assert await closed_by_peer(reader)
        assert server.t.counters.bad_frames == 1 and server.t.connected() == set()
        writer.close()
        await still_serves(server, nodes)

    run_clean(scenario)


def test_a_tampered_ciphertext_drops_the_peer() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes)
        rogue = KeyPair.generate()
        reader, writer, session = await rogue_session(server, rogue)
        writer.write(encode_frame(session.sender.seal(b"genuine")))
        await wait_until(lambda: [p for _k, p in server.inbox] == [b"genuine"])
        body = bytearray(session.sender.seal(b"tampered"))
        body[3] ^= 0x01
        writer.write(encode_frame(bytes(body)))
        assert await closed_by_peer(reader)
        assert server.t.counters.bad_frames == 1 and server.t.connected() == set()
        assert [p for _k, p in server.inbox] == [b"genuine"]
        writer.close()
        await still_serves(server, nodes)

    run_clean(scenario)


def test_a_replayed_frame_fails_because_the_nonce_has_moved_on() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes)
        reader, writer, session = await rogue_session(server, KeyPair.generate())
        frame = encode_frame(session.sender.seal(b"once"))
        writer.write(frame + frame)
        assert await closed_by_peer(reader)
        assert [p for _k, p in server.inbox] == [b"once"] and server.t.counters.bad_frames == 1
        writer.close()

    run_clean(scenario)


def test_an_exception_in_on_message_is_reported_and_the_link_survives() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)

        def explode(_peer: bytes, payload: bytes) -> None:
            if payload == b"boom":
                raise RuntimeError("handler bug")
            b.inbox.append((a.pk, payload))

        b.handle = explode
        a.t.send(b.pk, b"boom")
        a.t.send(b.pk, b"after")
        await wait_until(lambda: b.received_from(a) == [b"after"])
        assert b.t.counters.internal_errors == 1 and a.pk in b.t.connected()

    errors = run(scenario)
    assert [type(e.get("exception")) for e in errors] == [RuntimeError]


# ---- connection lifetime ----


def test_the_dialer_reconnects_after_the_other_side_restarts() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)
        port, key = b.port, b.key
        await b.t.close()
        nodes.remove(b)
        await wait_until(lambda: a.t.connected() == set())
        await asyncio.sleep(0.1)  # a few failed dials while b is down
        restarted = await Node(key).start(port)
        nodes.append(restarted)
        await wait_until(lambda: a.t.connected() == {key.public_key}, timeout=5.0)
        assert a.t.send(key.public_key, b"welcome back")
        await wait_until(lambda: restarted.received_from(a) == [b"welcome back"])
        assert a.t.counters.dial_failures >= 1

    run_clean(scenario)


def test_remove_peer_closes_the_link_and_stops_redialing() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)
        a.t.remove_peer(b.pk)
        assert a.t.connected() == set()
        await wait_until(lambda: b.t.connected() == set())
        await asyncio.sleep(0.4)  # longer than the whole backoff schedule
        assert b.t.counters.handshakes_ok == 1 and a.t.connected() == set()

    run_clean(scenario)


def test_no_message_is_delivered_after_on_message_removes_the_peer() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)

        def take_one_then_remove(peer: bytes, payload: bytes) -> None:
            b.inbox.append((peer, payload))
            b.t.remove_peer(peer)

        b.handle = take_one_then_remove
        for i in range(5):
            a.t.send(b.pk, bytes([i]))
        await wait_until(lambda: a.t.connected() == set())
        assert b.received_from(a) == [bytes([0])]

    run_clean(scenario)


def test_connect_and_disconnect_callbacks_fire_once_per_peer() -> None:
    async def scenario(nodes: list[Node]) -> None:
        events: list[tuple[str, bytes]] = []
        (b,) = await started(nodes)
        a = Node(on_connect=lambda k: events.append(("up", k)), on_disconnect=lambda k: events.append(("down", k)))
        nodes.append(await a.start())
        await linked(a, b)
        a.t.remove_peer(b.pk)
        assert events == [("up", b.pk), ("down", b.pk)]

    run_clean(scenario)


def test_an_isolated_transport_drops_traffic_both_ways_but_stays_connected() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)
        a.t.isolated = True
        assert a.t.send(b.pk, b"lost out") is True
        b.t.send(a.pk, b"lost in")
        await wait_until(lambda: a.t.counters.isolated_drops == 2)
        assert a.inbox == [] and b.inbox == []
        assert a.t.connected() == {b.pk} and b.t.connected() == {a.pk}
        a.t.isolated = False
        a.t.send(b.pk, b"healed")
        await wait_until(lambda: b.received_from(a) == [b"healed"])

    run_clean(scenario)
