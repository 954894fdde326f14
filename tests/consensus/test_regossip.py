"""What a stalled validator re-sends (``Engine.regossip_messages``): every vote, and a block only where it
can still matter to that peer.

Re-sending every proposal of every round to every peer each tick stalled a loaded network of ~16 MB
blocks for minutes (tests/integration/test_large_blocks.py's flake): these pin the selection.
"""

from __future__ import annotations

from consensus.crypto import hash_bytes
from consensus.engine import Engine
from consensus.events import MessageReceived, ValueBuilt, ValueValidated
from consensus.messages import Precommit, Prevote, Proposal, SignedMessage, sign_precommit, sign_prevote, sign_proposal
from tests.consensus.helpers import CHAIN, KEYS, TIMEOUTS, feed, started

A = b"block a" * 100
B = b"block b" * 100
AID, BID = hash_bytes(A), hash_bytes(B)
PEER = [k.public_key for k in KEYS[:4]]


def proposal(round_: int, value: bytes, valid_round: int = -1) -> MessageReceived:
    return MessageReceived(sign_proposal(KEYS[(1 + round_) % 4], CHAIN, 1, round_, value, valid_round))


def prevote(i: int, value_id: bytes | None, round_: int = 0) -> MessageReceived:
    return MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, round_, value_id))


def precommit(i: int, value_id: bytes | None, round_: int = 0) -> MessageReceived:
    return MessageReceived(sign_precommit(KEYS[i], CHAIN, 1, round_, value_id))


def proposals(messages: list[SignedMessage]) -> list[tuple[int, bytes]]:
    return [(m.round, m.value_id) for m in messages if isinstance(m, Proposal)]


def votes(messages: list[SignedMessage]) -> set[tuple[str, int, int, bytes | None]]:
    return {(type(m).__name__, PEER.index(m.validator), m.round, m.value_id)
            for m in messages if isinstance(m, (Prevote, Precommit))}


def test_an_engine_that_has_not_started_a_height_has_nothing_to_send() -> None:
    assert Engine(CHAIN, KEYS[0], TIMEOUTS).regossip_messages(PEER[1]) == []


def validator_0() -> Engine:
    engine, _ = started(KEYS[0])  # height 1: KEYS[1] proposes round 0, KEYS[2] round 1, KEYS[0] round 3
    return engine


def test_another_validators_proposal_that_nobody_backed_is_left_to_its_proposer() -> None:
    engine = validator_0()
    feed(engine, proposal(0, A), ValueValidated(1, AID, True), prevote(1, None))
    assert engine.round == 0
    for peer in (PEER[2], PEER[3], None):
        sent = engine.regossip_messages(peer)
        assert proposals(sent) == []
        assert votes(sent) == {("Prevote", 0, 0, AID), ("Prevote", 1, 0, None)}  # every vote, own and others'


def test_a_value_with_a_prevote_quorum_goes_to_the_peers_that_did_not_vote_for_it() -> None:
    engine = validator_0()
    feed(engine, proposal(0, A), ValueValidated(1, AID, True), prevote(1, AID))
    assert proposals(engine.regossip_messages(PEER[3])) == []  # two prevotes (ours and 1's): not yet a quorum
    feed(engine, prevote(2, AID))  # three of four: a polka
    assert proposals(engine.regossip_messages(PEER[3])) == [(0, AID)]
    assert proposals(engine.regossip_messages(None)) == [(0, AID)]
    assert proposals(engine.regossip_messages(PEER[1])) == []  # it voted for A: it has the block
    assert proposals(engine.regossip_messages(PEER[2])) == []


def test_a_precommit_quorum_backs_a_value_too() -> None:
    engine = validator_0()
    feed(engine, proposal(0, A), ValueValidated(1, AID, True), prevote(1, None), prevote(2, None),
         precommit(1, AID), precommit(2, AID))
    assert proposals(engine.regossip_messages(PEER[3])) == []  # two precommits and no polka: not backed
    feed(engine, precommit(3, AID))
    sent = engine.regossip_messages(None)
    assert proposals(sent) == [(0, AID)]
    assert {("Precommit", i, 0, AID) for i in (1, 2, 3)} <= votes(sent)
    assert proposals(engine.regossip_messages(PEER[3])) == []  # 3 precommitted A


def test_a_backed_value_goes_once_in_its_newest_proposal() -> None:
    engine = validator_0()
    feed(engine, proposal(0, A), ValueValidated(1, AID, True), prevote(1, AID), prevote(2, AID),
         prevote(2, None, round_=1), prevote(3, None, round_=1))  # f+1 of round 1: skip to it
    assert engine.round == 1
    feed(engine, proposal(1, A, valid_round=0))  # KEYS[2] re-proposes the polka value
    sent = engine.regossip_messages(PEER[3])
    assert proposals(sent) == [(1, AID)]
    assert [m.valid_round for m in sent if isinstance(m, Proposal)] == [0]


def test_our_own_proposal_goes_while_its_round_lasts_to_peers_that_did_not_vote_for_it() -> None:
    engine, _ = started(KEYS[1])  # the proposer of round 0
    feed(engine, ValueBuilt(1, 0, A))
    assert proposals(engine.regossip_messages(PEER[2])) == [(0, AID)]
    feed(engine, prevote(2, AID))
    assert proposals(engine.regossip_messages(PEER[2])) == []
    assert proposals(engine.regossip_messages(PEER[3])) == [(0, AID)]
    feed(engine, prevote(2, None, round_=1), prevote(3, None, round_=1))
    assert engine.round == 1
    # Its round is over and nobody backed it: no rule can use it any more.
    assert proposals(engine.regossip_messages(PEER[3])) == []


def test_our_own_proposal_of_a_later_round_goes_as_it_is_even_when_an_older_one_carries_the_value() -> None:
    engine, _ = started(KEYS[2])  # proposes round 1
    feed(engine, proposal(0, A), ValueValidated(1, AID, True), prevote(0, AID), prevote(1, AID),
         prevote(3, None, round_=1), prevote(0, None, round_=1))
    assert engine.round == 1  # A has a polka of round 0: we re-propose it with valid_round 0
    sent = [m for m in engine.regossip_messages(PEER[3]) if isinstance(m, Proposal)]
    assert [(m.round, m.valid_round, m.proposer) for m in sent] == [(1, 0, PEER[2])]


def test_a_proposal_of_another_value_in_our_round_does_not_displace_a_backed_one() -> None:
    engine = validator_0()
    feed(engine, proposal(0, A), ValueValidated(1, AID, True), prevote(1, AID), prevote(2, AID),
         prevote(2, None, round_=1), prevote(3, None, round_=1), proposal(1, B))
    assert engine.round == 1
    assert sorted(proposals(engine.regossip_messages(PEER[3]))) == [(0, AID)]  # B: no quorum, not ours
