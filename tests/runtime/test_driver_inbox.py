"""A peer's consensus messages wait in the driver's queue within a byte budget per peer.

While the engine waits on the ledger worker (a validation or a commit), the network keeps reading: a
validator streaming maximal proposals would otherwise grow the queue by hundreds of MB a second. Past
the budget a peer's messages are dropped unread and counted; other peers keep their own budget; a
message the engine takes gives its bytes back.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from consensus.events import MessageReceived
from consensus.messages import encode_message, sign_prevote, sign_proposal
from node.ledger.limits import MAX_BLOCK_BYTES
from node.runtime import driver as driver_module
from node.runtime.driver import ConsensusDriver
from tests.consensus.helpers import CHAIN, KEYS

HONEST, FLOODER = KEYS[2].public_key, KEYS[1].public_key


class Count:
    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1


def bare_driver() -> Any:
    driver: Any = object.__new__(ConsensusDriver)  # only the inbox is exercised
    driver.events = asyncio.Queue()
    driver._inbox_bytes = {}
    driver.node = SimpleNamespace(metrics=SimpleNamespace(consensus_inbox_dropped=Count(), p2p_bad_messages=Count()))
    return driver


def proposal_bytes(round_: int, size: int = 10_000) -> bytes:
    return encode_message(sign_proposal(KEYS[1], CHAIN, 1, round_, bytes([round_ % 256]) * size, -1))


def flooded(monkeypatch: pytest.MonkeyPatch, budget_in_proposals: int, proposals: int) -> Any:
    """A driver whose inbox holds ``budget_in_proposals`` of our test proposals, sent ``proposals`` of them."""
    monkeypatch.setattr(driver_module, "INBOX_BYTES_PER_PEER", budget_in_proposals * len(proposal_bytes(0)))
    driver = bare_driver()
    for r in range(proposals):
        driver.message_from_peer(FLOODER, proposal_bytes(r))
    return driver


def test_a_flooding_peer_is_held_to_its_budget_and_the_others_keep_theirs(monkeypatch: pytest.MonkeyPatch) -> None:
    one = proposal_bytes(0)
    driver = flooded(monkeypatch, 3, 10)
    assert driver.events.qsize() == 3 and driver._inbox_bytes[FLOODER] == 3 * len(one)
    assert driver.node.metrics.consensus_inbox_dropped.value == 7
    vote = encode_message(sign_prevote(KEYS[2], CHAIN, 1, 0, None))
    driver.message_from_peer(HONEST, vote)
    assert driver.events.qsize() == 4 and driver._inbox_bytes[HONEST] == len(vote)
    assert driver.node.metrics.consensus_inbox_dropped.value == 7


def test_a_message_the_engine_takes_gives_its_bytes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    one = proposal_bytes(0)
    driver = flooded(monkeypatch, 2, 3)
    assert driver.events.qsize() == 2 and driver.node.metrics.consensus_inbox_dropped.value == 1
    first = driver._handled(driver.events.get_nowait())
    assert isinstance(first, MessageReceived) and first.message.round == 0
    assert driver._inbox_bytes[FLOODER] == len(one)
    driver.message_from_peer(FLOODER, proposal_bytes(3))  # room again for one
    assert driver.events.qsize() == 2 and driver.node.metrics.consensus_inbox_dropped.value == 1
    for _ in range(2):
        driver._handled(driver.events.get_nowait())
    assert driver._inbox_bytes == {}  # nothing kept for a peer with nothing queued


def test_a_message_exactly_filling_the_budget_is_taken_and_malformed_bytes_take_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    one = proposal_bytes(0)
    monkeypatch.setattr(driver_module, "INBOX_BYTES_PER_PEER", len(one))
    driver = bare_driver()
    driver.message_from_peer(FLOODER, b"\xc1 not msgpack")
    assert driver.node.metrics.p2p_bad_messages.value == 1 and driver._inbox_bytes == {}
    driver.message_from_peer(FLOODER, one)
    assert driver.events.qsize() == 1 and driver.node.metrics.consensus_inbox_dropped.value == 0


def test_by_default_a_peer_may_have_four_maximal_proposals_waiting_not_five() -> None:
    # An honest peer's burst on (re)connecting: its fresh proposal and the re-gossiped ones that matter.
    biggest = sign_proposal(KEYS[1], CHAIN, 1, 0, bytes(MAX_BLOCK_BYTES), -1)
    data = encode_message(biggest)
    assert len(data) <= driver_module.MAX_PROPOSAL_BYTES
    driver = bare_driver()
    for _ in range(5):
        driver.message_from_peer(FLOODER, data)
    assert driver.events.qsize() == 4 and driver.node.metrics.consensus_inbox_dropped.value == 1
