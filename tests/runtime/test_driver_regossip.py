"""The driver hands the network, per peer, the engine's re-gossip selection, each message encoded once."""

from __future__ import annotations

from typing import Any

from consensus.events import MessageReceived, ValueValidated
from consensus.messages import decode_message, encode_message, sign_prevote, sign_proposal
from node.runtime.driver import ConsensusDriver
from tests.consensus.helpers import CHAIN, KEYS, feed, started

BLOCK = b"a block" * 1000


def test_each_peer_gets_its_selection_and_a_block_is_encoded_once_for_all() -> None:
    engine, _ = started(KEYS[0])
    proposal = sign_proposal(KEYS[1], CHAIN, 1, 0, BLOCK, -1)
    feed(engine, MessageReceived(proposal), ValueValidated(1, proposal.value_id, True),
         *(MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, 0, proposal.value_id)) for i in (1, 2)))
    driver: Any = object.__new__(ConsensusDriver)  # only the engine is used
    driver.engine = engine
    peers = [KEYS[3].public_key, KEYS[1].public_key, None]
    out = driver.regossip(peers)
    assert list(out) == peers
    for peer in peers:
        assert out[peer] == [encode_message(m) for m in engine.regossip_messages(peer)]
    # 3 and a just-connected peer get the block (a polka backs it); 1 prevoted for it, so it has it.
    assert [decode_message(b, 1 << 20) == proposal for b in out[KEYS[3].public_key]].count(True) == 1
    assert all(decode_message(b, 1 << 20) != proposal for b in out[KEYS[1].public_key])
    first, last = out[KEYS[3].public_key][0], out[None][0]
    assert decode_message(first, 1 << 20) == proposal and first is last  # encoded once
