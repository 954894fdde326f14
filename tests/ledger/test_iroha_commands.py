"""Iroha commands, as the official client builds them, become the ledger's own command records.

The official client (tests/iroha_client.py) builds the transactions; our generated classes parse the
bytes and node.ledger.iroha_commands maps the commands. Each supported command must give the record a
native client would have sent for the same intent; what we do not support, and values our ledger
rejects, must give a StatelessError with a stable code that names the command and its index.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from node.ledger import commands as c
from node.ledger.errors import StatelessError
from node.ledger.iroha_commands import (
    GRANTABLE_PERMISSION_NAMES,
    IROHA_ONLY_GRANTABLE_PERMISSIONS,
    IROHA_ONLY_ROLE_PERMISSIONS,
    ROLE_PERMISSION_NAMES,
    command_from_iroha,
    commands_from_iroha,
)
from node.ledger.iroha_proto import commands_pb2, primitive_pb2, transaction_pb2
from node.ledger.permissions import GRANTABLE_PERMISSIONS, ROLE_PERMISSIONS
from tests.iroha_client import run_official

LEGACY_SEED = "f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70"
STANDARD_SEED = "22" * 32
PEER_RAW = bytes.fromhex("cd" * 32)

# Runs in the official client's venv: {"keys": {...}, "txs": {name: transaction hex}}. Every refused
# command follows a valid one, so its index in the transaction is 1.
BUILD = r"""
import binascii, json, sys
import nacl.signing
from iroha import Iroha, IrohaCrypto, primitive_pb2

legacy_seed, standard_seed, peer_hex = sys.argv[1], sys.argv[2], sys.argv[3]
legacy_pub = IrohaCrypto.derive_public_key(legacy_seed).decode()
standard_pub = IrohaCrypto.derive_public_key(nacl.signing.SigningKey(binascii.unhexlify(standard_seed)))
cmd = Iroha.command
iroha = Iroha("admin@nbc")
supported = [
    cmd("CreateDomain", domain_id="aclb", default_role="customer"),
    cmd("CreateAccount", account_name="alice", domain_id="aclb", public_key=legacy_pub),
    cmd("CreateAsset", asset_name="usd", domain_id="nbc", precision=2),
    cmd("AddAssetQuantity", asset_id="usd#nbc", amount="1500.50", description="issue"),
    cmd("SubtractAssetQuantity", asset_id="usd#nbc", amount="0.50"),
    cmd("TransferAsset", src_account_id="admin@nbc", dest_account_id="alice@aclb", asset_id="usd#nbc",
        description="salary", amount="100.25"),
    cmd("AddSignatory", account_id="alice@aclb", public_key=standard_pub),
    cmd("RemoveSignatory", account_id="alice@aclb", public_key=legacy_pub),
    cmd("SetAccountQuorum", account_id="alice@aclb", quorum=2),
    cmd("CreateRole", role_name="teller", permissions=[
        primitive_pb2.can_transfer, primitive_pb2.can_receive, primitive_pb2.can_get_my_acc_ast,
        primitive_pb2.can_receive]),
    cmd("AppendRole", account_id="alice@aclb", role_name="teller"),
    cmd("DetachRole", account_id="alice@aclb", role_name="teller"),
    cmd("GrantPermission", account_id="bob@aclb", permission=primitive_pb2.can_transfer_my_assets),
    cmd("RevokePermission", account_id="bob@aclb", permission=primitive_pb2.can_set_my_quorum),
    cmd("SetAccountDetail", account_id="alice@aclb", key="kyc_level", value="2"),
    cmd("CompareAndSetAccountDetail", account_id="alice@aclb", key="kyc_level", value="3", old_value="2",
        check_empty=True),
    cmd("CompareAndSetAccountDetail", account_id="alice@aclb", key="branch", value="pp", check_empty=True),
    cmd("CompareAndSetAccountDetail", account_id="alice@aclb", key="branch", value="pp"),
    cmd("AddPeer", peer=primitive_pb2.Peer(address="10.0.0.5:10001", peer_key=peer_hex)),
    cmd("AddPeer", peer=primitive_pb2.Peer(address="observer.nbc.gov.kh:10001", peer_key="ed0120" + peer_hex,
                                           syncing_peer=True)),
    cmd("RemovePeer", public_key=peer_hex),
]
refused = {
    "call_engine": cmd("CallEngine", caller="alice@aclb", callee="7c370993fd90af204fd582004e2e54e6a94f2651",
                       input="40c10f19"),
    "set_setting_value": cmd("SetSettingValue", key="MaxDescriptionSize", value="255"),
    "legacy_compare_and_set": cmd("CompareAndSetAccountDetail", account_id="alice@aclb", key="k", value="v",
                                  old_value="u"),
    "peer_with_certificate": cmd("AddPeer", peer=primitive_pb2.Peer(
        address="10.0.0.6:10001", peer_key=peer_hex, tls_certificate="-----BEGIN CERTIFICATE-----")),
    "engine_role": cmd("CreateRole", role_name="evm", permissions=[primitive_pb2.can_transfer,
                                                                   primitive_pb2.can_call_engine]),
    "engine_grant": cmd("GrantPermission", account_id="bob@aclb",
                        permission=primitive_pb2.can_call_engine_on_my_behalf),
    "zero_amount": cmd("AddAssetQuantity", asset_id="usd#nbc", amount="0"),
    "negative_amount": cmd("TransferAsset", src_account_id="admin@nbc", dest_account_id="alice@aclb",
                           asset_id="usd#nbc", description="", amount="-5"),
    "quorum_zero": cmd("SetAccountQuorum", account_id="alice@aclb", quorum=0),
    "bad_key": cmd("CreateAccount", account_name="carol", domain_id="aclb", public_key="not hex"),
    "short_key": cmd("AddSignatory", account_id="alice@aclb", public_key="ab" * 31),
    "precision_too_high": cmd("CreateAsset", asset_name="btc", domain_id="nbc", precision=19),
    "account_without_domain": cmd("TransferAsset", src_account_id="admin@nbc", dest_account_id="alice",
                                  asset_id="usd#nbc", description="", amount="1"),
    "detail_key_with_dash": cmd("SetAccountDetail", account_id="alice@aclb", key="kyc-level", value="2"),
}
first = cmd("SetAccountDetail", account_id="admin@nbc", key="note", value="x")
txs = {"supported": iroha.transaction(supported, created_time=1)}
txs.update({name: iroha.transaction([first, command], created_time=1) for name, command in refused.items()})
print(json.dumps({"keys": {"legacy": legacy_pub, "standard": standard_pub},
                  "txs": {name: tx.SerializeToString().hex() for name, tx in txs.items()}}))
"""


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    out: dict[str, Any] = json.loads(run_official(BUILD, LEGACY_SEED, STANDARD_SEED, PEER_RAW.hex()))
    return out


def commands_of(built: dict[str, Any], name: str) -> Any:
    tx = transaction_pb2.Transaction.FromString(bytes.fromhex(built["txs"][name]))
    return tx.payload.reduced_payload.commands


def test_every_supported_iroha_command_becomes_the_record_a_native_client_would_send(built: dict[str, Any]) -> None:
    legacy = bytes.fromhex(built["keys"]["legacy"])
    standard = bytes.fromhex(built["keys"]["standard"].removeprefix("ed0120"))
    assert commands_from_iroha(commands_of(built, "supported")) == (
        c.CreateDomain("aclb", "customer"),
        c.CreateAccount("alice", "aclb", legacy),
        c.CreateAsset("usd", "nbc", 2),
        c.AddAssetQuantity("usd#nbc", "1500.50"),  # Iroha's optional description has no field here
        c.SubtractAssetQuantity("usd#nbc", "0.50"),
        c.TransferAsset("admin@nbc", "alice@aclb", "usd#nbc", "salary", "100.25"),
        c.AddSignatory("alice@aclb", standard),
        c.RemoveSignatory("alice@aclb", legacy),
        c.SetAccountQuorum("alice@aclb", 2),
        c.CreateRole("teller", ("can_get_my_acc_ast", "can_receive", "can_transfer")),  # sorted, unique
        c.AppendRole("alice@aclb", "teller"),
        c.DetachRole("alice@aclb", "teller"),
        c.GrantPermission("bob@aclb", "can_transfer_my_assets"),
        c.RevokePermission("bob@aclb", "can_set_my_quorum"),
        c.SetAccountDetail("alice@aclb", "kyc_level", "2"),
        c.CompareAndSetAccountDetail("alice@aclb", "kyc_level", "3", "2"),
        c.CompareAndSetAccountDetail("alice@aclb", "branch", "pp", None),  # must not exist yet
        c.CompareAndSetAccountDetail("alice@aclb", "branch", "pp", None),  # the same without check_empty
        c.AddPeer("10.0.0.5:10001", PEER_RAW, "peer_" + PEER_RAW[:8].hex(), False),
        c.AddPeer("observer.nbc.gov.kh:10001", PEER_RAW, "peer_" + PEER_RAW[:8].hex(), True),
        c.RemovePeer(PEER_RAW),
    )


@pytest.mark.parametrize(("name", "code", "words"), [
    ("call_engine", "unsupported_command", "CallEngine"),
    ("set_setting_value", "unsupported_command", "SetSettingValue"),
    ("legacy_compare_and_set", "unsupported_option", "check_empty"),
    ("peer_with_certificate", "unsupported_option", "TLS certificate"),
    ("engine_role", "unsupported_permission", "can_call_engine"),
    ("engine_grant", "unsupported_permission", "can_call_engine_on_my_behalf"),
    ("zero_amount", "bad_amount", "greater than zero"),
    ("negative_amount", "bad_amount", "'-5'"),
    ("quorum_zero", "bad_quorum", "1..128"),
    ("bad_key", "bad_public_key", "'not hex'"),
    ("short_key", "bad_public_key", "64 hex"),
    ("precision_too_high", "bad_precision", "0..18"),
    ("account_without_domain", "bad_account_id", "'alice'"),
    ("detail_key_with_dash", "bad_detail_key", "[A-Za-z0-9_]"),
])
def test_an_unsupported_or_invalid_command_is_refused_with_a_typed_error_naming_it_and_its_index(
        built: dict[str, Any], name: str, code: str, words: str) -> None:
    pb = commands_of(built, name)
    with pytest.raises(StatelessError) as refused:
        commands_from_iroha(pb)
    command_name = type(getattr(pb[1], pb[1].WhichOneof("command"))).__name__
    assert refused.value.code == code
    assert refused.value.message.startswith(f"command 1 ({command_name}): ")
    assert words in refused.value.message


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(StatelessError) as refused:
        command_from_iroha(commands_pb2.Command())
    assert refused.value.code == "bad_command"


def test_a_permission_number_iroha_does_not_define_is_a_bad_permission() -> None:
    command = commands_pb2.Command()
    command.create_role.role_name = "odd"
    command.create_role.permissions.append(999)  # proto3 enums are open: the number survives parsing
    with pytest.raises(StatelessError) as refused:
        command_from_iroha(command)
    assert (refused.value.code, refused.value.message) == ("bad_permission", "unknown Iroha role permission number 999")


def test_every_iroha_permission_maps_to_ours_by_name_except_the_documented_engine_ones() -> None:
    iroha_roles = {v.name: v.number for v in primitive_pb2.RolePermission.DESCRIPTOR.values}
    assert {name for name in iroha_roles if name not in ROLE_PERMISSIONS} == IROHA_ONLY_ROLE_PERMISSIONS
    assert {n: name for name, n in iroha_roles.items() if name in ROLE_PERMISSIONS} == ROLE_PERMISSION_NAMES
    assert len(ROLE_PERMISSION_NAMES) == 48
    iroha_grants = {v.name: v.number for v in primitive_pb2.GrantablePermission.DESCRIPTOR.values}
    assert {name for name in iroha_grants if name not in GRANTABLE_PERMISSIONS} == IROHA_ONLY_GRANTABLE_PERMISSIONS
    assert set(GRANTABLE_PERMISSION_NAMES.values()) == GRANTABLE_PERMISSIONS
