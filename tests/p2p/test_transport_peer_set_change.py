"""A peer removed from the peer set while its handshake is in flight must not end up connected.

The responder checks the key when the peer's hello arrives; the handshake then awaits the peer's
signature, and a RemovePeer committed in that gap used to go unnoticed: the link was registered
after ``remove_peer`` had already run, so nothing ever dropped it (an observer removed from the set
kept following the chain through it). Found by tests/integration/test_network.py.
"""

from __future__ import annotations

import asyncio

from tests.p2p.test_transport import Node, run_clean, started, wait_until


def test_a_key_removed_during_its_handshake_is_not_registered() -> None:
    async def scenario(nodes: list[Node]) -> None:
        a, b = await started(nodes, 2)
        calls: list[bytes] = []

        def allowed_once(key: bytes) -> bool:
            # Yes at the hello; by the time the handshake finishes the key has been removed.
            calls.append(key)
            return len(calls) == 1

        b.t._is_allowed = allowed_once  # stands in for a peer set that changes
        a.dial(b)
        await wait_until(lambda: len(calls) >= 2 or a.pk in b.t.connected())
        await asyncio.sleep(0.1)
        assert a.pk not in b.t.connected()
        await wait_until(lambda: b.pk not in a.t.connected())  # the dialer sees the hang-up
        a.t.remove_peer(b.pk)  # no more redials
        await asyncio.sleep(0.1)
        # Each "no" refused one connection: the first after its handshake, the redials at their hello.
        assert b.t.counters.refused_keys == len(calls) - 1 >= 1

    run_clean(scenario)
