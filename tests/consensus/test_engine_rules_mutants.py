"""The engine's upon-rules (lines 22-67 of the Tendermint algorithm) at the edges mutation testing found
unpinned (./scripts/mutation consensus/engine.py::Engine._try_decide and the other rule functions).

Driven by hand like tests/consensus/test_engine.py: n = 4, height 1, KEYS[1] proposes round 0, the
engine under test is validator 0 unless a test says otherwise.
"""

from __future__ import annotations

from consensus.actions import Commit, ValidateValue
from consensus.crypto import hash_bytes
from consensus.events import MessageReceived, ValueValidated
from consensus.messages import sign_precommit, sign_prevote, sign_proposal
from tests.consensus.helpers import CHAIN, KEYS, broadcasts, feed, started

VALUE = b"block one"
VID = hash_bytes(VALUE)


def prevote(i: int, value_id: bytes | None = VID, round_: int = 0, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_prevote(KEYS[i], CHAIN, height, round_, value_id))


def precommit(i: int, value_id: bytes | None = VID, round_: int = 0, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_precommit(KEYS[i], CHAIN, height, round_, value_id))


def proposal(round_: int = 0, value: bytes = VALUE, valid_round: int = -1, height: int = 1) -> MessageReceived:
    return MessageReceived(sign_proposal(KEYS[(height + round_) % 4], CHAIN, height, round_, value, valid_round))


def commits(actions: list) -> list[Commit]:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, Commit)]


# ---- deciding (lines 49-54) ----

def test_a_quorum_of_precommits_does_not_decide_a_value_not_yet_validated() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), precommit(1), precommit(2), precommit(3))
    assert any(isinstance(a, ValidateValue) for a in actions)
    assert commits(actions) == []
    decided = feed(engine, ValueValidated(1, VID, True))
    assert [(c.height, c.round, c.value) for c in commits(decided)] == [(1, 0, VALUE)]


def test_a_quorum_of_precommits_never_decides_a_value_found_invalid() -> None:
    engine, _ = started(KEYS[0])
    actions = feed(engine, proposal(), precommit(1), precommit(2), precommit(3), ValueValidated(1, VID, False))
    assert commits(actions) == []


# ---- one event fires every rule it enables ----

def test_a_prevote_that_completes_a_polka_already_seen_is_followed_by_the_precommit_in_the_same_step() -> None:
    engine, _ = started(KEYS[0])
    feed(engine, prevote(1), prevote(2), prevote(3), proposal())
    actions = feed(engine, ValueValidated(1, VID, True))
    assert [(type(m).__name__, m.value_id) for m in broadcasts(actions)] == [("Prevote", VID), ("Precommit", VID)]
    assert engine.locked_value_id == VID and engine.locked_round == 0
