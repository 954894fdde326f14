"""Strangers cannot keep peers out by holding inbound handshakes open (review finding 11, issue 14).

At 1212d3c one stranger opening 64 sockets and saying nothing took every pending-handshake slot for the
whole handshake timeout, again and again: restarted validators took ~50 s to reconnect instead of < 8 s.
Now one source address holds a small share of the slots, a silent inbound socket loses its slot after
the short inbound handshake timeout, and the addresses we dial ourselves (the other validators) keep
their share when strangers from many addresses fill the rest.

Real sockets on loopback only: the strangers bind 127.0.0.2 and up (all local on Linux), the peers
connect from 127.0.0.1. Deadlines are generous; nothing here measures a tight time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from tests.p2p.test_transport import HOST, Node, run_clean, started, wait_until

STRANGER = "127.0.0.2"
LONG = 30.0  # a handshake timeout far beyond every deadline below, so only the new limits can help


async def silent_connection(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection from ``source`` that never says anything."""
    return await asyncio.open_connection(HOST, port, local_addr=(source, 0))


async def hold_silent_connections(port: int, source: str, count: int, opened: asyncio.Event) -> None:
    """Keep ``count`` silent connections open from ``source``, reopening each one the node closes."""

    async def one() -> None:
        while True:
            reader, writer = await silent_connection(port, source)
            opened.set()
            try:
                await closed_by_node(reader)  # the node's hello arrives, then nothing until it closes
            finally:
                writer.close()
            await asyncio.sleep(0.05)  # a persistent stranger, not a busy loop

    async with asyncio.TaskGroup() as tasks:
        for _ in range(count):
            tasks.create_task(one())


async def closed_by_node(reader: asyncio.StreamReader) -> bool:
    """Read (the node's hello, if it sent one) until the node closes the connection."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass
    return True


def test_a_stranger_holding_64_silent_handshakes_from_one_address_cannot_keep_a_peer_out() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server, peer) = await started(nodes, 2, handshake_timeout=LONG)
        opened = asyncio.Event()
        stranger = asyncio.create_task(hold_silent_connections(server.port, STRANGER, 64, opened))
        try:
            await opened.wait()
            await asyncio.sleep(0.5)  # every stranger socket has arrived before the peer dials
            peer.dial(server)
            await wait_until(lambda: server.pk in peer.t.connected() and peer.pk in server.t.connected(),
                             timeout=10.0)
        finally:
            stranger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stranger
        assert server.t.counters.refused_connections > 0  # the stranger was held to its share

    run_clean(scenario, timeout=25.0)


def test_a_silent_inbound_connection_loses_its_slot_long_before_the_handshake_timeout() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes, handshake_timeout=LONG)
        reader, writer = await silent_connection(server.port, STRANGER)
        async with asyncio.timeout(10.0):
            assert await closed_by_node(reader)
        writer.close()
        assert server.t.counters.handshakes_failed == 1

    run_clean(scenario, timeout=25.0)


def test_connections_from_one_address_past_its_share_are_refused_while_other_addresses_get_slots() -> None:
    async def scenario(nodes: list[Node]) -> None:
        (server,) = await started(nodes, handshake_timeout=LONG, inbound_handshake_timeout=LONG,
                                  max_pending_per_address=2)
        held = [await silent_connection(server.port, STRANGER) for _ in range(2)]
        await wait_until(lambda: server.t._pending_handshakes == 2)
        reader, writer = await silent_connection(server.port, STRANGER)
        async with asyncio.timeout(5.0):
            assert await closed_by_node(reader)
        assert server.t.counters.refused_connections == 1
        held.append(await silent_connection(server.port, "127.0.0.3"))
        await wait_until(lambda: server.t._pending_handshakes == 3)
        assert server.t.counters.refused_connections == 1
        for _reader, silent_writer in held:
            silent_writer.close()
        writer.close()

    run_clean(scenario, timeout=25.0)


def test_a_validator_we_dial_gets_in_when_strangers_from_many_addresses_fill_the_shared_slots() -> None:
    async def scenario(nodes: list[Node]) -> None:
        limits = {"handshake_timeout": LONG, "inbound_handshake_timeout": LONG, "max_pending_handshakes": 4,
                  "max_pending_per_address": 2}
        (server,) = await started(nodes, **limits)
        (peer,) = await started(nodes)
        # The server knows the validator's address; its own dial finds nothing there yet (the validator
        # is restarting on another port), so only the validator's inbound dial can make the link.
        with contextlib.closing(socket.socket()) as placeholder:
            placeholder.bind((HOST, 0))
            server.t.add_peer(peer.pk, HOST, placeholder.getsockname()[1])
        held = [await silent_connection(server.port, source) for source in ("127.0.0.2", "127.0.0.3")
                for _ in range(2)]
        await wait_until(lambda: server.t._pending_handshakes == 4)
        reader, writer = await silent_connection(server.port, "127.0.0.4")  # the shared pool is full
        async with asyncio.timeout(5.0):
            assert await closed_by_node(reader)
        peer.dial(server)
        await wait_until(lambda: server.pk in peer.t.connected() and peer.pk in server.t.connected(),
                         timeout=10.0)
        for _reader, silent_writer in held:
            silent_writer.close()
        writer.close()

    run_clean(scenario, timeout=25.0)


def test_an_address_whose_peer_was_removed_loses_its_share_of_the_full_pool() -> None:
    async def scenario(nodes: list[Node]) -> None:
        limits = {"handshake_timeout": LONG, "inbound_handshake_timeout": LONG, "max_pending_handshakes": 4,
                  "max_pending_per_address": 2}
        (server,) = await started(nodes, **limits)
        server.t.add_peer(b"r" * 32, HOST, 9)  # a validator at 127.0.0.1, then removed from the peer set
        server.t.remove_peer(b"r" * 32)
        held = [await silent_connection(server.port, source) for source in ("127.0.0.2", "127.0.0.3")
                for _ in range(2)]
        await wait_until(lambda: server.t._pending_handshakes == 4)
        reader, writer = await silent_connection(server.port, HOST)  # a stranger now, like any other
        async with asyncio.timeout(5.0):
            assert await closed_by_node(reader)
        assert server.t.counters.refused_connections == 1
        for _reader, silent_writer in held:
            silent_writer.close()
        writer.close()

    run_clean(scenario, timeout=25.0)
