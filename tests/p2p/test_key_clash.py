"""Two live processes with one peer's node key, seen by the node they both dial (node/p2p/key_clash.py).

The decision rules on their own first (times are passed in), then the transport over real loopback
sockets: an original and a copy of one key, the copy refused because the node keeps the link it
dialed itself, and the same node untroubled when the key's process restarts.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from consensus.crypto import KeyPair
from node.p2p.key_clash import KeyClash, KeyClashWatch
from tests.p2p.test_transport import Node, closed_by_peer, rogue_session, run_clean, wait_until

KEY = b"k" * 32
OTHER = b"o" * 32


def watch() -> KeyClashWatch:
    return KeyClashWatch(settle_s=5.0, grace_s=1.0, window_s=120.0, needed=2)


def refuse_then_deliver(w: KeyClashWatch, at: float, key: bytes = KEY) -> KeyClash | None:
    """A refusal at ``at`` against a kept link opened long before, then a frame 2 s later."""
    w.refused(key, at - 100, "127.0.0.1:2", "127.0.0.1:1", at)
    return w.delivered(key, at + 2)


def test_a_refusal_next_to_a_young_link_is_two_dials_crossing_not_evidence() -> None:
    w = watch()
    w.refused(KEY, 100.0, "a", "b", 104.9)  # the kept link is 4.9 s old: both sides dialed at once
    assert not w.watching(KEY)
    w.refused(KEY, 100.0, "a", "b", 105.0)
    assert w.watching(KEY) and not w.watching(OTHER)


def test_frames_already_in_flight_at_the_refusal_prove_nothing_a_later_one_does() -> None:
    w = KeyClashWatch(needed=1)
    w.refused(KEY, 0.0, "127.0.0.1:2", "127.0.0.1:1", 10.0)
    assert w.delivered(KEY, 10.999) is None and w.watching(KEY)
    clash = w.delivered(KEY, 11.0)
    assert clash == KeyClash(KEY, "127.0.0.1:2", "127.0.0.1:1", 1, True)
    assert not w.watching(KEY)
    assert w.delivered(KEY, 12.0) is None  # one refusal, one piece of evidence


def test_one_clash_is_not_enough_two_in_the_window_are_and_each_later_one_counts_but_is_told_once() -> None:
    w = watch()
    assert refuse_then_deliver(w, 10.0) is None
    second = refuse_then_deliver(w, 20.0)
    assert second is not None and second.seen == 2 and second.report
    third = refuse_then_deliver(w, 30.0)
    assert third is not None and third.seen == 3 and not third.report
    # Two minutes after the report it is told again; evidence older than the window no longer counts.
    fourth = refuse_then_deliver(w, 20.0 + 2 + 120.0)
    assert fourth is not None and fourth.report and fourth.seen == 2


def test_by_default_the_second_clash_in_two_minutes_is_told_and_two_minutes_later_the_next_one() -> None:
    w = KeyClashWatch()  # the transport's: what docs/p2p.md promises
    assert refuse_then_deliver(w, 10.0) is None
    told = refuse_then_deliver(w, 20.0)
    assert told is not None and told.report
    quiet = refuse_then_deliver(w, 98.0)
    assert quiet is not None and not quiet.report
    again = refuse_then_deliver(w, 20.0 + 120.0)  # delivered exactly 120 s after the report
    assert again is not None and again.report and again.seen == 2


def test_evidence_further_apart_than_the_window_never_adds_up() -> None:
    w = watch()
    assert refuse_then_deliver(w, 0.0) is None
    assert refuse_then_deliver(w, 120.0) is None
    assert refuse_then_deliver(w, 240.0) is None


def test_each_key_has_its_own_evidence() -> None:
    w = watch()
    assert refuse_then_deliver(w, 10.0, KEY) is None
    assert refuse_then_deliver(w, 20.0, OTHER) is None
    clash = refuse_then_deliver(w, 30.0, KEY)
    assert clash is not None and clash.key == KEY and clash.seen == 2


def test_a_kept_link_that_closes_or_a_peer_that_leaves_takes_its_marks_along() -> None:
    w = watch()
    w.refused(KEY, 0.0, "a", "b", 10.0)
    w.link_lost(KEY)
    assert w.delivered(KEY, 20.0) is None  # the redialing process may be the only one left
    assert refuse_then_deliver(w, 30.0) is None
    w.forget(KEY)
    assert refuse_then_deliver(w, 40.0) is None  # the first evidence since it left, not the second


def test_a_peer_that_left_and_came_back_starts_afresh() -> None:
    w = watch()
    assert refuse_then_deliver(w, 10.0) is None
    told = refuse_then_deliver(w, 20.0)
    assert told is not None and told.report
    w.refused(KEY, 0.0, "a", "b", 30.0)
    w.forget(KEY)
    assert not w.watching(KEY) and w.delivered(KEY, 40.0) is None
    assert refuse_then_deliver(w, 50.0) is None
    back = refuse_then_deliver(w, 60.0)
    assert back is not None and back.report  # told again: a new peer, though within 2 minutes of the last


# ---- the transport, over loopback ----

def fast_watch(needed: int = 2, grace_s: float = 0.1) -> KeyClashWatch:
    """Seconds where the transport waits minutes, so a test sees a clash in under one."""
    return KeyClashWatch(settle_s=0.3, grace_s=grace_s, window_s=60.0, needed=needed)


def keys_sorted_apart() -> tuple[KeyPair, KeyPair]:
    """(ours, theirs) with ours lower: we keep the link we dial, and refuse the key's other dials."""
    while True:
        ours, theirs = KeyPair.generate(), KeyPair.generate()
        if ours.public_key < theirs.public_key:
            return ours, theirs


async def keep_talking(sender: Node, to: Node) -> None:
    while True:
        sender.t.send(to.pk, b"still here")
        await asyncio.sleep(0.05)


async def node_and_original(nodes: list[Node], ours: KeyPair, copied: KeyPair,
                            watch: KeyClashWatch | None = None) -> tuple[Node, Node]:
    """A node and the original holder of ``copied``, linked by the node's own dial (kept: its key is lower)."""
    node, original = await Node(ours).start(), await Node(copied).start()
    nodes.extend([node, original])
    node.t.key_clashes = watch or fast_watch()
    node.dial(original)
    await wait_until(lambda: node.t.connected() == {copied.public_key})
    return node, original


def test_a_copy_refused_while_the_original_keeps_talking_is_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(nodes: list[Node]) -> None:
        ours, copied = keys_sorted_apart()
        node, original = await node_and_original(nodes, ours, copied)
        copy = await Node(copied).start()
        nodes.append(copy)
        kept = node.t._links[copied.public_key]  # private peek: which connection the node holds
        talking = asyncio.create_task(keep_talking(original, node))
        await asyncio.sleep(0.4)  # the kept link has settled
        copy.dial(node)
        try:
            await wait_until(lambda: node.t.counters.key_clashes >= 2, timeout=5.0)
        finally:
            talking.cancel()
        assert node.t._links[copied.public_key] is kept  # the original kept its place throughout
        assert node.t.counters.duplicate_connections >= 3

    with caplog.at_level(logging.WARNING, logger="bakong.p2p"):
        run_clean(scenario)
    warnings = [r.getMessage() for r in caplog.records if "two live processes" in r.getMessage()]
    assert len(warnings) == 1, warnings  # told once, however often it happens in the window
    assert "the link to 127.0.0.1:" in warnings[0] and "A copied key?" in warnings[0]


def test_a_restarted_peer_redialing_is_no_clash() -> None:
    async def scenario(nodes: list[Node]) -> None:
        ours, theirs = keys_sorted_apart()
        node = await Node(ours).start()
        nodes.append(node)
        node.t.key_clashes = fast_watch()
        for _ in range(3):  # the key's process restarts, each time dialing us as well as being dialed
            peer = await Node(theirs).start()
            nodes.append(peer)
            node.t.remove_peer(theirs.public_key)
            node.dial(peer)
            peer.dial(node)
            await wait_until(lambda: theirs.public_key in node.t.connected())
            talking = asyncio.create_task(keep_talking(peer, node))
            await asyncio.sleep(0.6)
            talking.cancel()
            await peer.t.close()
            nodes.remove(peer)
            await wait_until(lambda: node.t.connected() == set())
        assert node.t.counters.duplicate_connections >= 1  # the crossing dials did meet (3 of 3 in 4 runs)
        assert node.t.counters.key_clashes == 0

    run_clean(scenario)



async def copy_connects(node: Node, copied: KeyPair) -> None:
    """One connection of a copy of ``copied``, by hand: a genuine handshake, then the node closes it."""
    reader, writer, _session = await rogue_session(node, copied)
    assert await closed_by_peer(reader)
    writer.close()


def test_each_refusal_the_kept_link_outlives_counts_once_after_the_first(caplog: pytest.LogCaptureFixture) -> None:
    ours, copied = keys_sorted_apart()

    async def scenario(nodes: list[Node]) -> None:
        node, original = await node_and_original(nodes, ours, copied)
        talking = asyncio.create_task(keep_talking(original, node))
        await asyncio.sleep(0.4)
        try:
            for expected in (0, 1, 2):
                await copy_connects(node, copied)
                await wait_until(lambda: not node.t.key_clashes.watching(copied.public_key))
                assert node.t.counters.key_clashes == expected
        finally:
            talking.cancel()

    with caplog.at_level(logging.WARNING, logger="bakong.p2p"):
        run_clean(scenario)
    (warning,) = [r.getMessage() for r in caplog.records if "two live processes" in r.getMessage()]
    assert warning.startswith(f"peer {copied.public_key.hex()[:16]}: two live processes hold its node key: 2 ")


def test_a_refusal_whose_kept_link_then_closes_is_no_evidence_against_the_next_link() -> None:
    async def scenario(nodes: list[Node]) -> None:
        ours, copied = keys_sorted_apart()
        node, original = await node_and_original(nodes, ours, copied, fast_watch(needed=1, grace_s=0.5))
        await asyncio.sleep(0.4)
        await copy_connects(node, copied)
        assert node.t.key_clashes.watching(copied.public_key)
        port = original.port
        await original.t.close()  # the original goes before it says anything more; the copy takes over
        nodes.remove(original)
        await wait_until(lambda: node.t.connected() == set())
        replacement = await Node(copied).start(port)
        nodes.append(replacement)
        await wait_until(lambda: node.t.connected() == {copied.public_key}, timeout=5.0)
        talking = asyncio.create_task(keep_talking(replacement, node))
        await asyncio.sleep(0.8)
        talking.cancel()
        assert node.t.counters.key_clashes == 0

    run_clean(scenario)


def test_a_peer_removed_and_added_again_starts_with_no_evidence() -> None:
    async def scenario(nodes: list[Node]) -> None:
        ours, copied = keys_sorted_apart()
        node = await Node(ours).start()
        original = await Node(copied).start()
        nodes.extend([node, original])
        node.t.key_clashes = fast_watch()
        talking = asyncio.create_task(keep_talking(original, node))
        try:
            for _ in range(2):  # one piece of evidence each time: never two against one membership
                node.dial(original)
                await wait_until(lambda: node.t.connected() == {copied.public_key})
                await asyncio.sleep(0.4)
                await copy_connects(node, copied)
                await wait_until(lambda: not node.t.key_clashes.watching(copied.public_key))
                node.t.remove_peer(copied.public_key)
                await wait_until(lambda: node.t.connected() == set())
        finally:
            talking.cancel()
        assert node.t.counters.key_clashes == 0

    run_clean(scenario)
