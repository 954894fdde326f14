"""The signing record that keeps a validator from ever contradicting itself, even across restarts.

Before the engine hands out a signed message it emits ``PersistSafety(record)``; the driver must store
the record durably (fsync) before it sends anything that follows in the action list. The record holds:

- the highest position signed so far, ``(height, round, step)`` ordered lexicographically with
  ``propose < prevote < precommit``: the engine never signs at a lower position, and at an equal or
  lower one only a byte-identical copy of a message it already signed (Ed25519 is deterministic);
- the lock and the valid value/round of that height (paper lines 36-43), so a restarted validator
  keeps honouring its lock and can re-propose its valid value;
- the prevotes that justify the lock and the valid round (the polkas). A restarted validator has
  forgotten what it received; without these, a lock whose polka included a Byzantine vote only it
  had seen could never be justified to the others again, and the height could stall;
- its own signed messages of that height (at most the last 32 rounds signed in), so after a restart
  it can send them again: peers that missed them may need them to reach a quorum, for instance the
  2f+1 prevotes behind a re-proposed value (liveness, not safety).

Encoding (tag 44): ``[44, 1, height, round, step, locked_round, locked_value_id, valid_round,
valid_value, [message_record, ...], [prevote_record, ...]]``. A height of -1 means nothing was signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from consensus import codec
from consensus.messages import (
    MAX_HEIGHT,
    MAX_ROUND,
    VALUE_ID_BYTES,
    Prevote,
    SignedMessage,
    Step,
    message_from_record,
)

SAFETY_TAG: Final = 44
VERSION: Final = 1
# Rounds of own messages kept for re-sending; past this the record (written on every signature) would
# grow with every round of a long outage, and peers will have moved on from such old rounds anyway.
KEEP_ROUNDS: Final = 32
# Two polkas of at most one prevote per validator (two per equivocating validator).
MAX_JUSTIFICATION: Final = 4 * 1024

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
    justification: tuple[Prevote, ...] = ()
    """Prevotes at ``height`` for the locked value at locked_round and the valid value at valid_round."""

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

    def after_signing(self, message: SignedMessage, locked_round: int = -1, locked_value_id: bytes | None = None,
                      valid_round: int = -1, valid_value: bytes | None = None,
                      justification: tuple[Prevote, ...] = ()) -> SafetyRecord:
        """The record to persist before ``message`` (which ``permits`` allowed) leaves the engine."""
        position = max(self.position, position_of(message))
        kept = [m for m in self.signed if m.height == message.height and m != message]
        kept.append(message)
        rounds = sorted({m.round for m in kept})[-KEEP_ROUNDS:]
        kept = [m for m in kept if m.round in rounds]
        kept.sort(key=position_of)
        return SafetyRecord(position[0], position[1], Step(position[2]), locked_round, locked_value_id,
                            valid_round, valid_value, tuple(kept), justification)

    def to_record(self) -> list[Any]:
        return [SAFETY_TAG, VERSION, self.height, self.round, int(self.step), self.locked_round,
                self.locked_value_id, self.valid_round, self.valid_value, [m.to_record() for m in self.signed],
                [v.to_record() for v in self.justification]]

    def encode(self) -> bytes:
        return codec.encode(self.to_record())

    @classmethod
    def from_record(cls, value: Any) -> SafetyRecord:
        f = codec.expect_record(value, SAFETY_TAG, VERSION, 9, "safety record")
        locked_id = f[4]
        if locked_id is not None:
            locked_id = codec.expect_bytes(locked_id, "safety.locked_value_id", VALUE_ID_BYTES)
        valid_value = f[6]
        if valid_value is not None:
            valid_value = codec.expect_bytes(valid_value, "safety.valid_value")
        justification = tuple(v for v in (message_from_record(m) for m in codec.expect_list(
            f[8], "safety.justification", max_length=MAX_JUSTIFICATION)) if isinstance(v, Prevote))
        if len(justification) != len(f[8]):
            raise codec.UnexpectedShape("safety.justification: only prevotes justify a lock")
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
            justification=justification,
        )

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = codec.DEFAULT_MAX_BYTES) -> SafetyRecord:
        return cls.from_record(codec.decode(data, max_bytes))
