"""Builders shared by the consensus tests: fixed keys, a validator set, and an engine driver."""

from __future__ import annotations

from consensus.actions import Action, Broadcast, PersistSafety, ScheduleTimeout
from consensus.crypto import KeyPair
from consensus.engine import Engine
from consensus.events import Event, StartHeight
from consensus.messages import SignedMessage
from consensus.timeouts import TimeoutConfig
from consensus.validators import ValidatorSet

CHAIN = "test-chain"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(10)]
TIMEOUTS = TimeoutConfig(propose_base=3.0, propose_delta=1.0, prevote_base=1.0, prevote_delta=0.5,
                         precommit_base=1.0, precommit_delta=0.5)


def validator_set(n: int = 4) -> ValidatorSet:
    return ValidatorSet(k.public_key for k in KEYS[:n])


def key_of_proposer(height: int, round_: int, n: int = 4) -> KeyPair:
    return KEYS[(height + round_) % n]


def started(key: KeyPair | None, height: int = 1, n: int = 4, **kwargs: object) -> tuple[Engine, list[Action]]:
    engine = Engine(CHAIN, key, TIMEOUTS, **kwargs)  # type: ignore[arg-type]
    return engine, engine.handle(StartHeight(height, validator_set(n)), 0.0)


def feed(engine: Engine, *events: Event, now: float = 0.0) -> list[Action]:
    actions: list[Action] = []
    for event in events:
        actions.extend(engine.handle(event, now))
    return actions


def broadcasts(actions: list[Action]) -> list[SignedMessage]:
    return [a.message for a in actions if isinstance(a, Broadcast)]


def timeouts(actions: list[Action]) -> list[ScheduleTimeout]:
    return [a for a in actions if isinstance(a, ScheduleTimeout)]


def persisted(actions: list[Action]) -> list[PersistSafety]:
    return [a for a in actions if isinstance(a, PersistSafety)]
