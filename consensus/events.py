"""Events: everything the driver (node or simulator) tells the engine, via ``Engine.handle``.

The engine never asks for anything synchronously: a question (build a value, is this value valid?)
is an action, and its answer comes back later as one of these events, so the node may compute it on
another task or process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from consensus.certificate import CommitCertificate
from consensus.messages import SignedMessage, Step
from consensus.validators import ValidatorSet


@dataclass(frozen=True)
class StartHeight:
    """Begin (or, after a restart, resume) consensus on ``height`` with ``validators``."""

    height: int
    """The height to decide next (last committed height + 1)."""
    validators: ValidatorSet
    """The validator set of this height, read from the state after height - 1."""


@dataclass(frozen=True)
class MessageReceived:
    """A decoded proposal or vote from the network (signature not yet checked)."""

    message: SignedMessage
    """The message as decoded by ``consensus.messages.decode_message``."""


@dataclass(frozen=True)
class TimeoutFired:
    """A timeout asked for with ``ScheduleTimeout`` has expired."""

    height: int
    """Height given in the ScheduleTimeout."""
    round: int
    """Round given in the ScheduleTimeout."""
    step: Step
    """Step given in the ScheduleTimeout."""


@dataclass(frozen=True)
class ValueBuilt:
    """The answer to ``BuildValue``: the block this validator proposes (considered valid by it)."""

    height: int
    """Height given in the BuildValue."""
    round: int
    """Round given in the BuildValue."""
    value: bytes
    """The opaque block."""


@dataclass(frozen=True)
class ValueValidated:
    """The answer to ``ValidateValue``: whether the value with this id is a valid block at ``height``."""

    height: int
    """Height given in the ValidateValue."""
    value_id: bytes
    """Id given in the ValidateValue."""
    valid: bool
    """The verdict; a value is judged once per height, whatever the round."""


@dataclass(frozen=True)
class DecisionReceived:
    """A decided value with its certificate, obtained by block sync for the height being decided."""

    value: bytes
    """The decided block."""
    certificate: CommitCertificate
    """Its commit certificate; the engine checks it against the height's validator set."""


Event: TypeAlias = (StartHeight | MessageReceived | TimeoutFired | ValueBuilt | ValueValidated
                    | DecisionReceived)
