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


# Iroha 1's documented numbers (hyperledger/iroha, iroha1-main, docs/source/develop/api/commands.rst,
# "Possible Stateful Validation Errors"): per command, error name -> code. Facts of the interface.
IROHA_DOCUMENTED: dict[str, dict[str, int]] = {
    "AddAssetQuantity": {"No such permissions": 2, "No such asset": 3, "Summation overflow": 4},
    "AddPeer": {"No such permissions": 2},
    "AddSignatory": {"No such permissions": 2, "No such account": 3, "Signatory already exists": 4},
    "AppendRole": {"No such permissions": 2, "No such account": 3, "No such role": 4},
    "CreateAccount": {"No such permissions": 2, "No such domain": 3, "Account already exists": 4},
    "CreateAsset": {"No such permissions": 2, "No such domain": 3, "Asset already exists": 4},
    "CreateDomain": {"No such permissions": 2, "Domain already exists": 3, "No default role found": 4},
    "CreateRole": {"No such permissions": 2, "Role already exists": 3},
    "DetachRole": {"No such permissions": 2, "No such account": 3, "No such role in account's roles": 4,
                   "No such role": 5},
    "GrantPermission": {"No such permissions": 2, "No such account": 3},
    "RemovePeer": {"No such permissions": 2, "No such peer": 3, "Network size does not allow to remove peer": 4},
    "RemoveSignatory": {"No such permissions": 2, "No such account": 3, "No such signatory": 4,
                        "Quorum does not allow to remove signatory": 5},
    "RevokePermission": {"No such permissions": 2, "No such account": 3},
    "SetAccountDetail": {"No such permissions": 2, "No such account": 3},
    "SetAccountQuorum": {"No such permissions": 2, "No such account": 3, "No signatories on account": 4,
                         "New quorum is incorrect": 5},
    "SubtractAssetQuantity": {"No such permissions": 2, "No such asset found": 3, "Not enough balance": 4},
    "TransferAsset": {"No such permissions": 2, "No such source account": 3, "No such destination account": 4,
                      "No such asset found": 5, "Not enough balance": 6, "Too much asset to transfer": 7},
    "CompareAndSetAccountDetail": {"No such permissions": 2, "No such account": 3, "No match values": 4},
}

# Our decision per (command, our error code): which of Iroha's documented errors it is.
MEANS: dict[str, dict[str, str]] = {
    "AddAssetQuantity": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ASSET: "No such asset",
                         e.PRECISION_EXCEEDED: "No such asset", e.AMOUNT_OVERFLOW: "Summation overflow"},
    "AddPeer": {e.PERMISSION_DENIED: "No such permissions"},
    "AddSignatory": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account",
                     e.SIGNATORY_EXISTS: "Signatory already exists"},
    "AppendRole": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account",
                   e.NO_SUCH_ROLE: "No such role"},
    "CreateAccount": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_DOMAIN: "No such domain",
                      e.ACCOUNT_EXISTS: "Account already exists"},
    "CreateAsset": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_DOMAIN: "No such domain",
                    e.ASSET_EXISTS: "Asset already exists"},
    "CreateDomain": {e.PERMISSION_DENIED: "No such permissions", e.DOMAIN_EXISTS: "Domain already exists",
                     e.NO_SUCH_ROLE: "No default role found"},
    "CreateRole": {e.PERMISSION_DENIED: "No such permissions", e.ROLE_EXISTS: "Role already exists"},
    "DetachRole": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account",
                   e.ROLE_NOT_HELD: "No such role in account's roles", e.NO_SUCH_ROLE: "No such role"},
    "GrantPermission": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account"},
    "RemovePeer": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_PEER: "No such peer",
                   e.LAST_VALIDATOR: "Network size does not allow to remove peer"},
    "RemoveSignatory": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account",
                        e.NO_SUCH_SIGNATORY: "No such signatory",
                        e.LAST_SIGNATORY: "Quorum does not allow to remove signatory",
                        e.QUORUM_TOO_HIGH: "Quorum does not allow to remove signatory"},
    "RevokePermission": {e.PERMISSION_NOT_GRANTED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account"},
    "SetAccountDetail": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account"},
    "SetAccountQuorum": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account",
                         e.QUORUM_TOO_HIGH: "New quorum is incorrect"},
    "SubtractAssetQuantity": {e.PERMISSION_DENIED: "No such permissions", e.ACCOUNT_FROZEN: "No such permissions",
                              e.NO_SUCH_ASSET: "No such asset found", e.PRECISION_EXCEEDED: "No such asset found",
                              e.INSUFFICIENT_FUNDS: "Not enough balance"},
    "TransferAsset": {e.PERMISSION_DENIED: "No such permissions", e.ACCOUNT_FROZEN: "No such permissions",
                      e.NO_SUCH_ACCOUNT: "No such source account", e.NO_SUCH_ASSET: "No such asset found",
                      e.PRECISION_EXCEEDED: "No such asset found", e.INSUFFICIENT_FUNDS: "Not enough balance",
                      e.AMOUNT_OVERFLOW: "Too much asset to transfer"},
    "CompareAndSetAccountDetail": {e.PERMISSION_DENIED: "No such permissions", e.NO_SUCH_ACCOUNT: "No such account",
                                   e.DETAIL_MISMATCH: "No match values"},
}


def test_every_iroha_command_number_is_the_one_irohas_documentation_gives() -> None:
    from node.api.torii.statuses import ERROR_NUMBERS

    iroha_commands = {name: table for name, table in ERROR_NUMBERS.items() if name in IROHA_DOCUMENTED}
    assert set(iroha_commands) == set(IROHA_DOCUMENTED)  # every Iroha command has its table
    assert set(ERROR_NUMBERS) - set(IROHA_DOCUMENTED) == {"FreezeAccount", "UnfreezeAccount"}  # ours alone
    for name, table in iroha_commands.items():
        assert set(table) == set(MEANS[name]), name
        for code, number in table.items():
            assert number == IROHA_DOCUMENTED[name][MEANS[name][code]], (name, code)


def test_our_own_commands_are_numbered_as_docs_iroha_md_lists_them() -> None:
    """FreezeAccount / UnfreezeAccount have no Iroha counterpart: docs/iroha.md's table gives their numbers
    (2 permission, 3 account, 4 its state), which a client may rely on."""
    freeze = c.FreezeAccount("bob@aclb", "court order")
    unfreeze = c.UnfreezeAccount("bob@aclb", "released")
    assert [command_failure(freeze, code, "")[1] for code in (e.PERMISSION_DENIED, e.NO_SUCH_ACCOUNT,
                                                                e.ACCOUNT_FROZEN)] == [2, 3, 4]
    assert [command_failure(unfreeze, code, "")[1] for code in (e.PERMISSION_DENIED, e.NO_SUCH_ACCOUNT,
                                                                  e.ACCOUNT_NOT_FROZEN)] == [2, 3, 4]
