"""A transaction's status as both APIs report it (HTTP ``/v1/status`` and Torii's Status/StatusStream).

One reading for both, so a client never gets two answers for one hash: the published chain first, then
the mempool, then the pending-signatures pool, then a remembered refusal, else NOT_RECEIVED.
"""

from __future__ import annotations

from typing import Any, Protocol

from node.intake import statuses as st
from node.intake.admission import Admission
from node.intake.mempool import Mempool
from node.intake.statuses import StatusHub, TxStatus, status_json
from node.ledger.chain import Ledger


class StatusSource(Protocol):
    """What reading a status uses of the node (``node.assembly.Node``)."""

    @property
    def ledger(self) -> Ledger: ...
    @property
    def mempool(self) -> Mempool: ...
    @property
    def admission(self) -> Admission: ...
    @property
    def hub(self) -> StatusHub: ...


def status_of(node: StatusSource, tx_hash: bytes) -> dict[str, Any]:
    """The status of ``tx_hash`` as JSON (``statuses.status_json``)."""
    # From the published state, not the live database: a block's statuses are in LevelDB a moment
    # before the head names the block, and a client told COMMITTED at height h must find /v1/status at
    # h or later. Until then the transaction is still in the mempool and answers as accepted.
    record = node.ledger.published().tx_status(tx_hash)
    if record is not None:
        return status_json(tx_hash, record.result.status, record.height, record.index, record.result)
    if tx_hash in node.mempool:
        return status_json(tx_hash, st.STATELESS_VALIDATION_SUCCESS)
    pending = node.admission.pending
    if pending is not None and tx_hash in pending:
        return status_json(tx_hash, TxStatus.MST_PENDING)
    failure = node.hub.failure(tx_hash)
    return failure if failure is not None else status_json(tx_hash, st.NOT_RECEIVED)


__all__ = ["StatusSource", "status_of"]
