"""The second lock rule (paper lines 28-33), both sides, driven by hand at the engine level.

upon <PROPOSAL, h, r, v, vr> and 2f+1 <PREVOTE, h, vr, id(v)> while step = propose and 0 <= vr < r:
    if valid(v) and (lockedRound <= vr or lockedValue = v): prevote id(v) else: prevote nil

n = 5 (quorum 4, f + 1 = 2) so that the engine under test, validator 0, proposes none of rounds 0-3
at height 1 (the proposer of round r is validator 1 + r).
"""

from consensus.crypto import hash_bytes
from consensus.engine import Engine
from consensus.events import MessageReceived, TimeoutFired, ValueValidated
from consensus.messages import Step, sign_precommit, sign_prevote, sign_proposal
from tests.consensus.helpers import CHAIN, KEYS, broadcasts, feed, started

N = 5
V = b"value v"
VID = hash_bytes(V)
W = b"value w"
WID = hash_bytes(W)


def proposal(round_: int, value: bytes, valid_round: int = -1) -> MessageReceived:
    return MessageReceived(sign_proposal(KEYS[1 + round_], CHAIN, 1, round_, value, valid_round))


def prevotes(round_: int, value_id: bytes | None, signers: list[int]) -> list[MessageReceived]:
    return [MessageReceived(sign_prevote(KEYS[i], CHAIN, 1, round_, value_id)) for i in signers]


def lock_on_v_in(engine: Engine, round_: int) -> None:
    """Round ``round_``: v is proposed, validators 1-3 and we prevote it: we lock v and precommit it."""
    feed(engine, proposal(round_, V), *prevotes(round_, VID, [1, 2]), ValueValidated(1, VID, True))
    assert engine.round == round_
    actions = feed(engine, *prevotes(round_, VID, [3]))
    assert sign_precommit(KEYS[0], CHAIN, 1, round_, VID) in broadcasts(actions)
    assert (engine.locked_round, engine.locked_value_id) == (round_, VID)


def prevote_in_round_3_on(engine: Engine, valid_round: int) -> list[object]:
    feed(engine, TimeoutFired(1, engine.round, Step.PRECOMMIT))
    assert engine.round == 3
    actions = feed(engine, proposal(3, W, valid_round), ValueValidated(1, WID, True))
    return [m for m in broadcasts(actions) if (m.round, m.kind) == (3, Step.PREVOTE)]


def test_locked_at_round_2_it_prevotes_nil_for_a_value_with_an_older_polka_of_round_1() -> None:
    engine, _ = started(KEYS[0], n=N)
    feed(engine, *prevotes(1, WID, [1, 2, 3, 4]))  # a polka for w in round 1 (w's proposal unseen)
    assert engine.round == 1 and engine.locked_round == -1
    lock_on_v_in(engine, 2)
    assert prevote_in_round_3_on(engine, valid_round=1) == [sign_prevote(KEYS[0], CHAIN, 1, 3, None)]


def test_locked_at_round_1_it_prevotes_a_value_with_a_newer_polka_of_round_2() -> None:
    engine, _ = started(KEYS[0], n=N)
    lock_on_v_in(engine, 1)
    feed(engine, *prevotes(2, WID, [1, 2, 3, 4]))  # a polka for w in round 2: lockedRound 1 <= vr 2
    assert engine.round == 2 and engine.locked_round == 1
    assert prevote_in_round_3_on(engine, valid_round=2) == [sign_prevote(KEYS[0], CHAIN, 1, 3, WID)]


def test_without_the_polka_of_its_valid_round_a_re_proposal_gets_no_prevote_before_the_timeout() -> None:
    engine, _ = started(KEYS[0], n=N)
    lock_on_v_in(engine, 1)
    feed(engine, *prevotes(2, WID, [1, 2, 3]))  # three prevotes: no polka
    assert prevote_in_round_3_on(engine, valid_round=2) == []
    actions = feed(engine, TimeoutFired(1, 3, Step.PROPOSE))
    assert [m for m in broadcasts(actions) if m.kind == Step.PREVOTE] == [sign_prevote(KEYS[0], CHAIN, 1, 3, None)]
