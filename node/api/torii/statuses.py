"""Our transaction statuses and results as Iroha 1's Torii reports them (``ToriiResponse``).

A status here is the JSON the status hub and the HTTP API carry (``node.intake.statuses.status_json``:
hash, status, and for a transaction rejected in a block its height, index, ``command_index``,
``error_code`` and message). Iroha reports a failed transaction by the failing command's NAME in
``err_or_cmd_name``, its index in ``failed_cmd_index`` and a number per command in ``error_code``
(Iroha 1 docs, "Commands", "Possible Stateful Validation Errors"); a stateless refusal puts the error
text in ``err_or_cmd_name``. The tables below map our error codes (node/ledger/errors.py) onto those
numbers; docs/iroha.md, "Torii commands and statuses", lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger.iroha_proto import endpoint_pb2
from node.ledger.statuses import TxStatus

INTERNAL = 1
"""Iroha's "Could not <do the command>": what has no number of its own (also our own extra rules)."""

# Per Iroha command name: our error code -> Iroha's number. A code missing from a table is INTERNAL.
# Where our ledger refuses for a reason Iroha has no row for, the nearest row is taken and documented:
# a frozen account is "no such permissions" (nobody may debit it), an amount with more decimals than
# the asset is "no such asset" (Iroha: "cannot find asset with such name or such precision").
ERROR_NUMBERS: Mapping[str, Mapping[str, int]] = {
    "AddAssetQuantity": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ASSET: 3, e.PRECISION_EXCEEDED: 3,
                         e.AMOUNT_OVERFLOW: 4},
    "AddPeer": {e.PERMISSION_DENIED: 2},
    "AddSignatory": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.SIGNATORY_EXISTS: 4},
    "AppendRole": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.NO_SUCH_ROLE: 4},
    "CreateAccount": {e.PERMISSION_DENIED: 2, e.NO_SUCH_DOMAIN: 3, e.ACCOUNT_EXISTS: 4},
    "CreateAsset": {e.PERMISSION_DENIED: 2, e.NO_SUCH_DOMAIN: 3, e.ASSET_EXISTS: 4},
    "CreateDomain": {e.PERMISSION_DENIED: 2, e.DOMAIN_EXISTS: 3, e.NO_SUCH_ROLE: 4},
    "CreateRole": {e.PERMISSION_DENIED: 2, e.ROLE_EXISTS: 3},
    "DetachRole": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.ROLE_NOT_HELD: 4, e.NO_SUCH_ROLE: 5},
    "GrantPermission": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3},
    "RemovePeer": {e.PERMISSION_DENIED: 2, e.NO_SUCH_PEER: 3, e.LAST_VALIDATOR: 4},
    "RemoveSignatory": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.NO_SUCH_SIGNATORY: 4,
                        e.LAST_SIGNATORY: 5, e.QUORUM_TOO_HIGH: 5},
    # Iroha checks that the grantor granted it as "the creator's permission": no such permissions.
    "RevokePermission": {e.PERMISSION_NOT_GRANTED: 2, e.NO_SUCH_ACCOUNT: 3},
    "SetAccountDetail": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3},
    "SetAccountQuorum": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.QUORUM_TOO_HIGH: 5},
    "SubtractAssetQuantity": {e.PERMISSION_DENIED: 2, e.ACCOUNT_FROZEN: 2, e.NO_SUCH_ASSET: 3,
                              e.PRECISION_EXCEEDED: 3, e.INSUFFICIENT_FUNDS: 4},
    # no_such_account is 3 (source) or 4 (destination): told apart by which account the message names.
    "TransferAsset": {e.PERMISSION_DENIED: 2, e.ACCOUNT_FROZEN: 2, e.NO_SUCH_ACCOUNT: 3, e.NO_SUCH_ASSET: 5,
                      e.PRECISION_EXCEEDED: 5, e.INSUFFICIENT_FUNDS: 6, e.AMOUNT_OVERFLOW: 7},
    "CompareAndSetAccountDetail": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.DETAIL_MISMATCH: 4},
    # Ours, without an Iroha counterpart (native transactions only), numbered in Iroha's manner.
    "FreezeAccount": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.ACCOUNT_FROZEN: 4},
    "UnfreezeAccount": {e.PERMISSION_DENIED: 2, e.NO_SUCH_ACCOUNT: 3, e.ACCOUNT_NOT_FROZEN: 4},
}
NO_DESTINATION = 4
"""TransferAsset's "no such destination account"."""

SIGNATURES = "signatures validation"
"""Iroha's name for a transaction whose creator's signatories do not reach its quorum (number 2), also
when the creator does not exist (Iroha finds no quorum for it)."""
_SIGNATURE_CODES = frozenset({e.NOT_A_SIGNATORY, e.QUORUM_NOT_MET, e.NO_SUCH_ACCOUNT})
BATCH_MEMBER_FAILED = "batch_member_failed"
"""node.ledger.batches' code for an ATOMIC batch's member rejected because another member failed:
Iroha names no command (""), number 1, index 2**64 - 1."""
_NO_INDEX = 2**64 - 1


def iroha_command_name(command: c.Command) -> str:
    """The Iroha name of one of our commands (a transfer with a KHQR reference is a TransferAsset)."""
    return "TransferAsset" if isinstance(command, c.TransferWithReference) else type(command).__name__


def command_failure(command: c.Command, error_code: str, message: str) -> tuple[str, int]:
    """(Iroha command name, Iroha's error number) for ``command`` failing with our ``error_code``."""
    name = iroha_command_name(command)
    if name == "TransferAsset" and error_code == e.NO_SUCH_ACCOUNT:
        dest = getattr(command, "dest_account_id", None)
        if message == f"account {dest} does not exist":  # node.ledger.records.require_account's words
            return name, NO_DESTINATION
    return name, ERROR_NUMBERS.get(name, {}).get(error_code, INTERNAL)


def transaction_failure(error_code: str, message: str) -> tuple[str, int, int]:
    """(err_or_cmd_name, error number, failed_cmd_index) for a transaction refused as a whole in a block
    (no failing command)."""
    if error_code in _SIGNATURE_CODES:
        return SIGNATURES, 2, 0
    if error_code == BATCH_MEMBER_FAILED:
        return "", INTERNAL, _NO_INDEX
    return f"{error_code}: {message}", INTERNAL, 0  # ours (e.g. expired at block time): the code and why


def iroha_status(name: str) -> endpoint_pb2.TxStatus.ValueType:
    """Iroha's TxStatus number for one of our status names (they share Iroha's names)."""
    return endpoint_pb2.TxStatus.Value(name)


def torii_response(status: Mapping[str, Any], command: c.Command | None = None,
                   stage: str | None = None) -> endpoint_pb2.ToriiResponse:
    """A ToriiResponse from a status (``status_json``'s shape). ``command`` is the failing command of a
    transaction rejected in a block (None: refused as a whole); ``stage`` overrides the status name
    (STATEFUL_VALIDATION_FAILED, reported before REJECTED as Iroha does)."""
    name = stage or str(status["status"])
    response = endpoint_pb2.ToriiResponse(tx_status=iroha_status(name), tx_hash=str(status["hash"] or ""))
    code = status.get("error_code")
    if code is None:
        return response
    message = str(status.get("message") or "")
    if str(status["status"]) == TxStatus.REJECTED:
        if command is not None:
            response.err_or_cmd_name, response.error_code = command_failure(command, str(code), message)
            response.failed_cmd_index = int(status.get("command_index") or 0)
        else:
            response.err_or_cmd_name, response.error_code, response.failed_cmd_index = (
                transaction_failure(str(code), message))
        return response
    # A refusal before any block (stateless, or a state the intake checked): Iroha's error text.
    response.err_or_cmd_name = f"{code}: {message}" if message else str(code)
    return response
