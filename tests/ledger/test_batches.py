"""Batches (issue 18, point 1), in the ledger: an ATOMIC batch commits whole or not at all, an ORDERED one
runs each member on its own, and no proposer can break a batch. The batches are built and signed by the
OFFICIAL Iroha client (``Iroha.batch``); the use case is an FX swap between two banks' accounts that can
never half-happen. Real LevelDB in a temp dir."""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consensus.crypto import hash_bytes
from node.ledger import commands as c
from node.ledger.batches import BATCH_MEMBER_FAILED, BatchMeta, BatchType, build_batch
from node.ledger.chain import Ledger
from node.ledger.errors import InvalidBlock, StatelessError
from node.ledger.genesis import parse_genesis
from node.ledger.iroha_tx import IrohaTransaction, decode_iroha_transaction
from node.ledger.state import CommittedCache, StateView
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, TxPayload, build_transaction, decode_transaction
from node.ledger.validation import VerifiedSignatures
from storage.db import LedgerStore
from tests.iroha_client import run_official
from tests.ledger_world import CHAIN, KHR, USD, Chain, genesis_document, key

SEEDS = {name: hashlib.sha256(b"test-key:" + name.encode()).digest() for name in ("alice@aclb", "fx@abaa")}

# argv: JSON {"atomic": bool, "txs": [{"creator", "created", "commands": [[name, fields]]}]}; the client ties
# them into one batch, each creator signs its own (standard ed25519 keys from SEEDS); prints hex bytes.
BATCH_SCRIPT = """
import binascii, json, sys
import nacl.signing
from iroha import Iroha, IrohaCrypto
spec, seeds = json.loads(sys.argv[1]), json.loads(sys.argv[2])
txs = [Iroha(t["creator"]).transaction([Iroha.command(n, **f) for n, f in t["commands"]], created_time=t["created"])
       for t in spec["txs"]]
Iroha.batch(txs, atomic=spec["atomic"])
for tx, t in zip(txs, spec["txs"]):
    IrohaCrypto.sign_transaction(tx, nacl.signing.SigningKey(binascii.unhexlify(seeds[t["creator"]])))
print(json.dumps([tx.SerializeToString().hex() for tx in txs]))
"""


class FxChain(Chain):
    """The test world plus fx@abaa, a bank's FX desk holding US dollars."""

    def _open(self) -> Ledger:
        doc = genesis_document()
        doc["accounts"].append({"id": "fx@abaa", "public_key": key("fx@abaa").public_key.hex(),
                                "balances": {USD: "100.00"}})
        ledger = Ledger(LedgerStore(self.path), self.chain_id)
        ledger.ensure_genesis(parse_genesis(doc))
        return ledger


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[FxChain]:
    ch = FxChain(tmp_path / "db")
    yield ch
    ch.close()


def pay(src: str, dest: str, asset: str, amount: str) -> list[Any]:
    return ["TransferAsset", {"src_account_id": src, "dest_account_id": dest, "asset_id": asset,
                              "description": "fx swap", "amount": amount}]


def swap(chain: FxChain, khr: str, usd: str, atomic: bool = True) -> list[IrohaTransaction]:
    """Alice sells ``khr`` riel to the FX desk for ``usd`` dollars: two transactions, one batch."""
    spec = {"atomic": atomic, "txs": [
        {"creator": "alice@aclb", "created": chain.now + 1, "commands": [pay("alice@aclb", "fx@abaa", KHR, khr)]},
        {"creator": "fx@abaa", "created": chain.now + 2, "commands": [pay("fx@abaa", "alice@aclb", USD, usd)]},
    ]}
    seeds = {name: binascii.hexlify(seed).decode() for name, seed in SEEDS.items()}
    out = json.loads(run_official(BATCH_SCRIPT, json.dumps(spec), json.dumps(seeds)))
    return [decode_iroha_transaction(bytes.fromhex(raw)) for raw in out]


def balances(chain: FxChain) -> tuple[int, int, int, int]:
    return (chain.balance("alice@aclb", KHR), chain.balance("alice@aclb", USD), chain.balance("fx@abaa", KHR),
            chain.balance("fx@abaa", USD))


def test_an_atomic_fx_swap_commits_both_legs_in_one_block(chain: FxChain) -> None:
    sell, buy = swap(chain, "400.00", "1.00")
    assert sell.batch_meta is not None and sell.batch_meta == buy.batch_meta
    assert sell.batch_meta.reduced_hashes == (sell.reduced_hash, buy.reduced_hash)
    before = balances(chain)
    assert [r.status for r in chain.run(sell, buy)] == [TxStatus.COMMITTED, TxStatus.COMMITTED]
    assert balances(chain) == (before[0] - 40_000, before[1] + 100, before[2] + 40_000, before[3] - 100)


def test_an_atomic_swap_whose_second_leg_fails_moves_no_money_and_names_the_culprit(chain: FxChain) -> None:
    sell, buy = swap(chain, "400.00", "1000.00")  # the desk has 100 dollars
    before = balances(chain)
    first, second = chain.run(sell, buy)
    assert (second.status, second.error_code, second.command_index) == (TxStatus.REJECTED, "insufficient_funds", 0)
    assert (first.status, first.error_code) == (TxStatus.REJECTED, BATCH_MEMBER_FAILED)
    assert "member 1" in first.message and buy.hash.hex()[:16] in first.message
    assert balances(chain) == before  # alice's riel, debited and credited inside the batch, are back
    block = chain.ledger.block(chain.ledger.head.height)
    assert block is not None and block.header.rejected == (sell.hash, buy.hash)


def test_an_ordered_batch_runs_each_member_on_its_own(chain: FxChain) -> None:
    sell, buy = swap(chain, "400.00", "1000.00", atomic=False)
    before = balances(chain)
    first, second = chain.run(sell, buy)
    assert (first.status, second.status, second.error_code) == (TxStatus.COMMITTED, TxStatus.REJECTED,
                                                                 "insufficient_funds")
    assert balances(chain) == (before[0] - 40_000, before[1], before[2] + 40_000, before[3])


def test_a_proposer_takes_a_batch_whole_or_leaves_it_waiting(chain: FxChain) -> None:
    sell, buy = swap(chain, "1.00", "0.01")
    chain.now += 1000
    block, _execution = chain.ledger.build_block([buy], chain.now, chain.proposer)
    assert block.transactions == ()  # half a batch waits in the mempool for the other half
    block, execution = chain.ledger.build_block([buy, sell], chain.now, chain.proposer)
    assert [tx.hash for tx in block.transactions] == [sell.hash, buy.hash]  # in the meta's order
    assert [r.status for r in execution.results] == [TxStatus.COMMITTED, TxStatus.COMMITTED]


@pytest.mark.parametrize("order", [["sell"], ["buy"], ["buy", "sell"]])
def test_a_block_holding_a_batch_broken_or_reordered_is_invalid(chain: FxChain, order: list[str]) -> None:
    sell, buy = swap(chain, "1.00", "0.01")
    txs = {"sell": sell, "buy": buy}
    with pytest.raises(InvalidBlock) as refused:
        chain.ledger.execute(chain.ledger.head.height + 1, chain.now + 1000, [txs[name] for name in order])
    assert refused.value.code == "broken_batch"


def test_a_member_listing_a_meta_without_itself_is_refused(chain: FxChain) -> None:
    sell, buy = swap(chain, "1.00", "0.01")
    with pytest.raises(StatelessError) as refused:
        BatchMeta(BatchType.ATOMIC, (buy.reduced_hash,)).check_member(sell.reduced_hash)
    assert refused.value.code == "bad_batch"
    with pytest.raises(StatelessError):
        BatchMeta(BatchType.ATOMIC, (sell.reduced_hash, sell.reduced_hash)).check_member(sell.reduced_hash)


def test_undoing_a_batch_restores_every_row_it_wrote(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "db")
    try:
        view = StateView(CommittedCache(store))
        view.put(b"a", 1)
        view.commit_tx()  # before the batch: stays
        view.begin_batch()
        view.put(b"a", 2)
        view.put(b"b", 3)
        view.commit_tx()
        view.put(b"a", 4)
        view.commit_tx()
        view.end_batch(keep=False)
        assert (view.get(b"a"), view.get(b"b")) == (1, None)
        assert view.decoded_writes() == {b"a": 1}
        view.begin_batch()
        view.put(b"c", 5)
        view.commit_tx()
        view.end_batch(keep=True)
        assert view.decoded_writes() == {b"a": 1, b"c": 5}
    finally:
        store.close()


# ---- native batches: the same meta in a version-2 payload ----


def native_swap(chain: FxChain, khr: str, usd: str, batch_type: BatchType = BatchType.ATOMIC) -> list[Transaction]:
    chain.now += 2
    sell = TxPayload(CHAIN, "alice@aclb", chain.now - 1, 1, (c.TransferAsset("alice@aclb", "fx@abaa", KHR, "", khr),))
    buy = TxPayload(CHAIN, "fx@abaa", chain.now, 1, (c.TransferAsset("fx@abaa", "alice@aclb", USD, "", usd),))
    tied = build_batch([sell, buy], batch_type)
    return [build_transaction(tied[0], key("alice@aclb")), build_transaction(tied[1], key("fx@abaa"))]


def test_a_native_atomic_swap_commits_whole_or_not_at_all(chain: FxChain) -> None:
    sell, buy = native_swap(chain, "400.00", "1.00")
    assert decode_transaction(sell.encode()) == sell  # version 2 payload round trips with its meta
    assert sell.batch_meta == buy.batch_meta and sell.batch_meta is not None
    assert sell.batch_meta.reduced_hashes == (sell.reduced_hash, buy.reduced_hash) and sell.reduced_hash != sell.hash
    before = balances(chain)
    assert [r.status for r in chain.run(sell, buy)] == [TxStatus.COMMITTED, TxStatus.COMMITTED]
    assert balances(chain) == (before[0] - 40_000, before[1] + 100, before[2] + 40_000, before[3] - 100)
    sell, buy = native_swap(chain, "400.00", "5000.00")
    first, second = chain.run(sell, buy)
    assert (first.error_code, second.error_code) == (BATCH_MEMBER_FAILED, "insufficient_funds")
    assert balances(chain) == (before[0] - 40_000, before[1] + 100, before[2] + 40_000, before[3] - 100)


def test_a_native_member_must_list_itself_and_its_meta_is_signed(chain: FxChain) -> None:
    sell, buy = native_swap(chain, "1.00", "0.01")
    assert sell.batch_meta is not None
    stranger = dataclasses.replace(buy.payload, batch=BatchMeta(BatchType.ATOMIC, (sell.reduced_hash,)))
    with pytest.raises(StatelessError) as refused:
        decode_transaction(build_transaction(stranger, key("fx@abaa")).encode())
    assert refused.value.code == "bad_batch"
    # Re-labelling a member ORDERED changes its payload, so its hash, and its signature no longer holds.
    relabelled = dataclasses.replace(sell.payload, batch=BatchMeta(BatchType.ORDERED, sell.batch_meta.reduced_hashes))
    forged = Transaction(relabelled, relabelled.encode(), sell.signatures, hash_bytes(relabelled.encode()))
    with pytest.raises(StatelessError) as bad:
        VerifiedSignatures().check(decode_transaction(forged.encode()))
    assert bad.value.code == "bad_signature"


def test_a_batch_binds_one_to_64_transactions() -> None:
    own = bytes(32)
    BatchMeta(BatchType.ATOMIC, (own,)).check_member(own)  # a batch of one is a batch
    others = tuple(i.to_bytes(32, "big") for i in range(1, 64))
    BatchMeta(BatchType.ATOMIC, (own, *others)).check_member(own)  # 64
    with pytest.raises(StatelessError):
        BatchMeta(BatchType.ATOMIC, (own, *others, (64).to_bytes(32, "big"))).check_member(own)  # 65
    with pytest.raises(StatelessError):
        BatchMeta(BatchType.ATOMIC, ()).check_member(own)


def test_lone_transactions_around_a_batch_keep_their_places(chain: FxChain) -> None:
    sell, buy = swap(chain, "1.00", "0.01")
    before = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "", "1.00"))
    after = chain.tx("fx@abaa", c.TransferAsset("fx@abaa", "bob@aclb", USD, "", "0.01"))
    chain.now += 1000
    block, execution = chain.ledger.build_block([before, buy, after, sell], chain.now, chain.proposer)
    assert [tx.hash for tx in block.transactions] == [before.hash, sell.hash, buy.hash, after.hash]
    assert all(r.status == TxStatus.COMMITTED for r in execution.results)
    half, _ = chain.ledger.build_block([before, buy, after], chain.now, chain.proposer)
    assert [tx.hash for tx in half.transactions] == [before.hash, after.hash]  # the half batch waits
