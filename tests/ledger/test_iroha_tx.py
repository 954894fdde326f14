"""Iroha 1 transactions in the ledger (issue 18, point 4): a transaction the OFFICIAL client built and
signed (``iroha`` 1.6.0.2, in its own venv) decodes to a ledger transaction with Iroha's own hash, its
signatures verify under both key kinds, and it executes under the same rules and state as a native one.
Real LevelDB in a temp dir."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus import codec
from node.ledger import commands as c
from node.ledger.errors import StatelessError
from node.ledger.iroha_crypto import KeyKind, legacy_public_key
from node.ledger.iroha_tx import IrohaTransaction, decode_iroha_transaction, wrap_iroha
from node.ledger.statuses import TxStatus
from node.ledger.transactions import decode_transaction
from node.ledger.validation import VerifiedSignatures, check_payload, check_signers
from tests.iroha_client import run_official
from tests.ledger_world import CHAIN, GENESIS_MS, KHR, Chain, genesis_document, key

LEGACY_SEED = hashlib.sha256(b"legacy key of lena@aclb").digest()
ALICE_SEED = hashlib.sha256(b"test-key:alice@aclb").digest()  # tests.ledger_world.key's derivation
BOB_SEED = hashlib.sha256(b"test-key:bob@aclb").digest()

# Runs in the official client's venv: builds and signs transactions as a bank's integration would.
# argv: a JSON list of {"creator", "created", "commands": [[name, {fields}]], "keys": [["std"|"legacy", seed hex]],
# "quorum"}; prints one JSON list of {"bytes": hex of Transaction.SerializeToString(), "hash": hex}.
CLIENT_SCRIPT = """
import binascii, json, sys
import nacl.signing
from iroha import Iroha, IrohaCrypto
out = []
for spec in json.loads(sys.argv[1]):
    iroha = Iroha(spec["creator"])
    commands = [Iroha.command(name, **fields) for name, fields in spec["commands"]]
    tx = iroha.transaction(commands, quorum=spec.get("quorum", 1), created_time=spec["created"])
    if spec.get("batch"):
        Iroha.batch([tx, iroha.transaction(commands, created_time=spec["created"] + 1)])
    keys = [nacl.signing.SigningKey(binascii.unhexlify(seed)) if kind == "std" else seed
            for kind, seed in spec["keys"]]
    if keys:
        IrohaCrypto.sign_transaction(tx, *keys)
    out.append({"bytes": tx.SerializeToString().hex(), "hash": binascii.hexlify(IrohaCrypto.hash(tx)).decode()})
print(json.dumps(out))
"""


def official(*specs: dict[str, object]) -> list[tuple[bytes, bytes]]:
    """(Transaction bytes, Iroha's hash) of each transaction the official client built and signed."""
    return [(bytes.fromhex(o["bytes"]), bytes.fromhex(o["hash"]))
            for o in json.loads(run_official(CLIENT_SCRIPT, json.dumps(list(specs))))]


def transfer(amount: str = "1.00", dest: str = "bob@aclb") -> list[object]:
    return ["TransferAsset", {"src_account_id": "alice@aclb", "dest_account_id": dest, "asset_id": KHR,
                              "description": "iroha", "amount": amount}]


class LegacyChain(Chain):
    """The test world plus lena@aclb, whose signatory is a LEGACY (ed25519/sha3) key."""

    def _open(self):  # type: ignore[no-untyped-def]
        from node.ledger.chain import Ledger
        from node.ledger.genesis import parse_genesis
        from storage.db import LedgerStore
        doc = genesis_document()
        doc["accounts"].append({"id": "lena@aclb", "public_key": legacy_public_key(LEGACY_SEED).raw.hex(),
                                "balances": {KHR: "20.00"}})
        ledger = Ledger(LedgerStore(self.path), self.chain_id)
        ledger.ensure_genesis(parse_genesis(doc))
        return ledger


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[LegacyChain]:
    ch = LegacyChain(tmp_path / "db")
    yield ch
    ch.close()


def test_an_official_client_transfer_decodes_with_irohas_hash_and_commits(chain: LegacyChain) -> None:
    created = chain.now + 1
    [(raw, client_hash)] = official({"creator": "alice@aclb", "created": created, "commands": [transfer("2.50")],
                                     "keys": [["std", ALICE_SEED.hex()]]})
    tx = decode_transaction(wrap_iroha(raw))
    assert isinstance(tx, IrohaTransaction)
    assert tx.hash == client_hash  # sha3_256 of the payload bytes, as the client computes it
    assert (tx.payload.creator, tx.payload.created_ms, tx.payload.quorum) == ("alice@aclb", created, 1)
    assert tx.payload.commands == (c.TransferAsset("alice@aclb", "bob@aclb", KHR, "iroha", "2.50"),)
    assert tx.signatures[0][0] == key("alice@aclb").public_key and tx.kinds == (KeyKind.STANDARD,)
    check_payload(tx, CHAIN, created)  # no chain id in an Iroha payload: any network's intake takes it
    check_signers(tx, chain.account("alice@aclb"))  # the same signatory as her native transactions
    VerifiedSignatures().check(tx)
    [result] = chain.run(tx)
    assert result.status == TxStatus.COMMITTED
    assert (chain.balance("alice@aclb"), chain.balance("bob@aclb")) == (100_000 - 250, 250)
    # The block keeps the bytes the client sent: read back, the transaction is the client's protobuf.
    block = chain.ledger.block(chain.ledger.head.height)
    assert block is not None
    [stored] = block.transactions
    assert isinstance(stored, IrohaTransaction) and stored.protobuf_bytes() == raw
    assert chain.ledger.tx_status(client_hash) is not None


def test_a_legacy_key_signs_for_its_account_and_a_tampered_copy_fails(chain: LegacyChain) -> None:
    lena = ["TransferAsset", {"src_account_id": "lena@aclb", "dest_account_id": "bob@aclb", "asset_id": KHR,
                              "description": "", "amount": "3.00"}]
    [(raw, client_hash)] = official({"creator": "lena@aclb", "created": chain.now + 1, "commands": [lena],
                                     "keys": [["legacy", LEGACY_SEED.hex()]]})
    tx = decode_iroha_transaction(raw)
    assert tx.kinds == (KeyKind.LEGACY,) and tx.hash == client_hash
    verified = VerifiedSignatures()
    verified.check(tx)
    assert verified.verifications == 1
    # The same (key, signature) claimed as a STANDARD key is another claim: it fails, and its failure
    # is not remembered against the genuine copy (whoever relays first cannot void the payment).
    relabelled = IrohaTransaction(tx.payload, tx.payload_bytes, tx.signatures, tx.hash, (KeyKind.STANDARD,))
    fresh = VerifiedSignatures()
    with pytest.raises(StatelessError) as refused:
        fresh.check(relabelled)
    assert refused.value.code == "bad_signature"
    fresh.check(tx)
    # A flipped payload byte: another hash, and the signature no longer verifies.
    flipped = bytearray(raw)
    flipped[raw.index(b"3.00")] = ord("9")
    with pytest.raises(StatelessError) as bad:
        VerifiedSignatures().check(decode_iroha_transaction(bytes(flipped)))
    assert bad.value.code == "bad_signature"
    assert chain.run(tx)[0].status == TxStatus.COMMITTED
    assert chain.balance("lena@aclb") == 2000 - 300


def test_copies_with_other_signatures_merge_and_keep_their_kinds(chain: LegacyChain) -> None:
    spec = {"creator": "alice@aclb", "created": chain.now + 1, "commands": [transfer()], "quorum": 2}
    [(first, _h1), (second, _h2)] = official({**spec, "keys": [["std", ALICE_SEED.hex()]]},
                                             {**spec, "keys": [["legacy", LEGACY_SEED.hex()]]})
    a, b = decode_iroha_transaction(first), decode_iroha_transaction(second)
    assert a.hash == b.hash  # the hash covers the payload, not the signatures
    merged = a.merged_with(b)
    assert isinstance(merged, IrohaTransaction)
    assert merged.kinds == (KeyKind.STANDARD, KeyKind.LEGACY) and len(merged.signatures) == 2
    again = decode_transaction(merged.encode())
    assert isinstance(again, IrohaTransaction)
    assert (again.hash, again.signatures, again.kinds) == (merged.hash, merged.signatures, merged.kinds)
    VerifiedSignatures().check(again)
    assert a.merged_with(a) is a  # nothing new: the same transaction


@pytest.mark.parametrize(("message", "code"), [
    (b"", "bad_protobuf"),  # no payload
    (b"\x0a\x05abc", "bad_protobuf"),  # a field running past the end
    (b"\x1a\x00", "bad_protobuf"),  # a field other than payload and signatures
    (b"\x0a\x03\x0a\x05\x01", "bad_protobuf"),  # a payload that is not a Payload message
    (b"\x0a\x00\x0a\x00", "bad_protobuf"),  # two payloads: which one would the hash cover?
    (b"\x0a\x00", "bad_account_id"),  # an empty payload: no creator
])
def test_malformed_iroha_bytes_are_typed_errors(message: bytes, code: str) -> None:
    with pytest.raises(StatelessError) as refused:
        decode_transaction(wrap_iroha(message))
    assert refused.value.code == code


def test_bad_fields_of_an_official_transaction_are_typed_errors(chain: LegacyChain) -> None:
    specs = [
        {"creator": "alice@aclb", "created": GENESIS_MS, "commands": [], "keys": []},
        {"creator": "alice@aclb", "created": GENESIS_MS, "commands": [transfer("-1")], "keys": []},
        {"creator": "alice", "created": GENESIS_MS, "commands": [transfer()], "keys": []},
        {"creator": "alice@aclb", "created": GENESIS_MS, "commands": [["CallEngine", {"caller": "alice@aclb"}]],
         "keys": []},
    ]
    codes = []
    for raw, _hash in official(*specs):
        with pytest.raises(StatelessError) as refused:
            decode_iroha_transaction(raw)
        codes.append(refused.value.code)
    assert codes == ["no_commands", "bad_amount", "bad_account_id", "unsupported_command"]


def test_a_batch_member_carries_its_meta_and_reduced_hash(chain: LegacyChain) -> None:
    [(raw, _hash)] = official({"creator": "alice@aclb", "created": chain.now, "commands": [transfer()],
                               "keys": [["std", ALICE_SEED.hex()]], "batch": True})
    tx = decode_iroha_transaction(raw)
    assert tx.batch_meta is not None and len(tx.batch_meta.reduced_hashes) == 2
    assert tx.batch_meta.reduced_hashes[0] == tx.reduced_hash != tx.hash  # the hash covers the meta too


def test_the_envelope_is_checked_like_any_encoding() -> None:
    for data, code in [(codec.encode_trusted([3, 2, b""]), "bad_encoding"),
                       (codec.encode_trusted([3, 1, "text"]), "bad_encoding")]:
        with pytest.raises(StatelessError) as refused:
            decode_transaction(data)
        assert refused.value.code.startswith(code)
