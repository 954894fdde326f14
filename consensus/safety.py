"""The signing record that keeps a validator from ever contradicting itself, even across restarts.

Before the engine hands out a signed message it emits ``PersistSafety(record, values)``; the driver
must store the record durably (fsync) before it sends anything that follows in the action list. The
record holds:

- the highest position signed so far, ``(height, round, step)`` ordered lexicographically with
  ``propose < prevote < precommit``: the engine never signs at a lower position, and at an equal or
  lower one only a message with the same content as one it already signed;
- the lock and the valid round of that height (paper lines 36-43), with the values named by id;
- the prevotes that justify the lock and the valid round (the polkas). A restarted validator has
  forgotten what it received; without these, a lock whose polka included a Byzantine vote only it
  had seen could never be justified to the others again, and the height could stall;
- its own signed messages of that height (at most the last 32 rounds signed in), so after a restart
  it can send them again: peers that missed them may need them to reach a quorum (liveness only).
  Own proposals are kept as ``ProposalRef``: everything but the block's bytes.

**The record never holds a block.** Its size depends on the validator count, never on block size
(a record holding proposals and the valid value grew past its own decoding limit with large blocks,
and the validator could not restart). The bytes of the values it names (own proposals, the valid
value) travel beside it in ``PersistSafety.values``; the driver keeps them where it likes, best
effort: safety needs only the ids, and a restarted validator that lost a value's bytes gets them back
from peers' re-gossip of the proposal (until then it does not re-propose that value).

Encoding (tag 44, version 2): ``[44, 2, height, round, step, locked_round, locked_value_id,
valid_round, valid_value_id, [entry_record, ...], [prevote_record, ...]]``; an entry is a prevote or
precommit record, or a ``ProposalRef`` ``[46, 1, height, round, value_id, valid_round, proposer,
signature]``. A height of -1 means nothing was signed. Version 1 records (which held the values)
still decode, their values turned into ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from consensus import codec
from consensus.crypto import hash_bytes
from consensus.messages import (
    MAX_HEIGHT,
    MAX_ROUND,
    PROPOSAL_TAG,
    VALUE_ID_BYTES,
    Prevote,
    ProposalRef,
    SignedEntry,
    SignedMessage,
    Step,
    entry_from_record,
    entry_of,
    message_from_record,
)

SAFETY_TAG: Final = 44
VERSION: Final = 2
# Rounds of own messages kept for re-sending; past this the record (written on every signature) would
# grow with every round of a long outage, and peers will have moved on from such old rounds anyway.
KEEP_ROUNDS: Final = 32
# Two polkas of prevotes, a few per validator (see round_log: at most 2 + n // (n//3 + 1) each).
MAX_JUSTIFICATION: Final = 4 * 1024

Position = tuple[int, int, int]




def position_of(message: SignedMessage | SignedEntry) -> Position:
    return (message.height, message.round, int(message.kind))


def _entry_from_record(value: Any) -> SignedEntry:
    items = codec.expect_list(value, "safety entry")
    if items and type(items[0]) is int and items[0] == PROPOSAL_TAG:
        raise codec.UnexpectedShape("safety.signed: proposals are kept as references")
    return entry_from_record(value)


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
    valid_value_id: bytes | None
    """Id of the paper's validValue at ``height`` (its bytes are kept beside the record)."""
    signed: tuple[SignedEntry, ...]
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
        # The same content again (a re-send after a restart) is the same message, never evidence.
        return self.covers(message)

    def covers(self, message: SignedMessage) -> bool:
        """True when this record holds ``message`` (by content) among what was signed."""
        return entry_of(message) in self.signed

    def value_ids(self) -> set[bytes]:
        """Ids of the values this record names whose bytes a restart would want back."""
        ids = {entry.value_id for entry in self.signed if isinstance(entry, ProposalRef)}
        if self.valid_value_id is not None:
            ids.add(self.valid_value_id)
        return ids

    def after_signing(self, message: SignedMessage, locked_round: int = -1, locked_value_id: bytes | None = None,
                      valid_round: int = -1, valid_value_id: bytes | None = None,
                      justification: tuple[Prevote, ...] = ()) -> SafetyRecord:
        """The record to persist before ``message`` (which ``permits`` allowed) leaves the engine."""
        position = max(self.position, position_of(message))
        entry = entry_of(message)
        kept = [m for m in self.signed if m.height == message.height and m != entry]
        kept.append(entry)
        rounds = sorted({m.round for m in kept})[-KEEP_ROUNDS:]
        kept = [m for m in kept if m.round in rounds]
        kept.sort(key=position_of)
        return SafetyRecord(position[0], position[1], Step(position[2]), locked_round, locked_value_id,
                            valid_round, valid_value_id, tuple(kept), justification)

    def to_record(self) -> list[Any]:
        return [SAFETY_TAG, VERSION, self.height, self.round, int(self.step), self.locked_round,
                self.locked_value_id, self.valid_round, self.valid_value_id,
                [m.to_record() for m in self.signed], [v.to_record() for v in self.justification]]

    def encode(self) -> bytes:
        return codec.encode(self.to_record())

    @classmethod
    def from_record(cls, value: Any, max_value_bytes: int = codec.DEFAULT_MAX_BYTES) -> SafetyRecord:
        """``max_value_bytes`` bounds the whole values a version 1 record holds."""
        items = codec.expect_list(value, "safety record")
        if len(items) >= 2 and type(items[1]) is int and items[1] == 1:
            # Written before version 2: the same fields, with whole values where ids are now.
            f = codec.expect_record(value, SAFETY_TAG, 1, 9, "safety record v1")
            valid_value = f[6]
            if valid_value is not None:
                valid_value = codec.expect_bytes(valid_value, "safety.valid_value", max_length=max_value_bytes)
            valid_value_id = None if valid_value is None else hash_bytes(valid_value)
            signed = tuple(entry_of(message_from_record(m, max_value_bytes))
                           for m in codec.expect_list(f[7], "safety.signed", max_length=3 * KEEP_ROUNDS))
        else:
            f = codec.expect_record(value, SAFETY_TAG, VERSION, 9, "safety record")
            valid_value_id = _optional_id(f[6], "safety.valid_value_id")
            signed = tuple(_entry_from_record(m) for m in codec.expect_list(
                f[7], "safety.signed", max_length=3 * KEEP_ROUNDS))
        return cls(
            height=codec.expect_int(f[0], "safety.height", -1, MAX_HEIGHT),
            round=codec.expect_int(f[1], "safety.round", -1, MAX_ROUND),
            step=Step(codec.expect_int(f[2], "safety.step", 0, 2)),
            locked_round=codec.expect_int(f[3], "safety.locked_round", -1, MAX_ROUND),
            locked_value_id=_optional_id(f[4], "safety.locked_value_id"),
            valid_round=codec.expect_int(f[5], "safety.valid_round", -1, MAX_ROUND),
            valid_value_id=valid_value_id,
            signed=signed,
            justification=_justification(f[8]),
        )

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = codec.DEFAULT_MAX_BYTES) -> SafetyRecord:
        return cls.from_record(codec.decode(data, max_bytes), max_bytes)

    @staticmethod
    def v1_values(data: bytes) -> dict[bytes, bytes]:
        """The values a version 1 record held (own proposals, the valid value), by id; {} for version 2."""
        value = codec.decode(data, len(data))
        if not (isinstance(value, list) and len(value) == 11 and value[1] == 1):
            return {}
        found = [value[8]] if isinstance(value[8], bytes) else []
        found += [m[4] for m in value[9] if isinstance(m, list) and m and m[0] == 40 and isinstance(m[4], bytes)]
        return {hash_bytes(v): v for v in found}


def _optional_id(value: Any, what: str) -> bytes | None:
    return None if value is None else codec.expect_bytes(value, what, VALUE_ID_BYTES)


def _justification(value: Any) -> tuple[Prevote, ...]:
    raw = codec.expect_list(value, "safety.justification", max_length=MAX_JUSTIFICATION)
    votes = tuple(v for v in (message_from_record(m) for m in raw) if isinstance(v, Prevote))
    if len(votes) != len(raw):
        raise codec.UnexpectedShape("safety.justification: only prevotes justify a lock")
    return votes
