"""One StatusStream's state machine (node/api/torii/commands.py ``_follow``), driven directly: an unknown
hash answers NOT_RECEIVED once it has been unknown for the wait, and not before; a status is sent once
however often it is heard; a committed transaction comes as Iroha's two steps and ends the stream; a
transaction known and then dropped gets a fresh wait. Real admission and ledger (LevelDB in a temp dir)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node.api.torii.commands import _follow
from node.api.tx_status import status_of
from node.intake.admission import Admission, Source, Verdict
from node.intake.mempool import Mempool
from node.intake.statuses import StatusHub, status_json
from node.ledger import commands as c
from node.ledger.chain import Ledger
from node.ledger.iroha_proto import endpoint_pb2
from tests.ledger_world import CHAIN, KHR, Chain

S = endpoint_pb2.TxStatus
WAIT_S = 0.3


@dataclass
class Host:
    ledger: Ledger
    mempool: Mempool
    admission: Admission
    hub: StatusHub
    chain: Chain


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A node's intake over a real ledger: what a stream reads statuses from."""
    chain = Chain(tmp_path / "db")
    admission = Admission(chain.ledger, Mempool(10, 1 << 20), CHAIN)
    yield Host(chain.ledger, admission.mempool, admission, StatusHub(), chain)
    chain.close()


def names(responses: list[endpoint_pb2.ToriiResponse]) -> list[str]:
    return [S.Name(r.tx_status) for r in responses]


async def collect(host: Host, tx_hash: bytes, queue: asyncio.Queue[dict[str, Any]],
                  out: list[tuple[float, endpoint_pb2.ToriiResponse]], wait_s: float = WAIT_S) -> None:
    async for response in _follow(host, tx_hash, queue, wait_s):  # type: ignore[arg-type]
        out.append((time.monotonic(), response))


def test_the_stream_of_a_transaction_seen_late_sent_once_committed_in_two_steps(host: Host) -> None:
    chain, admission = host.chain, host.admission
    tx = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00"))

    async def scenario() -> list[tuple[float, endpoint_pb2.ToriiResponse]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        out: list[tuple[float, endpoint_pb2.ToriiResponse]] = []
        follower = asyncio.ensure_future(collect(host, tx.hash, queue, out))
        await asyncio.sleep(WAIT_S / 3)  # unknown for a while, but less than the wait: nothing yet
        assert out == []
        [outcome] = admission.admit([tx.encode()], chain.now, Source.CLIENT)
        assert outcome.verdict is Verdict.QUEUED
        for _ in range(3):  # heard three times, sent once
            queue.put_nowait(status_of(host, tx.hash))
        await asyncio.sleep(WAIT_S)  # past the wait: known now, so no NOT_RECEIVED
        chain.run(tx)
        queue.put_nowait(status_of(host, tx.hash))
        await asyncio.wait_for(follower, 5)
        return out

    out = asyncio.run(scenario())
    assert names([r for _t, r in out]) == ["STATELESS_VALIDATION_SUCCESS", "STATEFUL_VALIDATION_SUCCESS",
                                           "COMMITTED"]


def test_unknown_is_answered_after_the_wait_and_a_dropped_one_gets_a_fresh_wait(host: Host) -> None:
    unknown, dropped = b"\x01" * 32, b"\x02" * 32

    async def follow(tx_hash: bytes, pushes: list[tuple[float, dict[str, Any]]]) -> list[Any]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        out: list[tuple[float, endpoint_pb2.ToriiResponse]] = []
        started = time.monotonic()
        follower = asyncio.ensure_future(collect(host, tx_hash, queue, out))
        for delay, status in pushes:
            await asyncio.sleep(delay)
            queue.put_nowait(status)
        await asyncio.wait_for(follower, 5)
        return [(t - started, r) for t, r in out]

    out = asyncio.run(follow(unknown, []))
    assert names([r for _t, r in out]) == ["NOT_RECEIVED"]
    assert WAIT_S <= out[0][0] < WAIT_S + 0.5
    # queued at 0.2 s (sent), then dropped at 0.4 s: NOT_RECEIVED a full wait after the drop
    out = asyncio.run(follow(dropped, [
        (0.2, status_json(dropped, "STATELESS_VALIDATION_SUCCESS")),
        (0.2, status_json(dropped, "NOT_RECEIVED"))]))
    assert names([r for _t, r in out]) == ["STATELESS_VALIDATION_SUCCESS", "NOT_RECEIVED"]
    assert 0.4 + WAIT_S <= out[1][0] < 0.4 + WAIT_S + 0.5


def test_a_status_nobody_published_is_found_by_the_periodic_re_read(host: Host) -> None:
    """A publish can be missed (the hub is best effort): the stream reads the status again every
    RECHECK_S (2 s) when it hears nothing, so it still reports the transaction long before the wait."""
    chain, admission = host.chain, host.admission
    tx = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00"))

    async def scenario() -> list[tuple[float, endpoint_pb2.ToriiResponse]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        out: list[tuple[float, endpoint_pb2.ToriiResponse]] = []
        follower = asyncio.ensure_future(collect(host, tx.hash, queue, out, wait_s=30))
        await asyncio.sleep(0.1)
        admission.admit([tx.encode()], chain.now, Source.CLIENT)  # and no status pushed
        deadline = time.monotonic() + 5
        while not out and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        follower.cancel()
        return out

    out = asyncio.run(scenario())
    assert names([r for _t, r in out]) == ["STATELESS_VALIDATION_SUCCESS"]
