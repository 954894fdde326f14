"""How our statuses become Iroha's ToriiResponse fields (node/api/torii/statuses.py), function by function:
the failing command's Iroha name and number (TransferAsset's missing source 3 vs missing destination 4,
told apart by the message), a transaction refused as a whole (signatures: "signatures validation" 2; a
batch member: no name, 1, index 2^64 - 1; ours: "code: message", 1, 0), and a refusal before any block
(the error text only). TransferAsset's numbers are the issue's, from Iroha 1's documentation."""

from __future__ import annotations

import pytest

from node.api.torii.statuses import (
    BATCH_MEMBER_FAILED,
    INTERNAL,
    SIGNATURES,
    command_failure,
    torii_response,
    transaction_failure,
)
from node.intake.statuses import status_json
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger.iroha_proto import endpoint_pb2

TRANSFER = c.TransferAsset("alice@aclb", "bob@aclb", "khr#nbc", "", "1.00")
S = endpoint_pb2.TxStatus


@pytest.mark.parametrize(("code", "message", "number"), [
    (e.PERMISSION_DENIED, "", 2),
    (e.NO_SUCH_ACCOUNT, "account alice@aclb does not exist", 3),  # the source
    (e.NO_SUCH_ACCOUNT, "account bob@aclb does not exist", 4),  # the destination
    (e.NO_SUCH_ASSET, "", 5),
    (e.INSUFFICIENT_FUNDS, "", 6),
    (e.AMOUNT_OVERFLOW, "", 7),
    ("something_new", "", INTERNAL),
])
def test_transfer_asset_numbers_as_iroha_documents_them(code: str, message: str, number: int) -> None:
    assert command_failure(TRANSFER, code, message) == ("TransferAsset", number)
    with_reference = c.TransferWithReference("alice@aclb", "bob@aclb", "khr#nbc", "", "1.00", "0" * 32, "INV-1")
    assert command_failure(with_reference, code, message) == ("TransferAsset", number)  # a KHQR payment


def test_only_a_transfer_tells_the_destination_apart() -> None:
    add = c.AddSignatory("bob@aclb", b"\x01" * 32)
    assert command_failure(add, e.NO_SUCH_ACCOUNT, "account bob@aclb does not exist") == ("AddSignatory", 3)
    assert command_failure(TRANSFER, e.PERMISSION_DENIED, "account bob@aclb does not exist") == ("TransferAsset", 2)


@pytest.mark.parametrize("code", [e.NOT_A_SIGNATORY, e.QUORUM_NOT_MET, e.NO_SUCH_ACCOUNT])
def test_a_transaction_short_of_its_signatures_is_signatures_validation_2(code: str) -> None:
    assert transaction_failure(code, "why") == (SIGNATURES, 2, 0)


def test_a_batch_member_and_our_own_refusals() -> None:
    assert transaction_failure(BATCH_MEMBER_FAILED, "member 1 failed") == ("", INTERNAL, 2**64 - 1)
    assert transaction_failure("expired", "too old at block time") == ("expired: too old at block time", 1, 0)


def test_torii_response_fields_for_each_kind_of_status() -> None:
    tx_hash = b"\xab" * 32
    plain = torii_response(status_json(tx_hash, "COMMITTED", 5, 0))
    assert (plain.tx_status, plain.tx_hash, plain.err_or_cmd_name, plain.error_code) == (S.COMMITTED, "ab" * 32, "", 0)
    rejected = {**status_json(tx_hash, "REJECTED", 5, 0), "command_index": 2, "error_code": e.INSUFFICIENT_FUNDS,
                "message": "not enough"}
    by_command = torii_response(rejected, TRANSFER)
    assert (by_command.tx_status, by_command.err_or_cmd_name, by_command.error_code, by_command.failed_cmd_index) == (
        S.REJECTED, "TransferAsset", 6, 2)
    first = torii_response({**rejected, "command_index": 0}, TRANSFER)
    assert (first.err_or_cmd_name, first.failed_cmd_index) == ("TransferAsset", 0)
    staged = torii_response(rejected, TRANSFER, stage="STATEFUL_VALIDATION_FAILED")
    assert (staged.tx_status, staged.err_or_cmd_name, staged.error_code) == (S.STATEFUL_VALIDATION_FAILED,
                                                                             "TransferAsset", 6)
    whole = torii_response({**rejected, "error_code": BATCH_MEMBER_FAILED, "command_index": None})
    assert (whole.err_or_cmd_name, whole.error_code, whole.failed_cmd_index) == ("", 1, 2**64 - 1)
    refused = {**status_json(tx_hash, "STATELESS_VALIDATION_FAILED"), "error_code": "bad_signature",
               "message": "does not verify"}
    early = torii_response(refused)
    assert (early.tx_status, early.err_or_cmd_name, early.error_code, early.failed_cmd_index) == (
        S.STATELESS_VALIDATION_FAILED, "bad_signature: does not verify", 0, 0)
    assert torii_response({**refused, "message": ""}).err_or_cmd_name == "bad_signature"
