"""The ledger's transactions and blocks as Iroha 1.6 messages (docs/iroha.md, "Torii queries").

- An Iroha transaction (``IrohaTransaction``) is served as the protobuf bytes the node received, so
  the client re-derives its hash (sha3_256 of the payload) and checks its signatures.
- A native transaction is rendered: its commands become Iroha's command messages, its creator, time
  and quorum the reduced payload, its signatures ``Signature``s with ``ed0120`` keys. Its Iroha hash
  (sha3_256 of the rendered payload) differs from its ledger id (sha256 of our encoding), and its
  signatures are over our signing digest, not over the rendered payload: a client can read it, not
  verify it. Commands without an Iroha counterpart (FreezeAccount, UnfreezeAccount) are left out.
- A block is a ``Block_v1`` whose height counts from 1 (ours from 0), whose ``prev_block_hash`` is our
  previous block's hash, and whose signatures are the commit certificate's precommit signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from consensus.certificate import CommitCertificate
from node.ledger import commands as c
from node.ledger.blocks import Block
from node.ledger.iroha_crypto import STANDARD_PREFIX
from node.ledger.iroha_proto import block_pb2, commands_pb2, primitive_pb2, transaction_pb2
from node.ledger.iroha_tx import IrohaTransaction
from node.ledger.transactions import Transaction

HEIGHT_OFFSET = 1
"""Iroha numbers the genesis block 1, we number it 0: an Iroha height is ours plus one."""


def iroha_height(height: int) -> int:
    return height + HEIGHT_OFFSET


def ledger_height(iroha: int) -> int:
    return iroha - HEIGHT_OFFSET


def standard_key_text(key: bytes) -> str:
    """A 32-byte Ed25519 key as Iroha writes a standard key (our native keys are standard Ed25519)."""
    return (STANDARD_PREFIX + key).hex()


def _role_numbers(names: tuple[str, ...]) -> list[primitive_pb2.RolePermission.ValueType]:
    values = primitive_pb2.RolePermission.DESCRIPTOR.values_by_name
    # Our own additions (can_freeze_account ...) have no Iroha number and are not shown.
    return [primitive_pb2.RolePermission.ValueType(values[name].number) for name in names if name in values]


def _grantable(name: str) -> primitive_pb2.GrantablePermission.ValueType:
    # Every grantable permission of ours is one of Iroha's (node.ledger.permissions keeps Iroha's names).
    return primitive_pb2.GrantablePermission.Value(name)


def _compare_and_set(cmd: c.CompareAndSetAccountDetail) -> commands_pb2.Command:
    m = commands_pb2.CompareAndSetAccountDetail(account_id=cmd.account_id, key=cmd.key, value=cmd.value,
                                                check_empty=True)
    if cmd.old_value is not None:
        m.old_value = cmd.old_value
    return commands_pb2.Command(compare_and_set_account_detail=m)


def _add_peer(cmd: c.AddPeer) -> commands_pb2.Command:
    peer = primitive_pb2.Peer(address=cmd.address, peer_key=cmd.public_key.hex(), syncing_peer=cmd.syncing)
    return commands_pb2.Command(add_peer=commands_pb2.AddPeer(peer=peer))


def _transfer(cmd: c.TransferAsset) -> commands_pb2.Command:
    return commands_pb2.Command(transfer_asset=commands_pb2.TransferAsset(
        src_account_id=cmd.src_account_id, dest_account_id=cmd.dest_account_id, asset_id=cmd.asset_id,
        description=cmd.description, amount=cmd.amount))


# Our command type -> its Iroha message. TransferWithReference is a TransferAsset (its subclass): its
# reference has no Iroha field and is not shown.
_RENDER: Mapping[type[c.Command], Callable[[Any], commands_pb2.Command]] = {
    c.CreateDomain: lambda m: commands_pb2.Command(create_domain=commands_pb2.CreateDomain(
        domain_id=m.domain_id, default_role=m.default_role)),
    c.CreateAccount: lambda m: commands_pb2.Command(create_account=commands_pb2.CreateAccount(
        account_name=m.account_name, domain_id=m.domain_id, public_key=standard_key_text(m.public_key))),
    c.CreateAsset: lambda m: commands_pb2.Command(create_asset=commands_pb2.CreateAsset(
        asset_name=m.asset_name, domain_id=m.domain_id, precision=m.precision)),
    c.AddAssetQuantity: lambda m: commands_pb2.Command(add_asset_quantity=commands_pb2.AddAssetQuantity(
        asset_id=m.asset_id, amount=m.amount)),
    c.SubtractAssetQuantity: lambda m: commands_pb2.Command(
        subtract_asset_quantity=commands_pb2.SubtractAssetQuantity(asset_id=m.asset_id, amount=m.amount)),
    c.TransferAsset: _transfer,
    c.TransferWithReference: _transfer,
    c.AddSignatory: lambda m: commands_pb2.Command(add_signatory=commands_pb2.AddSignatory(
        account_id=m.account_id, public_key=standard_key_text(m.public_key))),
    c.RemoveSignatory: lambda m: commands_pb2.Command(remove_signatory=commands_pb2.RemoveSignatory(
        account_id=m.account_id, public_key=standard_key_text(m.public_key))),
    c.SetAccountQuorum: lambda m: commands_pb2.Command(set_account_quorum=commands_pb2.SetAccountQuorum(
        account_id=m.account_id, quorum=m.quorum)),
    c.CreateRole: lambda m: commands_pb2.Command(create_role=commands_pb2.CreateRole(
        role_name=m.role_name, permissions=_role_numbers(m.permissions))),
    c.AppendRole: lambda m: commands_pb2.Command(append_role=commands_pb2.AppendRole(
        account_id=m.account_id, role_name=m.role_name)),
    c.DetachRole: lambda m: commands_pb2.Command(detach_role=commands_pb2.DetachRole(
        account_id=m.account_id, role_name=m.role_name)),
    c.GrantPermission: lambda m: commands_pb2.Command(grant_permission=commands_pb2.GrantPermission(
        account_id=m.account_id, permission=_grantable(m.permission))),
    c.RevokePermission: lambda m: commands_pb2.Command(revoke_permission=commands_pb2.RevokePermission(
        account_id=m.account_id, permission=_grantable(m.permission))),
    c.SetAccountDetail: lambda m: commands_pb2.Command(set_account_detail=commands_pb2.SetAccountDetail(
        account_id=m.account_id, key=m.key, value=m.value)),
    c.CompareAndSetAccountDetail: _compare_and_set,
    c.AddPeer: _add_peer,
    c.RemovePeer: lambda m: commands_pb2.Command(remove_peer=commands_pb2.RemovePeer(
        public_key=standard_key_text(m.public_key))),
}


def iroha_commands(commands: tuple[c.Command, ...] | list[c.Command]) -> list[commands_pb2.Command]:
    """Our commands as Iroha's, in order; those without an Iroha counterpart are left out."""
    out = []
    for cmd in commands:
        render = _RENDER.get(type(cmd))
        if render is not None:
            out.append(render(cmd))
    return out


def rendered_transaction(tx: Transaction, commands: list[c.Command] | None = None) -> transaction_pb2.Transaction:
    """A native transaction (or only ``commands`` of any transaction) rendered as Iroha's message."""
    shown = list(tx.payload.commands) if commands is None else commands
    payload = transaction_pb2.Transaction.Payload()
    reduced = payload.reduced_payload
    reduced.commands.extend(iroha_commands(shown))
    reduced.creator_account_id = tx.payload.creator
    reduced.created_time = tx.payload.created_ms
    reduced.quorum = tx.payload.quorum
    message = transaction_pb2.Transaction(payload=payload)
    if commands is None:  # a redacted copy carries no signatures: they were over the whole transaction
        for key, signature in tx.signatures:
            message.signatures.add(public_key=standard_key_text(key), signature=signature.hex())
    return message


def transaction_message(tx: Transaction) -> transaction_pb2.Transaction:
    """What an Iroha client receives for ``tx``: its original bytes if it came as Iroha's, else a rendering."""
    if isinstance(tx, IrohaTransaction):
        return transaction_pb2.Transaction.FromString(tx.protobuf_bytes())
    return rendered_transaction(tx)


def block_message(block: Block, certificate: bytes | None) -> block_pb2.Block:
    """Our block as Iroha's ``Block`` (``block_v1``): every transaction it orders (the rejected ones are
    named in ``rejected_transactions_hashes``, as Iroha does, and left out of ``transactions``)."""
    h = block.header
    rejected = set(h.rejected)
    payload = block_pb2.Block_v1.Payload(
        height=iroha_height(h.height), prev_block_hash=h.prev_hash.hex(), created_time=h.created_ms,
        rejected_transactions_hashes=[x.hex() for x in h.rejected])
    payload.transactions.extend(transaction_message(tx) for tx in block.transactions if tx.hash not in rejected)
    payload.tx_number = len(payload.transactions)
    v1 = block_pb2.Block_v1(payload=payload)
    if certificate:
        for key, signature in CommitCertificate.decode(certificate).signatures:
            v1.signatures.add(public_key=standard_key_text(key), signature=signature.hex())
    return block_pb2.Block(block_v1=v1)
