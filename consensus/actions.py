"""Actions: what the engine asks its driver to do, returned in order by ``Engine.handle``.

Carry them out in the order given. In particular ``PersistSafety`` always precedes the ``Broadcast``
of the message it covers, and the driver must have stored it durably before that message leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from consensus.certificate import CommitCertificate
from consensus.evidence import Evidence
from consensus.messages import SignedMessage, Step
from consensus.safety import SafetyRecord


@dataclass(frozen=True)
class PersistSafety:
    """Store ``record`` durably (sync) before doing any later action; reload it on restart."""

    record: SafetyRecord
    """The new signing record; replaces the previous one."""
    values: Mapping[bytes, bytes] = field(default_factory=dict)
    """The bytes of the values the record names by id (own proposals, the valid value) that this
    engine holds: keep them beside the record, best effort, and hand them back on restart."""


@dataclass(frozen=True)
class Broadcast:
    """Send ``message`` to every validator (the engine has already taken it into account itself)."""

    message: SignedMessage
    """A message this validator signed."""


@dataclass(frozen=True)
class ScheduleTimeout:
    """Deliver ``TimeoutFired(height, round, step)`` when the clock reaches ``at``."""

    height: int
    """Height to echo back."""
    round: int
    """Round to echo back."""
    step: Step
    """Step to echo back."""
    at: float
    """Absolute time, in the clock of the ``now`` arguments."""


@dataclass(frozen=True)
class BuildValue:
    """This validator proposes at (height, round): answer with ``ValueBuilt``."""

    height: int
    """Height of the proposal."""
    round: int
    """Round of the proposal."""


@dataclass(frozen=True)
class ValidateValue:
    """Judge ``value`` for ``height`` and answer with ``ValueValidated`` (asked once per value id)."""

    height: int
    """Height the value is proposed for."""
    round: int
    """Round it was first seen in (informative)."""
    value_id: bytes
    """``hash_bytes(value)``, to echo back."""
    value: bytes
    """The opaque block."""


@dataclass(frozen=True)
class Commit:
    """``value`` is decided at ``height``: store it with its certificate, then send ``StartHeight``."""

    height: int
    """The decided height."""
    round: int
    """The round in which it was decided."""
    value: bytes
    """The decided block."""
    certificate: CommitCertificate
    """2n//3+1 precommits for it."""


@dataclass(frozen=True)
class ReportEvidence:
    """A validator signed two conflicting messages; keep and expose the proof."""

    evidence: Evidence
    """The two messages."""


Action: TypeAlias = PersistSafety | Broadcast | ScheduleTimeout | BuildValue | ValidateValue | Commit | ReportEvidence
