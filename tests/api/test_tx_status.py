"""One status reader for both APIs (node/api/tx_status.py): a committed or rejected transaction answers
from the published chain with its height, a queued one STATELESS_VALIDATION_SUCCESS, one waiting for
signatures MST_PENDING, a refused one its remembered refusal, anything else NOT_RECEIVED; and the chain
wins over the pools. Real admission over real LevelDB in a temp dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from node.api.tx_status import status_of
from node.intake.admission import Admission, Source, Verdict
from node.intake.mempool import Mempool
from node.intake.pending import PendingPool
from node.intake.statuses import StatusHub, status_json
from node.ledger import commands as c
from node.ledger.chain import Ledger
from node.ledger.transactions import TxPayload, build_transaction
from tests.ledger_world import CHAIN, KHR, Chain, key


@dataclass
class StatusReaderHost:
    ledger: Ledger
    mempool: Mempool
    admission: Admission
    hub: StatusHub


def test_each_place_a_transaction_can_be_answers_for_it(tmp_path: Path) -> None:
    chain = Chain(tmp_path / "db")
    try:
        chain.run(chain.tx("alice@aclb", c.AddSignatory("alice@aclb", key("bob@aclb").public_key),
                           c.SetAccountQuorum("alice@aclb", 2)))
        pending = PendingPool(chain.ledger.store, max_txs=10, max_bytes=1 << 20, max_per_account=10)
        admission = Admission(chain.ledger, Mempool(10, 1 << 20), CHAIN, pending=pending)
        node = StatusReaderHost(chain.ledger, admission.mempool, admission, StatusHub())

        def payment(n: int) -> TxPayload:
            return TxPayload(CHAIN, "alice@aclb", chain.now + n, 1,
                             (c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00"),))

        overdraft = chain.tx("bob@aclb", c.TransferAsset("bob@aclb", "alice@aclb", KHR, "", "99999999.00"))
        [result] = chain.run(overdraft)
        height = chain.ledger.published().head.height
        assert status_of(node, overdraft.hash) == status_json(overdraft.hash, "REJECTED", height, 0, result)
        assert status_of(node, overdraft.hash)["error_code"] == "insufficient_funds"
        waiting = build_transaction(payment(1), key("alice@aclb"))
        queued = build_transaction(payment(2), key("alice@aclb"), key("bob@aclb"))
        verdicts = [o.verdict for o in admission.admit([waiting.encode(), queued.encode()], chain.now, Source.CLIENT)]
        assert verdicts == [Verdict.PENDING, Verdict.QUEUED]
        assert status_of(node, waiting.hash) == status_json(waiting.hash, "MST_PENDING")
        assert status_of(node, queued.hash) == status_json(queued.hash, "STATELESS_VALIDATION_SUCCESS")
        refused = status_json(b"\x01" * 32, "STATELESS_VALIDATION_FAILED")
        node.hub.record_failure(b"\x01" * 32, refused)
        assert status_of(node, b"\x01" * 32) == refused
        assert status_of(node, b"\x02" * 32) == status_json(b"\x02" * 32, "NOT_RECEIVED")
        # once in a published block, the chain answers even while a pool still holds a copy
        in_pool = admission.mempool.get(queued.hash)
        assert in_pool is not None
        chain.run(in_pool)
        answer = status_of(node, queued.hash)
        assert answer["status"] == "COMMITTED" and answer["height"] == height + 1
        assert queued.hash in admission.mempool  # (the pool learns of the commit later)
    finally:
        chain.close()
