"""Typed world-state records keep the stored bytes, errors carry their HTTP status, statuses are one type.

The state root covers the encoded rows, so a record must encode to exactly the array the row held
before records existed: each case below pairs a record with that array, written out by hand.
"""

from __future__ import annotations

import pytest

from consensus import codec
from node.ledger import errors as e
from node.ledger.errors import CommandError, InvalidBlock, LedgerError, QueryError, StatelessError
from node.ledger.records import Account, Asset, Domain, Grants, Peer, Role, decode_row, encode_row
from node.ledger.statuses import FINAL, TxStatus
from storage import keys

PK = bytes(range(32))
OTHER = bytes(range(1, 33))

ROWS = [
    (keys.account("alice@aclb"), Account(2, ("bank_admin", "customer"), (PK, OTHER)),
     [2, ["bank_admin", "customer"], [PK, OTHER]]),
    (keys.domain("aclb"), Domain("customer"), ["customer"]),
    (keys.asset("khr#nbc"), Asset(2), [2]),
    (keys.role("customer"), Role(frozenset({"can_transfer", "can_receive"})), ["can_receive", "can_transfer"]),
    (keys.grant("bob@aclb", "alice@aclb"), Grants(frozenset({"can_set_my_quorum", "can_add_my_signatory"})),
     ["can_add_my_signatory", "can_set_my_quorum"]),
    (keys.peer(PK), Peer(PK, "10.0.0.1:7100", "nbc", False), ["10.0.0.1:7100", "nbc", False]),
    (keys.balance("alice@aclb", "khr#nbc"), 150050, 150050),
    (keys.detail("alice@aclb", "alice@aclb", "phone"), "+855", "+855"),
]


@pytest.mark.parametrize(("key", "value", "array"), ROWS, ids=[type(v).__name__ for _k, v, _a in ROWS])
def test_a_record_is_stored_as_the_array_its_row_always_held(key: bytes, value: object, array: object) -> None:
    raw = codec.encode_trusted(array)
    assert encode_row(value) == raw  # type: ignore[arg-type]
    assert decode_row(key, raw) == value


def test_a_peer_record_takes_its_public_key_from_the_row_key() -> None:
    peer = decode_row(keys.peer(PK), codec.encode_trusted(["host:7100", "abaa", True]))
    assert peer == Peer(PK, "host:7100", "abaa", True)
    assert isinstance(peer, Peer) and peer.observer and peer.host_port == ("host", 7100)


def test_records_are_frozen() -> None:
    account = Account(1, ("customer",), (PK,))
    with pytest.raises(AttributeError):
        account.quorum = 2  # type: ignore[misc]


@pytest.mark.parametrize(("error", "status"), [
    (StatelessError("bad_signature", ""), 400),
    (CommandError(e.INSUFFICIENT_FUNDS, ""), 400),
    (InvalidBlock("state_root_mismatch", ""), 400),
    (QueryError(e.PERMISSION_DENIED, ""), 403),
    (QueryError(e.NOT_A_SIGNATORY, ""), 403),
    (QueryError(e.NO_SUCH_ACCOUNT, ""), 404),
    (QueryError(e.NO_SUCH_TRANSACTION, ""), 404),
    (QueryError("bad_page_size", ""), 400),
])
def test_a_ledger_error_names_the_http_status_an_api_answers_it_with(error: LedgerError, status: int) -> None:
    assert error.http_status == status


def test_a_status_is_its_iroha_name_in_every_encoding() -> None:
    assert TxStatus.COMMITTED == "COMMITTED"
    assert codec.encode_trusted([TxStatus.REJECTED]) == codec.encode_trusted(["REJECTED"])
    assert sorted(FINAL) == ["COMMITTED", "MST_EXPIRED", "REJECTED", "STATELESS_VALIDATION_FAILED"]
