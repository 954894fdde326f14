"""The transport's duplicate rule when one side's old connection is stale (docs/p2p.md, "Connections").

A peer that restarted, or lost a connection we have not noticed yet (a host that vanished without a FIN
keeps our end open until keepalive gives up), redials. Its new connection must take over at once, not
wait the ~30 s keepalive needs: same side dialed both, so the newer wins. The old socket is closed, the
payloads still queued for it move to the new one in order, and the peer counts as connected throughout
(no second "up", no "down"). Over real loopback sockets; the stale connection is a genuine handshake
that then never reads, as a dead process's socket would.
"""

from __future__ import annotations

import asyncio
import socket

from consensus.crypto import KeyPair
from tests.p2p.test_transport import Node, closed_by_peer, linked, rogue_session, run_clean, started, wait_until

CHUNK = 64 * 1024
CHUNKS = 400  # 25.6 MiB: more than loopback's socket buffers take, so most of it is still queued


def test_a_peer_redialing_while_its_old_connection_looks_alive_takes_over_at_once_with_the_queue() -> None:
    async def scenario(nodes: list[Node]) -> None:
        events: list[tuple[str, bytes]] = []
        node = await Node(on_connect=lambda k: events.append(("up", k)),
                          on_disconnect=lambda k: events.append(("down", k))).start()
        nodes.append(node)
        key = KeyPair.generate()
        stale_reader, stale_writer, _session = await rogue_session(node, key)  # dialed by the peer; never reads
        await wait_until(lambda: node.t.connected() == {key.public_key})
        for i in range(CHUNKS):
            assert node.t.send(key.public_key, i.to_bytes(4, "big") + bytes(CHUNK - 4))
        await asyncio.sleep(0.2)  # the writer fills the stale socket's buffers and waits on them

        restarted = await Node(key).start()
        nodes.append(restarted)
        restarted.dial(node)
        await wait_until(lambda: restarted.t.connected() == {node.pk}, timeout=3.0)
        assert await closed_by_peer(stale_reader)  # the stale connection was closed, not left to keepalive
        stale_writer.close()
        def received() -> list[int]:
            return [int.from_bytes(payload[:4], "big") for _peer, payload in restarted.inbox]

        await wait_until(lambda: received()[-1:] == [CHUNKS - 1], timeout=5.0)
        got = received()
        assert got == list(range(got[0], CHUNKS))  # the queue's tail, in order, nothing skipped
        assert got[0] > 0  # some went to the stale socket: the test did exercise the hand-over
        assert node.t.counters.duplicate_connections == 1
        assert events == [("up", key.public_key)]  # connected throughout: no "down", no second "up"
        assert node.t.connected() == {key.public_key}

    run_clean(scenario, timeout=20.0)


def test_every_link_asks_the_kernel_to_notice_a_vanished_host() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        await linked(a, b)
        for node, other in ((a, b), (b, a)):
            sock = node.t._links[other.pk].writer.get_extra_info("socket")  # private peek: the live socket
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            if hasattr(socket, "TCP_KEEPIDLE"):  # docs/p2p.md: 15 s idle, 3 probes 5 s apart
                assert (sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)) == (15, 5, 3)

    run_clean(scenario)
