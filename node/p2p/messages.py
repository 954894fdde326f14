"""What nodes say to each other over the transport: tagged records of the canonical codec.

  TxGossip      [20, 1, [tx_bytes, ...]]            transactions a node accepted, in batches
  Consensus     [21, 1, message_bytes]              a proposal or vote (``consensus.messages``)
  SyncRequest   [22, 1, from_height, max_blocks]    "send me blocks from this height on"
  SyncBlocks    [23, 1, [[block_bytes, certificate_bytes], ...]]
  HeadAnnounce  [24, 1, height, block_hash]         "my chain ends here" (after every commit)

A peer's malformed record raises ``CodecError`` and is dropped and counted by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from consensus import codec

VERSION = 1
TX_GOSSIP, CONSENSUS, SYNC_REQUEST, SYNC_BLOCKS, HEAD_ANNOUNCE = 20, 21, 22, 23, 24
MAX_GOSSIP_TXS = 5000
MAX_SYNC_BLOCKS = 64


@dataclass(frozen=True)
class TxGossip:
    txs: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsensusWire:
    message: bytes


@dataclass(frozen=True)
class SyncRequest:
    from_height: int
    max_blocks: int


@dataclass(frozen=True)
class SyncBlocks:
    blocks: tuple[tuple[bytes, bytes], ...]
    """(block bytes, certificate bytes) in height order."""


@dataclass(frozen=True)
class HeadAnnounce:
    height: int
    block_hash: bytes


PeerMessage: TypeAlias = TxGossip | ConsensusWire | SyncRequest | SyncBlocks | HeadAnnounce


def encode_peer_message(msg: PeerMessage) -> bytes:
    if isinstance(msg, TxGossip):
        value: list[Any] = [TX_GOSSIP, VERSION, list(msg.txs)]
    elif isinstance(msg, ConsensusWire):
        value = [CONSENSUS, VERSION, msg.message]
    elif isinstance(msg, SyncRequest):
        value = [SYNC_REQUEST, VERSION, msg.from_height, msg.max_blocks]
    elif isinstance(msg, SyncBlocks):
        value = [SYNC_BLOCKS, VERSION, [list(pair) for pair in msg.blocks]]
    else:
        value = [HEAD_ANNOUNCE, VERSION, msg.height, msg.block_hash]
    return codec.encode_trusted(value)


def decode_peer_message(data: bytes, max_bytes: int) -> PeerMessage:
    value = codec.decode(data, max_bytes)
    items = codec.expect_list(value, "peer message")
    if len(items) < 2 or type(items[0]) is not int:
        raise codec.UnexpectedShape("peer message: missing tag")
    tag = items[0]
    if tag == TX_GOSSIP:
        (txs,) = codec.expect_record(value, TX_GOSSIP, VERSION, 1, "tx gossip")
        items = codec.expect_list(txs, "txs", max_length=MAX_GOSSIP_TXS)
        return TxGossip(tuple(codec.expect_bytes(t, "tx") for t in items))
    if tag == CONSENSUS:
        (message,) = codec.expect_record(value, CONSENSUS, VERSION, 1, "consensus")
        return ConsensusWire(codec.expect_bytes(message, "consensus message"))
    if tag == SYNC_REQUEST:
        start, count = codec.expect_record(value, SYNC_REQUEST, VERSION, 2, "sync request")
        return SyncRequest(codec.expect_int(start, "from_height"),
                           codec.expect_int(count, "max_blocks", 1, MAX_SYNC_BLOCKS))
    if tag == SYNC_BLOCKS:
        (pairs,) = codec.expect_record(value, SYNC_BLOCKS, VERSION, 1, "sync blocks")
        blocks = []
        for pair in codec.expect_list(pairs, "blocks", max_length=MAX_SYNC_BLOCKS):
            block, cert = codec.expect_list(pair, "block pair", 2)
            blocks.append((codec.expect_bytes(block, "block"), codec.expect_bytes(cert, "certificate")))
        return SyncBlocks(tuple(blocks))
    if tag == HEAD_ANNOUNCE:
        height, block_hash = codec.expect_record(value, HEAD_ANNOUNCE, VERSION, 2, "head announce")
        return HeadAnnounce(codec.expect_int(height, "height"), codec.expect_bytes(block_hash, "block_hash", 32))
    raise codec.UnknownTag(f"unknown peer message tag {tag}")
