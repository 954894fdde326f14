"""Blocks: a header committing to the transactions, the resulting state and the rejected hashes.

Encoding: ``[BLOCK_TAG, 1, header_bytes, [tx_bytes, ...]]``; the header is
``[HEADER_TAG, 1, height, prev_hash, created_ms, proposer, tx_root, state_root, [rejected hash, ...]]``.
The block hash is ``sha256(header_bytes)``. A block carries every ordered transaction, the rejected
ones too, so any node that re-executes it derives the same statuses and error codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consensus import codec
from consensus.crypto import hash_bytes
from node.ledger.errors import InvalidBlock, StatelessError
from node.ledger.limits import MAX_BLOCK_BYTES
from node.ledger.transactions import Transaction, decode_transaction

BLOCK_TAG = 5
HEADER_TAG = 4
VERSION = 1
ZERO_HASH = bytes(32)


@dataclass(frozen=True)
class BlockHeader:
    height: int
    """0 for genesis, then +1 per block."""
    prev_hash: bytes
    """Hash of the block at height - 1 (zeros for genesis)."""
    created_ms: int
    """The proposer's timestamp; the time every time-dependent rule of this block uses."""
    proposer: bytes
    """Public key of the validator that built the block (empty for genesis)."""
    tx_root: bytes
    """sha256 over the concatenated transaction hashes, in block order."""
    state_root: bytes
    """World-state commitment after applying this block."""
    rejected: tuple[bytes, ...]
    """Hashes of the transactions in this block that were REJECTED."""

    def encode(self) -> bytes:
        return codec.encode(
            [HEADER_TAG, VERSION, self.height, self.prev_hash, self.created_ms, self.proposer, self.tx_root,
             self.state_root, list(self.rejected)]
        )


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    header_bytes: bytes
    transactions: tuple[Transaction, ...]
    hash: bytes

    @property
    def height(self) -> int:
        return self.header.height

    def encode(self) -> bytes:
        """The canonical bytes (the consensus value); computed once."""
        raw: bytes | None = self.__dict__.get("_raw")
        if raw is None:
            txs = [tx.encode() for tx in self.transactions]
            raw = codec.encode_trusted([BLOCK_TAG, VERSION, self.header_bytes, txs])
            object.__setattr__(self, "_raw", raw)
        return raw


def tx_root(transactions: tuple[Transaction, ...] | list[Transaction]) -> bytes:
    return hash_bytes(b"".join(tx.hash for tx in transactions))


def make_block(header: BlockHeader, transactions: tuple[Transaction, ...]) -> Block:
    header_bytes = header.encode()
    return Block(header, header_bytes, transactions, hash_bytes(header_bytes))


def decode_header(header_bytes: bytes) -> BlockHeader:
    f = codec.expect_record(codec.decode(header_bytes, 1024 * 1024), HEADER_TAG, VERSION, 7, "block header")
    rejected = tuple(codec.expect_bytes(h, "rejected hash", 32) for h in codec.expect_list(f[6], "rejected"))
    return BlockHeader(
        height=codec.expect_int(f[0], "height"),
        prev_hash=codec.expect_bytes(f[1], "prev_hash", 32),
        created_ms=codec.expect_int(f[2], "created_ms"),
        proposer=codec.expect_bytes(f[3], "proposer", max_length=32),
        tx_root=codec.expect_bytes(f[4], "tx_root", 32),
        state_root=codec.expect_bytes(f[5], "state_root", 32),
        rejected=rejected,
    )


def decode_block(data: bytes, known: Callable[[bytes], Transaction | None] | None = None) -> Block:
    """Decode an untrusted block; structure only (``node.ledger`` checks it against the chain).

    ``known`` maps a transaction's exact bytes to an already decoded copy (the mempool's), so a
    validator does not decode again what it decoded when the transaction was gossiped."""
    try:
        f = codec.expect_record(codec.decode(data, MAX_BLOCK_BYTES), BLOCK_TAG, VERSION, 2, "block")
        header_bytes = codec.expect_bytes(f[0], "header")
        header = decode_header(header_bytes)
        raw_txs = codec.expect_list(f[1], "transactions")
        txs = tuple(_decode_tx(codec.expect_bytes(t, "transaction"), known) for t in raw_txs)
    except codec.CodecError as exc:
        raise InvalidBlock(f"bad_block_{exc.code}", exc.message) from exc
    except StatelessError as exc:
        raise InvalidBlock("bad_block_transaction", exc.message) from exc
    if tx_root(txs) != header.tx_root:
        raise InvalidBlock("bad_tx_root", "the transactions do not match the header's tx_root")
    block = Block(header, header_bytes, txs, hash_bytes(header_bytes))
    object.__setattr__(block, "_raw", bytes(data))  # canonical (decode checked)
    return block


def _decode_tx(raw: bytes, known: Callable[[bytes], Transaction | None] | None) -> Transaction:
    if known is not None:
        tx = known(raw)
        if tx is not None:
            return tx
    return decode_transaction(raw)


def decode_stored_block(data: bytes) -> Block:
    """Decode a block this node wrote itself (already validated when committed)."""
    return decode_block(data)


def stored_transaction_bytes(data: bytes) -> list[bytes]:
    """The encoded transactions of a block this node wrote itself, without decoding any of them.

    For reading one transaction of a stored block: decoding the whole block (5,000 transfers) took
    ~50 ms, this and decoding the one transaction 0.4-0.6 ms."""
    fields = codec.decode_trusted(data)
    return fields[3]  # type: ignore[no-any-return]
