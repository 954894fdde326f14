"""Re-sending stale transactions: each at most once per interval, forgotten once it leaves the pool."""

from __future__ import annotations

import asyncio
from pathlib import Path

from node.intake.mempool import Mempool
from node.ledger import commands as c
from node.p2p.gossip import TxGossiper
from node.p2p.messages import TxGossip, decode_peer_message
from tests.ledger_world import KHR, Chain


def test_stale_transactions_are_sent_again_once_per_interval(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    txs = [chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, str(i), "1.00")) for i in range(3)]
    pool = Mempool(max_txs=100, max_bytes=1 << 20)
    for tx in txs:
        pool.add(tx, 100)
    sent: list[list[bytes]] = []

    def send(payload: bytes) -> None:
        msg = decode_peer_message(payload, 1 << 20)
        assert isinstance(msg, TxGossip)
        sent.append(list(msg.txs))

    async def run() -> None:
        gossiper = TxGossiper(pool, send)
        assert gossiper.regossip_stale(older_than_s=60) == 0  # nothing has waited that long
        assert gossiper.regossip_stale(older_than_s=0, every_s=60, limit=2) == 2  # the oldest two
        assert sent[-1] == [txs[0].encode(), txs[1].encode()]
        assert gossiper.regossip_stale(older_than_s=0, every_s=60) == 1  # only the one not sent yet
        assert sent[-1] == [txs[2].encode()]
        assert gossiper.regossip_stale(older_than_s=0, every_s=60) == 0  # all sent within the interval
        pool.committed(txs[:1])
        await asyncio.sleep(0.02)
        assert gossiper.regossip_stale(older_than_s=0, every_s=0.01) == 2  # interval over; txs[0] left the pool
        assert sent[-1] == [txs[1].encode(), txs[2].encode()]

    asyncio.run(run())
    chain.close()
