"""Peer messages on the wire (node/p2p/messages.py), pinned with the tags and caps written out.

The records are ``[tag, 1, ...]`` of the canonical codec with tags 20-24 (TxGossip, Consensus,
SyncRequest, SyncBlocks, HeadAnnounce); a build that renumbered one would drop everything an older node
says. A hostile peer's malformed record must fail with the codec's typed errors (the caller drops and
counts it), and the caps (5,000 transactions per gossip batch, 64 blocks per sync message) hold at
their edge.
"""

from __future__ import annotations

from typing import Any

import pytest

from consensus import codec
from node.p2p.messages import (
    ConsensusWire,
    HeadAnnounce,
    PeerMessage,
    SyncBlocks,
    SyncRequest,
    TxGossip,
    decode_peer_message,
    encode_peer_message,
)

LIMIT = 64 * 1024 * 1024
HASH = bytes(range(32))

WIRE: list[tuple[list[Any], PeerMessage]] = [
    ([20, 1, [b"tx1", b"tx2"]], TxGossip((b"tx1", b"tx2"))),
    ([21, 1, b"a signed vote"], ConsensusWire(b"a signed vote")),
    ([22, 1, 7, 64], SyncRequest(7, 64)),
    ([23, 1, [[b"block 7", b"cert 7"], [b"block 8", b"cert 8"]]],
     SyncBlocks(((b"block 7", b"cert 7"), (b"block 8", b"cert 8")))),
    ([24, 1, 9, HASH], HeadAnnounce(9, HASH)),
]


def decode(value: Any) -> PeerMessage:
    return decode_peer_message(codec.encode(value), LIMIT)


@pytest.mark.parametrize(("record", "message"), WIRE, ids=lambda x: type(x).__name__)
def test_each_message_is_its_documented_record_both_ways(record: list[Any], message: PeerMessage) -> None:
    assert encode_peer_message(message) == codec.encode(record)
    assert decode(record) == message


@pytest.mark.parametrize("record", [[], [20], ["20", 1], [b"\x14", 1, []], [True, 1, []]],
                         ids=repr)
def test_a_record_without_an_integer_tag_and_a_version_is_refused_as_tagless(record: list[Any]) -> None:
    with pytest.raises(codec.UnexpectedShape, match=r"^peer message: missing tag$"):
        decode(record)


def test_a_known_tag_with_the_wrong_version_or_field_count_is_refused_by_its_own_name() -> None:
    for record, name in [([20, 1], "tx gossip"), ([21, 2, b"m"], "consensus"), ([21, 1], "consensus"),
                         ([21, 1, b"m", b"extra"], "consensus"), ([22, 1, 7], "sync request"),
                         ([23, 0, []], "sync blocks"), ([24, 1, 9], "head announce")]:
        with pytest.raises(codec.UnexpectedShape, match=f"^{name}: "):
            decode(record)


def test_an_unknown_tag_is_named() -> None:
    for tag in (19, 25, 0):
        with pytest.raises(codec.UnknownTag, match=f"unknown peer message tag {tag}$"):
            decode([tag, 1, b"x"])


def test_fields_of_the_wrong_type_are_refused() -> None:
    for record in ([20, 1, ["not bytes"]], [20, 1, b"not a list"], [21, 1, "not bytes"], [22, 1, "7", 1],
                   [23, 1, [[b"block", "cert"]]], [23, 1, [[b"block"]]], [24, 1, 9, HASH[:31]],
                   [24, 1, "9", HASH]):
        with pytest.raises(codec.CodecError):
            decode(record)


def test_a_gossip_batch_holds_at_most_5000_transactions() -> None:
    assert len(decode([20, 1, [b"t"] * 5000]).txs) == 5000  # type: ignore[union-attr]
    with pytest.raises(codec.CodecError):
        decode([20, 1, [b"t"] * 5001])


def test_a_sync_message_asks_for_and_carries_1_to_64_blocks() -> None:
    assert decode([22, 1, 1, 1]) == SyncRequest(1, 1)
    assert decode([22, 1, 1, 64]) == SyncRequest(1, 64)
    for count in (0, 65):
        with pytest.raises(codec.CodecError):
            decode([22, 1, 1, count])
    assert len(decode([23, 1, [[b"b", b"c"]] * 64]).blocks) == 64  # type: ignore[union-attr]
    with pytest.raises(codec.CodecError):
        decode([23, 1, [[b"b", b"c"]] * 65])
