"""A world for block-sync tests: a certified chain, a node syncing it, honest and hostile peers, a clock.

Everything real except the wire: both chains are ``Ledger``s on LevelDB in a temporary directory, blocks
are built by the ledger and certified by precommits of the genesis validators' keys; the syncing node's
``BlockSync`` talks to peers through a ``send`` that queues requests, which the test (or ``Network``)
answers. The validator set is four nodes (quorum 3) plus one observer, all with deterministic keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from consensus.certificate import CommitCertificate
from consensus.crypto import KeyPair, hash_bytes
from consensus.messages import sign_precommit
from node.ledger import commands as c
from node.ledger.blocks import Block, make_block
from node.ledger.chain import Ledger
from node.ledger.genesis import parse_genesis
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.metrics import NodeMetrics
from node.p2p import block_sync
from node.p2p.block_sync import BlockSync
from node.p2p.messages import HeadAnnounce, SyncBlocks, SyncRequest, decode_peer_message
from storage.db import LedgerStore
from tests.ledger_world import CHAIN, GENESIS_MS, genesis_document, key

VALIDATORS = tuple(key(f"peer:v{i}") for i in range(4))
OBSERVER = key("peer:wing")
OUTSIDER = key("peer:outsider")
"""A well-formed node key that is in no peer set."""

LIAR = key("peer:liar").public_key  # a connected peer that says what it likes (a peer-set member)
HONEST = VALIDATORS[1].public_key   # a validator that answers from the certified chain
OTHER_HONEST = VALIDATORS[2].public_key


def sync_genesis_document(chain_id: str = CHAIN) -> dict[str, Any]:
    peers = [{"name": f"v{i}", "public_key": k.public_key.hex(), "address": f"127.0.0.1:{7200 + i}"}
             for i, k in enumerate(VALIDATORS)]
    peers.append({"name": "wing", "public_key": OBSERVER.public_key.hex(), "address": "127.0.0.1:7210",
                  "syncing": True})
    peers.append({"name": "liar", "public_key": LIAR.hex(), "address": "127.0.0.1:7211", "syncing": True})
    return genesis_document(chain_id, peers=peers)


def open_ledger(path: Path, chain_id: str = CHAIN) -> Ledger:
    ledger = Ledger(LedgerStore(path), chain_id)
    ledger.ensure_genesis(parse_genesis(sync_genesis_document(chain_id)))
    return ledger


def certificate(block_bytes: bytes, height: int, signers: Iterable[KeyPair] = VALIDATORS[:3], *,
                chain_id: str = CHAIN, round_: int = 0) -> bytes:
    """The encoded commit certificate of ``signers`` precommitting these bytes at ``height``."""
    value_id = hash_bytes(block_bytes)
    return CommitCertificate.from_precommits(
        sign_precommit(k, chain_id, height, round_, value_id) for k in signers).encode()


class CertifiedChain:
    """The network's chain: each ``extend`` builds a block of payments, certifies it and commits it."""

    def __init__(self, path: Path, chain_id: str = CHAIN) -> None:
        self.chain_id = chain_id
        self.ledger = open_ledger(path, chain_id)
        self.now = GENESIS_MS + 60_000

    @property
    def height(self) -> int:
        return self.ledger.head.height

    def tx(self, creator: str, *commands: c.Command) -> Transaction:
        self.now += 1
        payload = TxPayload(self.chain_id, creator, self.now, 1, tuple(commands))
        return build_transaction(payload, key(creator))

    def build(self, *txs: Transaction) -> tuple[Block, Any]:
        """The next block (not committed): one payment of alice's unless ``txs`` are given."""
        self.now += 1000
        if not txs:
            txs = (self.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", "khr#nbc", "", "1.00")),)
        return self.ledger.build_block(list(txs), self.now, VALIDATORS[0].public_key)

    def extend(self, blocks: int = 1, *txs: Transaction, signers: Iterable[KeyPair] = VALIDATORS[:3]) -> None:
        for _ in range(blocks):
            block, execution = self.build(*txs)
            self.ledger.commit(block, execution, certificate(block.encode(), block.height, signers,
                                                             chain_id=self.chain_id))

    def pair(self, height: int) -> tuple[bytes, bytes]:
        block, cert = self.ledger.block_bytes(height), self.ledger.certificate(height)
        assert block is not None and cert is not None
        return block, cert

    def forged(self, **header_changes: Any) -> bytes:
        """Bytes of a next block whose header differs from the honest one as given (not committed)."""
        block, _execution = self.build()
        return make_block(dataclasses.replace(block.header, **header_changes), block.transactions).encode()

    def close(self) -> None:
        self.ledger.store.close()


def ledger_node(ledger: Ledger, worker: ThreadPoolExecutor) -> SimpleNamespace:
    """What BlockSync uses of a node."""
    return SimpleNamespace(ledger=ledger, store=ledger.store, chain_id=ledger.chain_id, worker=worker,
                           metrics=NodeMetrics(), mempool=SimpleNamespace(by_bytes=lambda raw: None))


def make_block_sync(node: Any, send: Any, clock: Any, monkeypatch: Any = None) -> BlockSync:
    if "clock" in inspect.signature(BlockSync).parameters:
        return BlockSync(node, send, lambda block, execution: None, clock=clock)
    # Before the clock parameter (commit 02865ef) the module read time.monotonic(): the regression test
    # of the hijack runs unchanged against that code this way.
    monkeypatch.setattr(block_sync, "time", SimpleNamespace(monotonic=clock))
    return BlockSync(node, send, lambda block, execution: None)


class Network:
    """The syncing node and its peers. Honest peers answer from ``source`` with a real ``BlockSync``;
    other peers never answer unless the test makes them (``answer``)."""

    def __init__(self, path: Path, source: CertifiedChain, monkeypatch: Any = None) -> None:
        self.now = 1000.0
        self.source = source
        self.worker = ThreadPoolExecutor(1)
        self.node = ledger_node(open_ledger(path, source.chain_id), self.worker)
        self.requests: list[tuple[bytes, SyncRequest]] = []
        self.unanswered: list[tuple[bytes, SyncRequest]] = []
        self.honest: set[bytes] = set()
        self.connected: set[bytes] = set()
        self.sync = make_block_sync(self.node, self._send, lambda: self.now, monkeypatch)
        self._server_out: list[tuple[bytes, bytes]] = []
        self.server = BlockSync(ledger_node(source.ledger, self.worker), self._server_send,
                                lambda block, execution: None)

    # ---- wiring ----

    def _send(self, peer: bytes, payload: bytes) -> bool:
        if peer not in self.connected:
            return False
        msg = decode_peer_message(payload, 1 << 24)
        assert isinstance(msg, SyncRequest)
        self.requests.append((peer, msg))
        self.unanswered.append((peer, msg))
        return True

    def _server_send(self, peer: bytes, payload: bytes) -> bool:
        self._server_out.append((peer, payload))
        return True

    def connect(self, *peers: bytes, honest: bool = False) -> None:
        self.connected.update(peers)
        if honest:
            self.honest.update(peers)

    # ---- what peers do ----

    def announce(self, peer: bytes, height: int) -> None:
        self.sync.on_head(peer, HeadAnnounce(height, b"\x00" * 32))

    async def announce_together(self, *claims: tuple[bytes, int]) -> None:
        """Several heads announced while an answer is being applied, so none is asked before all spoke."""
        async with self.sync._applying:
            for peer, height in claims:
                self.announce(peer, height)

    def announce_honest_heads(self) -> None:
        for peer in sorted(self.honest & self.connected):
            self.announce(peer, self.source.height)

    async def answer(self, peer: bytes, *pairs: tuple[bytes, bytes]) -> None:
        """``peer`` sends these (block, certificate) pairs, asked or not."""
        await self.sync.on_blocks(peer, SyncBlocks(tuple(pairs)))

    async def serve_honest(self) -> None:
        """Honest peers answer every request addressed to them, until none is left."""
        while True:
            pending = [(p, r) for p, r in self.unanswered if p in self.honest]
            if not pending:
                return
            self.unanswered = [(p, r) for p, r in self.unanswered if p not in self.honest]
            for peer, request in pending:
                self._server_out.clear()
                self.server.on_request(b"node", request)
                for _to, payload in self._server_out:
                    msg = decode_peer_message(payload, 1 << 25)
                    assert isinstance(msg, SyncBlocks)
                    await self.sync.on_blocks(peer, msg)

    async def tick(self, seconds: float = 1.0) -> None:
        """One second of the node's life: peers re-announce, the node's tick asks, honest peers answer."""
        self.now += seconds
        self.announce_honest_heads()
        self.sync.maybe_request()
        await self.serve_honest()

    # ---- what the test looks at ----

    @property
    def head(self) -> int:
        return self.node.ledger.head.height

    def asked(self, peer: bytes) -> int:
        return sum(1 for p, _r in self.requests if p == peer)

    def last_request_to(self, peer: bytes) -> SyncRequest | None:
        return next((r for p, r in reversed(self.requests) if p == peer), None)

    def invalid_blocks(self, code: str) -> float:
        return self.node.metrics.invalid_blocks.labels(code)._value.get()

    def close(self) -> None:
        self.worker.shutdown()
        self.node.ledger.store.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
