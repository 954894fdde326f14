"""Any sequence of events, well-formed or hostile, leaves the engine standing and self-consistent.

Hypothesis drives one engine with arbitrary interleavings of proposals, votes (valid signatures from
members, from outsiders, forged ones), timeouts of any height/round/step, validity answers, built
values and restarts from the persisted record. Whatever happens the engine never raises, never signs
two conflicting messages, and always persists before it sends.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.actions import Action, Broadcast, PersistSafety
from consensus.crypto import hash_bytes
from consensus.engine import Engine
from consensus.events import (
    Event,
    MessageReceived,
    StartHeight,
    TimeoutFired,
    ValueBuilt,
    ValueValidated,
)
from consensus.evidence import conflicting
from consensus.messages import Prevote, SignedMessage, Step, sign_precommit, sign_prevote, sign_proposal
from consensus.safety import SafetyRecord
from tests.consensus.helpers import CHAIN, KEYS, TIMEOUTS, validator_set

VALUES = [b"a", b"b", b"c"]
ME = KEYS[0]
heights = st.integers(1, 2)
rounds = st.integers(0, 2)
value_ids = st.sampled_from([None, *map(hash_bytes, VALUES), b"\x00" * 32])
signers = st.sampled_from(KEYS[:5])  # KEYS[4] is not a validator of the 4-validator set


def messages() -> st.SearchStrategy[SignedMessage]:
    proposal = st.builds(lambda k, h, r, v, vr: sign_proposal(k, CHAIN, h, r, v, vr),
                         signers, heights, rounds, st.sampled_from(VALUES), st.integers(-1, 2))
    prevote = st.builds(lambda k, h, r, v: sign_prevote(k, CHAIN, h, r, v), signers, heights, rounds, value_ids)
    precommit = st.builds(lambda k, h, r, v: sign_precommit(k, CHAIN, h, r, v),
                          signers, heights, rounds, value_ids)
    forged = st.builds(lambda h, r, v: Prevote(h, r, v, KEYS[1].public_key, b"\x01" * 64), heights, rounds, value_ids)
    return st.one_of(proposal, prevote, precommit, forged)


events = st.one_of(
    messages().map(MessageReceived),
    st.builds(TimeoutFired, heights, rounds, st.sampled_from(list(Step))),
    st.builds(ValueValidated, heights, st.sampled_from([hash_bytes(v) for v in VALUES]), st.booleans()),
    st.builds(ValueBuilt, heights, rounds, st.sampled_from(VALUES)),
    st.builds(StartHeight, st.integers(1, 3), st.just(validator_set(4))),
    st.just("restart"),
    # Symbolic events resolved against the engine's current height and round, so runs get far.
    st.just("timeout"),
    st.tuples(st.sampled_from(["prevote", "precommit", "proposal"]), signers, value_ids),
)


def resolve(engine: Engine, item: tuple[str, object, object] | str) -> Event:
    h, r = engine.height, engine.round
    if isinstance(item, str):  # "timeout"
        return TimeoutFired(h, r, engine.step)
    kind, key, value_id = item
    assert isinstance(key, type(ME)) and (value_id is None or isinstance(value_id, bytes))
    if kind == "prevote":
        return MessageReceived(sign_prevote(key, CHAIN, h, r, value_id))
    if kind == "precommit":
        return MessageReceived(sign_precommit(key, CHAIN, h, r, value_id))
    proposer = KEYS[(h + r) % 4]
    return MessageReceived(sign_proposal(proposer, CHAIN, h, r, VALUES[(value_id or b"\x00")[0] % 3], -1))


@settings(max_examples=settings().max_examples * 10)
@given(st.lists(events, max_size=80))
def test_no_event_sequence_makes_the_engine_raise_contradict_itself_or_send_unpersisted(
        script: list[Event | str | tuple[str, object, object]]) -> None:
    engine = Engine(CHAIN, ME, TIMEOUTS)
    engine.handle(StartHeight(1, validator_set(4)), 0.0)
    record = SafetyRecord.initial()
    sent: list[SignedMessage] = []
    for step, event in enumerate(script):
        if event == "restart":
            engine = Engine(CHAIN, ME, TIMEOUTS, safety=SafetyRecord.decode(record.encode()))
            next_height = max([m.height for m in sent], default=1)
            actions: list[Action] = engine.handle(StartHeight(next_height, validator_set(4)), float(step))
        else:
            concrete = resolve(engine, event) if isinstance(event, (str, tuple)) else event
            actions = engine.handle(concrete, float(step))
        for action in actions:
            if isinstance(action, PersistSafety):
                record = action.record
            elif isinstance(action, Broadcast):
                assert record.covers(action.message)
                assert not any(conflicting(old, action.message) for old in sent)
                sent.append(action.message)
