"""The ledger's transactions and blocks as Iroha messages (node.api.torii.iroha_render): a native command
rendered and read back by the ledger's own Iroha reader is the same command; what has no Iroha
counterpart is left out; a Block_v1 counts heights from 1, leaves rejected transactions out and carries
the commit certificate's signers."""

from __future__ import annotations

import hashlib

import pytest

from consensus.certificate import CommitCertificate
from consensus.crypto import KeyPair
from node.api.torii.iroha_render import block_message, iroha_commands, rendered_transaction, transaction_message
from node.ledger import commands as c
from node.ledger.blocks import BlockHeader, make_block
from node.ledger.iroha_commands import command_from_iroha, peer_name
from node.ledger.iroha_crypto import standard_public_key, standard_sign
from node.ledger.iroha_proto import commands_pb2, transaction_pb2
from node.ledger.iroha_tx import decode_iroha_transaction
from node.ledger.transactions import TxPayload, build_transaction

KEY = KeyPair.from_seed(bytes(range(32)))
PK = KEY.public_key
ALICE = "alice@aclb"

ROUND_TRIPS = [
    c.CreateDomain("gold", "customer"),
    c.CreateAccount("kosal", "aclb", PK),
    c.CreateAsset("gold", "nbc", 3),
    c.AddAssetQuantity("khr#nbc", "10.50"),
    c.SubtractAssetQuantity("khr#nbc", "0.50"),
    c.TransferAsset(ALICE, "bob@abaa", "khr#nbc", "rent", "12.00"),
    c.AddSignatory(ALICE, PK),
    c.RemoveSignatory(ALICE, PK),
    c.SetAccountQuorum(ALICE, 2),
    c.CreateRole("auditor", ("can_get_all_acc_txs", "can_read_assets")),
    c.AppendRole(ALICE, "auditor"),
    c.DetachRole(ALICE, "auditor"),
    c.GrantPermission("bob@abaa", "can_transfer_my_assets"),
    c.RevokePermission("bob@abaa", "can_set_my_quorum"),
    c.SetAccountDetail(ALICE, "kyc", "verified"),
    c.CompareAndSetAccountDetail(ALICE, "kyc", "checked", None),
    c.CompareAndSetAccountDetail(ALICE, "kyc", "checked", "verified"),
    c.AddPeer("10.0.0.7:7100", PK, peer_name(PK), True),
    c.RemovePeer(PK),
]


@pytest.mark.parametrize("command", ROUND_TRIPS, ids=lambda cmd: type(cmd).__name__)
def test_a_rendered_native_command_reads_back_as_itself(command: c.Command) -> None:
    rendered, = iroha_commands([command])
    assert command_from_iroha(rendered) == command


def test_what_iroha_cannot_say_is_left_out() -> None:
    paid = c.TransferWithReference(ALICE, "bob@abaa", "khr#nbc", "coffee", "1.00", "ab" * 16, "INV-1")
    rendered = iroha_commands([c.FreezeAccount(ALICE, "court order"), paid, c.UnfreezeAccount(ALICE, "lifted"),
                               c.CreateRole("freezer", ("can_freeze_account", "can_transfer"))])
    assert [r.WhichOneof("command") for r in rendered] == ["transfer_asset", "create_role"]
    assert command_from_iroha(rendered[0]) == c.TransferAsset(ALICE, "bob@abaa", "khr#nbc", "coffee", "1.00")
    assert command_from_iroha(rendered[1]) == c.CreateRole("freezer", ("can_transfer",))


def test_a_native_transaction_renders_its_payload_and_signatures() -> None:
    tx = build_transaction(TxPayload("bakong-testnet", ALICE, 1_800_000_000_123, 2,
                                     (c.SetAccountDetail(ALICE, "kyc", "ok"),)), KEY)
    message = transaction_message(tx)
    reduced = message.payload.reduced_payload
    assert (reduced.creator_account_id, reduced.created_time, reduced.quorum) == (ALICE, 1_800_000_000_123, 2)
    assert [(s.public_key, s.signature) for s in message.signatures] == [
        ("ed0120" + PK.hex(), tx.signatures[0][1].hex())]
    redacted = rendered_transaction(tx, [])
    assert not redacted.signatures and not redacted.payload.reduced_payload.commands


def test_block_v1_heights_rejected_transactions_and_certificate_signers() -> None:
    native = build_transaction(TxPayload("bakong-testnet", ALICE, 1, 1, (c.SetAccountQuorum(ALICE, 1),)), KEY)
    payload = transaction_pb2.Transaction.Payload()
    payload.reduced_payload.creator_account_id, payload.reduced_payload.created_time = ALICE, 2
    payload.reduced_payload.quorum = 1
    payload.reduced_payload.commands.append(commands_pb2.Command(
        set_account_detail=commands_pb2.SetAccountDetail(account_id=ALICE, key="k", value="v")))
    signed = transaction_pb2.Transaction(payload=payload)
    raw = payload.SerializeToString()
    signed.signatures.add(public_key=standard_public_key(KEY.seed).text, signature=standard_sign(KEY.seed, raw).hex())
    iroha = decode_iroha_transaction(signed.SerializeToString())
    header = BlockHeader(6, b"\x11" * 32, 1_800_000_000_000, PK, b"\x22" * 32, b"\x33" * 32, (native.hash,))
    block = make_block(header, (native, iroha))
    validators = sorted([KeyPair.generate() for _ in range(3)], key=lambda k: k.public_key)
    certificate = CommitCertificate(6, 0, hashlib.sha256(b"value").digest(),
                                    tuple((k.public_key, b"\x44" * 64) for k in validators)).encode()
    v1 = block_message(block, certificate).block_v1
    p = v1.payload
    assert (p.height, p.prev_block_hash, p.created_time, p.tx_number) == (7, "11" * 32, 1_800_000_000_000, 1)
    assert list(p.rejected_transactions_hashes) == [native.hash.hex()]
    assert [t.SerializeToString() for t in p.transactions] == [signed.SerializeToString()]
    assert [(s.public_key, s.signature) for s in v1.signatures] == [
        ("ed0120" + k.public_key.hex(), "44" * 64) for k in validators]
    assert not block_message(block, None).block_v1.signatures
