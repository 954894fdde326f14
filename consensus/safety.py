"""The signing record that keeps a validator from ever contradicting itself, even across restarts.

Before the engine hands out a signed message it emits ``PersistSafety(record)``; the driver must store
the record durably (fsync) before it sends anything that follows in the action list. The record holds:

- the highest position signed so far, ``(height, round, step)`` ordered lexicographically with
  ``propose < prevote < precommit``: the engine never signs at a lower position, and at an equal or
  lower one only a byte-identical copy of a message it already signed (Ed25519 is deterministic);
- the lock and the valid value/round of that height (paper lines 36-43), so a restarted validator
  keeps honouring its lock and can re-propose its valid value;
- its own signed messages of that height (at most the last 32 rounds signed in), so after a restart
  it can send them again: peers that missed them may need them to reach a quorum, for instance the
  2f+1 prevotes behind a re-proposed value (liveness, not safety).

Encoding (tag 44): ``[44, 1, height, round, step, locked_round, locked_value_id, valid_round,
valid_value, [message_record, ...]]``. A height of -1 means nothing was ever signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from consensus import codec
from consensus.messages import (
    MAX_HEIGHT, MAX_ROUND, VALUE_ID_BYTES, SignedMessage, Step, message_from_record,
)

SAFETY_TAG: Final = 44
VERSION: Final = 1
# Rounds of own messages kept for re-sending; past this the record (written on every signature) would
# grow with every round of a long outage, and peers will have moved on from such old rounds anyway.
KEEP_ROUNDS: Final = 32

Position = tuple[int, int, int]


def position_of(message: SignedMessage) -> Position:
    return (message.height, message.round, int(message.kind))


@dataclass(frozen=True)
class SafetyRecord:
    """What a validator must remember durably about what it signed (see module docstring)."""

    height: int
    """Height of the last signed message, -1 when nothing was signed yet."""
    round: int
    """Round of the last signed message."""
    step: Step
    """Kind of the last signed message (PROPOSE for a proposal)."""
    locked_round: int
    """The paper's lockedRound at ``height`` (-1: not locked)."""
    locked_value_id: bytes | None
    """Id of the paper's lockedValue at ``height``."""
    valid_round: int
    """The paper's validRound at ``height`` (-1: none)."""
    valid_value: bytes | None
    """The paper's validValue at ``height`` (the whole value: a proposer may have to re-propose it)."""
    signed: tuple[SignedMessage, ...]
    """Own signed messages at ``height`` (last ``KEEP_ROUNDS`` rounds signed in), oldest first."""

    @classmethod
    def initial(cls) -> SafetyRecord:
        return cls(-1, -1, Step.PRECOMMIT, -1, None, -1, None, ())

    @property
    def position(self) -> Position:
        return (self.height, self.round, int(self.step))

    def permits(self, message: SignedMessage) -> bool:
        """True when signing ``message`` cannot contradict anything signed before."""
        if position_of(message) > self.position:
            return True
        # Re-signing an identical message yields identical bytes, so it can never be evidence.
        return message in self.signed

    def after_signing(self, message: SignedMessage, locked_round: int, locked_value_id: bytes | None,
                      valid_round: int, valid_value: bytes | None) -> SafetyRecord:
        """The record to persist before ``message`` (which ``permits`` allowed) leaves the engine."""
        position = max(self.position, position_of(message))
        kept = [m for m in self.signed if m.height == message.height and m != message]
        kept.append(message)
        rounds = sorted({m.round for m in kept})[-KEEP_ROUNDS:]
        kept = [m for m in kept if m.round in rounds]
        kept.sort(key=position_of)
        return SafetyRecord(position[0], position[1], Step(position[2]), locked_round, locked_value_id,
                            valid_round, valid_value, tuple(kept))

    def to_record(self) -> list[Any]:
        return [SAFETY_TAG, VERSION, self.height, self.round, int(self.step), self.locked_round,
                self.locked_value_id, self.valid_round, self.valid_value, [m.to_record() for m in self.signed]]

    def encode(self) -> bytes:
        return codec.encode(self.to_record())

    @classmethod
    def from_record(cls, value: Any) -> SafetyRecord:
        f = codec.expect_record(value, SAFETY_TAG, VERSION, 8, "safety record")
        locked_id = f[4]
        if locked_id is not None:
            locked_id = codec.expect_bytes(locked_id, "safety.locked_value_id", VALUE_ID_BYTES)
        valid_value = f[6]
        if valid_value is not None:
            valid_value = codec.expect_bytes(valid_value, "safety.valid_value")
        signed = tuple(message_from_record(m) for m in codec.expect_list(f[7], "safety.signed", max_length=3 * KEEP_ROUNDS))
        return cls(
            height=codec.expect_int(f[0], "safety.height", -1, MAX_HEIGHT),
            round=codec.expect_int(f[1], "safety.round", -1, MAX_ROUND),
            step=Step(codec.expect_int(f[2], "safety.step", 0, 2)),
            locked_round=codec.expect_int(f[3], "safety.locked_round", -1, MAX_ROUND),
            locked_value_id=locked_id,
            valid_round=codec.expect_int(f[5], "safety.valid_round", -1, MAX_ROUND),
            valid_value=valid_value,
            signed=signed,
        )

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = codec.DEFAULT_MAX_BYTES) -> SafetyRecord:
        return cls.from_record(codec.decode(data, max_bytes))
