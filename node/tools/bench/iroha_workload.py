"""``--format iroha``: the transfer pool as Iroha 1 transactions (issue 18, Performance).

The same draws as the native transfer pool (``workload._draws``: senders, receivers, assets, amounts,
the invalid share), each built as an ``iroha.protocol.Transaction`` with our generated classes, as a
bank's integration through Torii would send it: one TransferAsset, creator = sender, quorum 1. Every
other transaction is signed with each key kind: even ones standard (``ed0120``; Ed25519 over the payload
bytes), odd ones legacy (Ed25519/SHA3-512 over sha3_256 of them), both with the sender's one key (a
signatory is the point: docs/iroha.md, "Signatories"). Submitted as our envelope of the protobuf bytes
through the same HTTP API as native ones; the hash tracked is Iroha's. Signed before the clock starts.
"""

from __future__ import annotations

import hashlib

import nacl.signing

from consensus.crypto import KeyPair
from node.ledger.iroha_crypto import IrohaPublicKey, KeyKind, legacy_pair_of_standard_seed, legacy_sign_expanded
from node.ledger.iroha_proto import commands_pb2, primitive_pb2, transaction_pb2
from node.ledger.iroha_tx import wrap_iroha
from node.tools.bench.workload import BAD_SIGNATURE, OVERDRAFT_AMOUNT, Workload, _amount, _draws


def build_iroha_workload(n: int, accounts: list[str], key: KeyPair, invalid_share: float, seed: int,
                         now_ms: int) -> Workload:
    """``n`` Iroha-format transfers between ``accounts``, half of them signed with a legacy-kind signature."""
    standard = nacl.signing.SigningKey(key.seed)
    legacy = legacy_pair_of_standard_seed(key.seed)
    standard_text = IrohaPublicKey(KeyKind.STANDARD, key.public_key).text
    legacy_text = IrohaPublicKey(KeyKind.LEGACY, key.public_key).text
    encoded: list[bytes] = []
    hashes: list[str] = []
    kinds: list[int] = []
    for i, (kind, a, b, asset, minor) in enumerate(_draws(n, accounts, invalid_share, seed)):
        tx = transaction_pb2.Transaction()
        reduced = tx.payload.reduced_payload
        reduced.creator_account_id = accounts[a]
        reduced.created_time = now_ms - i
        reduced.quorum = 1
        reduced.commands.append(commands_pb2.Command(transfer_asset=commands_pb2.TransferAsset(
            src_account_id=accounts[a], dest_account_id=accounts[b], asset_id=asset, description="",
            amount=OVERDRAFT_AMOUNT if minor is None else _amount(minor))))
        payload = tx.payload.SerializeToString()
        if i % 2 == 0:
            signature, text = bytes(standard.sign(payload).signature), standard_text
        else:
            signature, text = legacy_sign_expanded(legacy, payload), legacy_text
        if kind == BAD_SIGNATURE:
            signature = bytes(64)
        tx.signatures.append(primitive_pb2.Signature(public_key=text, signature=signature.hex()))
        encoded.append(wrap_iroha(tx.SerializeToString()))
        hashes.append(hashlib.sha3_256(payload).hexdigest())
        kinds.append(kind)
    return Workload(encoded, hashes, kinds)


__all__ = ["build_iroha_workload"]
