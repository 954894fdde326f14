"""Iroha 1 commands (protobuf, ``iroha.protocol.Command``) as the ledger's own command records.

An Iroha transaction executes under the same rules as a native one, so its commands become the same
dataclasses (node.ledger.commands) and every field goes through the same ``check_*`` function a
native command's does: one rule, whichever format brought the value. What cannot be expressed that
way is refused with a StatelessError whose code says why:

- ``unsupported_command``: CallEngine (the EVM: this ledger runs no smart contracts) and
  SetSettingValue (Iroha accepts it in the genesis block only; our limits are node configuration).
- ``unsupported_option``: a command form whose meaning our record cannot carry (CompareAndSetAccountDetail
  with an old value and ``check_empty`` false; AddPeer with a TLS certificate).
- ``unsupported_permission``: an Iroha permission with no counterpart here (the engine ones).
- the checkers' own codes (``bad_account_id``, ``bad_amount``, ``bad_quorum``, ``bad_public_key`` ...)
  for values the ledger rejects, the message naming the command and its index.

What is dropped: the optional ``description`` of AddAssetQuantity / SubtractAssetQuantity (our records
have none; the node keeps the transaction's original bytes, so blocks still carry it). The reverse
mapping is not needed for the same reason: blocks serve the bytes the client signed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from node.ledger import commands as c
from node.ledger.errors import StatelessError
from node.ledger.iroha_crypto import parse_iroha_public_key
from node.ledger.iroha_proto import commands_pb2, primitive_pb2
from node.ledger.permissions import GRANTABLE_PERMISSIONS, ROLE_PERMISSIONS

UNSUPPORTED_COMMAND = "unsupported_command"
UNSUPPORTED_OPTION = "unsupported_option"
UNSUPPORTED_PERMISSION = "unsupported_permission"

# Iroha's role permissions that have no counterpart here: all concern the EVM (CallEngine and its
# receipts), which this ledger does not run. Every other Iroha permission keeps its Iroha name here.
IROHA_ONLY_ROLE_PERMISSIONS = frozenset({
    "can_call_engine", "can_get_my_engine_receipts", "can_get_domain_engine_receipts",
    "can_get_all_engine_receipts", "can_grant_can_call_engine_on_my_behalf",
})
IROHA_ONLY_GRANTABLE_PERMISSIONS = frozenset({"can_call_engine_on_my_behalf"})

# Iroha's enum number -> our permission name. The names are Iroha's own (node/ledger/permissions.py
# keeps them), so the table is the enum itself minus the names we lack; tests/ledger/test_iroha_commands.py
# checks that every Iroha value is either here or listed above. Our additions (can_create_domain_account,
# can_create_domain_asset, can_set_domain_detail, can_freeze_account) have no Iroha number: an Iroha
# client cannot put them in a role, the native API can.
ROLE_PERMISSION_NAMES: Mapping[int, str] = {
    value.number: value.name for value in primitive_pb2.RolePermission.DESCRIPTOR.values
    if value.name in ROLE_PERMISSIONS
}
GRANTABLE_PERMISSION_NAMES: Mapping[int, str] = {
    value.number: value.name for value in primitive_pb2.GrantablePermission.DESCRIPTOR.values
    if value.name in GRANTABLE_PERMISSIONS
}


def signatory_key(text: str) -> bytes:
    """The signatory our records store for an Iroha public key (hex, either kind): its 32-byte point.

    A signatory is the key, not the scheme: both of Iroha's kinds are Schnorr signatures over the same
    group, so a signature in either needs the key's secret scalar, and one account's native and Iroha
    transactions share its signatories and quorum. Each signature's kind travels with the transaction
    (``node.ledger.iroha_tx``) and decides how it verifies (docs/iroha.md, "Signatories").
    """
    return parse_iroha_public_key(text).raw


def peer_key(text: str) -> bytes:
    """A peer's key: its raw 32 bytes, whichever form the text has (our nodes sign with standard Ed25519)."""
    return parse_iroha_public_key(text).raw


def peer_name(key: bytes) -> str:
    """Iroha peers have no name, ours do: one derived from the key, stable and within ``[a-z_0-9]{1,32}``."""
    return f"peer_{key[:8].hex()}"


def role_permissions(values: Iterable[int]) -> tuple[str, ...]:
    """Iroha RolePermission numbers -> our names, sorted and unique as our CreateRole requires."""
    names = set()
    for value in values:
        name = ROLE_PERMISSION_NAMES.get(value)
        if name is None:
            raise _permission_error(primitive_pb2.RolePermission, value, "role")
        names.add(name)
    return c.check_role_permissions(sorted(names))


def grantable_permission(value: int) -> str:
    name = GRANTABLE_PERMISSION_NAMES.get(value)
    if name is None:
        raise _permission_error(primitive_pb2.GrantablePermission, value, "grantable")
    return c.check_grantable(name)


def _permission_error(enum: Any, value: int, what: str) -> StatelessError:
    try:
        name = enum.Name(value)
    except ValueError:
        return StatelessError("bad_permission", f"unknown Iroha {what} permission number {value}")
    return StatelessError(UNSUPPORTED_PERMISSION, f"Iroha {what} permission {name} is not supported here")


def _compare_and_set(m: commands_pb2.CompareAndSetAccountDetail) -> c.Command:
    # Ours: old_value None = the detail must be absent, else it must equal old_value; that is Iroha's
    # meaning with check_empty true, and with no old_value under either flag. With an old value and
    # check_empty false (Iroha's legacy rule) an ABSENT detail also matches: our record cannot say so.
    has_old = m.HasField("old_value")
    if has_old and not m.check_empty:
        raise StatelessError(UNSUPPORTED_OPTION, "CompareAndSetAccountDetail with old_value needs check_empty "
                             "true here (the legacy rule, an absent detail matching any old value, is not supported)")
    return c.CompareAndSetAccountDetail(
        c.check_account(m.account_id), c.check_detail_key(m.key), c.check_detail_value(m.value),
        c.check_detail_value(m.old_value) if has_old else None)


def _add_peer(m: commands_pb2.AddPeer) -> c.Command:
    if m.peer.HasField("tls_certificate"):
        raise StatelessError(UNSUPPORTED_OPTION, "AddPeer with a TLS certificate is not supported here "
                             "(peers authenticate by their key on our peer-to-peer protocol)")
    key = c.check_public_key(peer_key(m.peer.peer_key))
    return c.AddPeer(c.check_address(m.peer.address), key, peer_name(key), c.check_bool(m.peer.syncing_peer))


def _unsupported(why: str) -> Callable[[Any], c.Command]:
    def refuse(m: Any) -> c.Command:
        raise StatelessError(UNSUPPORTED_COMMAND, f"{type(m).__name__} is not supported: {why}")
    return refuse


# One entry per field of Iroha's ``Command`` oneof: the builder of our record from that message.
_BUILDERS: Mapping[str, Callable[[Any], c.Command]] = {
    "create_domain": lambda m: c.CreateDomain(c.check_domain(m.domain_id), c.check_role(m.default_role)),
    "create_account": lambda m: c.CreateAccount(
        c.check_name(m.account_name), c.check_domain(m.domain_id), c.check_public_key(signatory_key(m.public_key))),
    "create_asset": lambda m: c.CreateAsset(
        c.check_name(m.asset_name), c.check_domain(m.domain_id), c.check_precision(m.precision)),
    "add_asset_quantity": lambda m: c.AddAssetQuantity(c.check_asset(m.asset_id), c.check_amount(m.amount)),
    "subtract_asset_quantity": lambda m: c.SubtractAssetQuantity(c.check_asset(m.asset_id), c.check_amount(m.amount)),
    "transfer_asset": lambda m: c.TransferAsset(
        c.check_account(m.src_account_id), c.check_account(m.dest_account_id), c.check_asset(m.asset_id),
        c.check_description(m.description), c.check_amount(m.amount)),
    "add_signatory": lambda m: c.AddSignatory(
        c.check_account(m.account_id), c.check_public_key(signatory_key(m.public_key))),
    "remove_signatory": lambda m: c.RemoveSignatory(
        c.check_account(m.account_id), c.check_public_key(signatory_key(m.public_key))),
    "set_account_quorum": lambda m: c.SetAccountQuorum(c.check_account(m.account_id), c.check_quorum(m.quorum)),
    "create_role": lambda m: c.CreateRole(c.check_role(m.role_name), role_permissions(m.permissions)),
    "append_role": lambda m: c.AppendRole(c.check_account(m.account_id), c.check_role(m.role_name)),
    "detach_role": lambda m: c.DetachRole(c.check_account(m.account_id), c.check_role(m.role_name)),
    "grant_permission": lambda m: c.GrantPermission(c.check_account(m.account_id), grantable_permission(m.permission)),
    "revoke_permission": lambda m: c.RevokePermission(
        c.check_account(m.account_id), grantable_permission(m.permission)),
    "set_account_detail": lambda m: c.SetAccountDetail(
        c.check_account(m.account_id), c.check_detail_key(m.key), c.check_detail_value(m.value)),
    "compare_and_set_account_detail": _compare_and_set,
    "add_peer": _add_peer,
    "remove_peer": lambda m: c.RemovePeer(c.check_public_key(peer_key(m.public_key))),
    "set_setting_value": _unsupported("Iroha applies settings from the genesis block only; ours are configuration"),
    "call_engine": _unsupported("this ledger runs no EVM smart contracts"),
}


def command_from_iroha(command: commands_pb2.Command) -> c.Command:
    """One Iroha command as our record; StatelessError when it is empty, unsupported or invalid."""
    which = command.WhichOneof("command")
    if which is None:
        raise StatelessError("bad_command", "an Iroha command with none of its fields set")
    return _BUILDERS[which](getattr(command, which))


def commands_from_iroha(commands: Iterable[commands_pb2.Command]) -> tuple[c.Command, ...]:
    """A transaction's Iroha commands as ours, in order. A refusal keeps its code and names the command
    and its index (Iroha counts from 0, as ToriiResponse's failed_cmd_index does)."""
    out = []
    for index, command in enumerate(commands):
        try:
            out.append(command_from_iroha(command))
        except StatelessError as e:
            name = _command_name(command)
            raise StatelessError(e.code, f"command {index} ({name}): {e.message}") from None
    return tuple(out)


def _command_name(command: commands_pb2.Command) -> str:
    which = command.WhichOneof("command")
    return type(getattr(command, which)).__name__ if which else "empty"


__all__ = ["command_from_iroha", "commands_from_iroha", "signatory_key"]
