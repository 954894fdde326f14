"""A client submits transactions: the one path the HTTP API and Torii share.

Admission runs slice by slice (``SLICE``) with one verification budget for the whole request, so a big
batch neither starves consensus on the event loop nor buys more signature checks than its size allows.
What is newly queued is gossiped, its status subscribers hear STATELESS_VALIDATION_SUCCESS, and it is
journaled before the caller answers: "accepted" must survive a crash. How the answer looks (HTTP status
codes, gRPC's Empty) is each API's own business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from node.clock import now_ms
from node.intake import statuses as st
from node.intake.admission import SLICE, Admission, Outcome, Source, Verdict, VerificationBudget
from node.intake.journal import IntakeJournal
from node.intake.statuses import StatusHub, status_json


class SubmissionHost(Protocol):
    """What a submission uses of the node (``node.assembly.Node``)."""

    @property
    def admission(self) -> Admission: ...
    @property
    def journal(self) -> IntakeJournal: ...
    @property
    def hub(self) -> StatusHub: ...
    @property
    def tx_arrived(self) -> asyncio.Event: ...
    def gossip(self, tx_bytes: bytes) -> None: ...
    def storage_written(self, error: str | None) -> None: ...


class StorageUnavailable(Exception):
    """The journal write of accepted transactions failed (disk full, failing): nothing may be claimed
    accepted. The transactions are queued in memory all the same; a retry finds them queued."""


async def submit(node: SubmissionHost, items: Sequence[bytes]) -> list[Outcome]:
    """Admit ``items`` (encoded transactions, in order) from a client; one outcome each, in order.

    Raises ``StorageUnavailable`` when what was queued could not be journaled."""
    now = now_ms()
    outcomes: list[Outcome] = []
    accepted: list[tuple[bytes, bytes]] = []
    budget = VerificationBudget.for_items(len(items))  # one for the whole request, not one per slice
    for start in range(0, len(items), SLICE):
        if start:
            await asyncio.sleep(0)  # a big batch must not starve consensus on this loop
        chunk = items[start:start + SLICE]
        for data, outcome in zip(chunk, node.admission.admit(chunk, now, Source.CLIENT, budget), strict=True):
            outcomes.append(outcome)
            if outcome.tx_hash is None:
                continue
            if outcome.verdict is Verdict.QUEUED:
                accepted.append((outcome.tx_hash, data))
                node.gossip(data)
                if node.hub.wants(outcome.tx_hash):
                    node.hub.publish(outcome.tx_hash, status_json(outcome.tx_hash, st.STATELESS_VALIDATION_SUCCESS))
            elif outcome.verdict in (Verdict.PENDING, Verdict.COLLECTED):
                # Multisig (node.intake.pending): every node merges the copies gossip brings it. A copy that
                # completed its transaction is journaled as the merged transaction now queued.
                node.gossip(data)
                queued = node.admission.mempool.get(outcome.tx_hash) if outcome.verdict is Verdict.COLLECTED else None
                if queued is not None:
                    accepted.append((outcome.tx_hash, queued.encode()))
                if node.hub.wants(outcome.tx_hash):
                    node.hub.publish(outcome.tx_hash, status_json(outcome.tx_hash, outcome.status))
    if accepted:
        node.tx_arrived.set()
        try:
            await asyncio.get_running_loop().run_in_executor(None, node.journal.record, accepted)
        except Exception as exc:  # the disk refused the write (full, failing): say so, do not claim "accepted"
            node.storage_written(f"{exc.__class__.__name__}: {exc}")  # logged there, once per outage
            raise StorageUnavailable(str(exc)) from exc
        node.storage_written(None)
    return outcomes
