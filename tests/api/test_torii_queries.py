"""Torii's QueryService_v1 (node.api.torii.queries) in-process: a real Node on a temporary testnet, a
grpc.aio server on 127.0.0.1, queries built and signed with our generated classes and, for the
paths a bank would use, with the official Iroha client (tests/iroha_client.py).

The chain the tests read: genesis (Iroha height 1) gives alice her balances, block 1 alice pays bob (native), block 2 alice pays bob (Iroha format,
standard key), block 3 bob pays alice (native), block 4 alice gets a legacy signatory (native).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import grpc
import nacl.signing
import pytest
from google.protobuf import empty_pb2

from consensus.crypto import KeyPair
from node.api.torii.endpoint_pb2_grpc import QueryService_v1Stub
from node.api.torii.queries import query_handlers, waiting_for
from node.assembly import Node
from node.config import load_config
from node.intake.admission import Source
from node.intake.pending import PendingPool
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.iroha_crypto import legacy_public_key, legacy_sign, standard_public_key, standard_sign
from node.ledger.iroha_proto import commands_pb2, primitive_pb2, qry_responses_pb2, queries_pb2, transaction_pb2
from node.ledger.iroha_tx import IrohaTransaction, decode_iroha_transaction, wrap_iroha
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from node.tools.testnet import init_testnet
from tests.integration.conftest import free_port
from tests.iroha_client import run_official

ALICE, BOB, ADMIN = "alice@aclb", "bob@abaa", "admin@nbc"
T = TypeVar("T")
Error = qry_responses_pb2.ErrorResponse


@dataclasses.dataclass
class World:
    node: Node
    keys: Path
    native_by_alice: Transaction
    iroha_by_alice: IrohaTransaction
    native_by_bob: Transaction
    clock: int = 0

    def key(self, account: str) -> KeyPair:
        return read_key(self.keys / f"{account}.key")

    def now(self) -> int:
        self.clock += 1
        return int(time.time() * 1000) + self.clock

    def native(self, creator: str, *commands: c.Command) -> Transaction:
        return build_transaction(TxPayload(self.node.chain_id, creator, self.now(), 1, commands), self.key(creator))

    def commit(self, *txs: Transaction) -> None:
        """Build and commit a block, then tell the node as consensus would (block listeners included)."""
        ledger = self.node.ledger
        block, execution = ledger.build_block(list(txs), self.now(), self.node.key.public_key)
        ledger.commit(block, execution, b"")
        self.node.committed(block, execution, False)


def iroha_transfer(seed: bytes, creator: str, dest: str, amount: str, created_ms: int) -> bytes:
    """An Iroha transaction built with our classes, signed with a standard key (the raw payload)."""
    payload = transaction_pb2.Transaction.Payload()
    payload.reduced_payload.creator_account_id = creator
    payload.reduced_payload.created_time = created_ms
    payload.reduced_payload.quorum = 1
    payload.reduced_payload.commands.append(commands_pb2.Command(transfer_asset=commands_pb2.TransferAsset(
        src_account_id=creator, dest_account_id=dest, asset_id="khr#nbc", description="iroha", amount=amount)))
    raw = payload.SerializeToString()
    tx = transaction_pb2.Transaction(payload=payload)
    tx.signatures.add(public_key=standard_public_key(seed).text, signature=standard_sign(seed, raw).hex())
    return tx.SerializeToString()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("torii-queries") / "net"
    nodes = init_testnet(root, validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    node = Node(load_config(nodes[0].config))  # no consensus runs: the tests commit blocks themselves
    w = World(node, root / "keys", None, None, None)  # type: ignore[arg-type]
    w.native_by_alice = w.native(ALICE, c.TransferAsset(ALICE, BOB, "khr#nbc", "native", "10.00"))
    w.commit(w.native_by_alice)
    w.iroha_by_alice = decode_iroha_transaction(iroha_transfer(w.key(ALICE).seed, ALICE, BOB, "20.00", w.now()))
    w.commit(w.iroha_by_alice)
    w.native_by_bob = w.native(BOB, c.TransferAsset(BOB, ALICE, "khr#nbc", "back", "5.00"))
    w.commit(w.native_by_bob)
    w.commit(w.native(ALICE, c.AddSignatory(ALICE, legacy_public_key(w.key(ALICE).seed).raw)))
    w.commit(w.native(ADMIN, c.SetAccountDetail(ALICE, "kyc", "verified"), c.SetAccountDetail(ALICE, "tier", "2")))
    try:
        yield w
    finally:
        node.close()


def serve(world: World, scenario: Callable[[Any, str], Awaitable[T]]) -> T:
    """Run ``scenario(stub, address)`` against a Torii query server on a free loopback port."""
    async def run() -> T:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((query_handlers(world.node),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await scenario(QueryService_v1Stub(channel), f"127.0.0.1:{port}")
        finally:
            await server.stop(None)
    return asyncio.run(run())


def query(world: World, creator: str, *, signer: str | None = None, created_ms: int | None = None,
          counter: int = 1, legacy: bool = False, seed: bytes | None = None, **fields: Any) -> queries_pb2.Query:
    """A signed Query with one query field set: ``get_account={"account_id": ...}``."""
    q = queries_pb2.Query()
    meta = q.payload.meta
    meta.creator_account_id = creator
    meta.created_time = world.now() if created_ms is None else created_ms
    meta.query_counter = counter
    for name, value in fields.items():
        getattr(q.payload, name).SetInParent()
        for field, v in value.items():
            if isinstance(v, list):
                getattr(getattr(q.payload, name), field).extend(v)
            elif isinstance(v, dict):
                getattr(getattr(q.payload, name), field).CopyFrom(
                    type(getattr(getattr(q.payload, name), field))(**v))
            else:
                setattr(getattr(q.payload, name), field, v)
    seed = seed or world.key(signer or creator).seed
    raw = q.payload.SerializeToString()
    if legacy:
        q.signature.public_key, q.signature.signature = legacy_public_key(seed).text, legacy_sign(seed, raw).hex()
    else:
        q.signature.public_key, q.signature.signature = standard_public_key(seed).text, standard_sign(seed, raw).hex()
    return q


def find(world: World, *queries: queries_pb2.Query) -> list[qry_responses_pb2.QueryResponse]:
    async def scenario(stub: Any, _address: str) -> list[qry_responses_pb2.QueryResponse]:
        return [await stub.Find(q) for q in queries]
    return serve(world, scenario)


def error(answer: qry_responses_pb2.QueryResponse) -> tuple[str, int]:
    assert answer.WhichOneof("response") == "error_response", answer
    return Error.Reason.Name(answer.error_response.reason), answer.error_response.error_code


def test_get_account_and_signatories_carry_the_query_hash_and_both_key_kinds_sign(world: World) -> None:
    alice = world.key(ALICE)
    q1 = query(world, ALICE, get_account={"account_id": ALICE})
    q2 = query(world, ALICE, legacy=True, get_signatories={"account_id": ALICE})
    account, signatories = find(world, q1, q2)
    assert account.query_hash == hashlib.sha3_256(q1.payload.SerializeToString()).hexdigest()
    assert account.account_response.account.account_id == ALICE
    assert account.account_response.account.domain_id == "aclb"
    assert account.account_response.account.quorum == 1
    assert list(account.account_response.account_roles) == ["customer"]
    assert json.loads(account.account_response.account.json_data) == {ADMIN: {"kyc": "verified", "tier": "2"}}
    assert "ed0120" + alice.public_key.hex() in signatories.signatories_response.keys
    assert len(signatories.signatories_response.keys) == 2


def test_refusals_carry_irohas_reasons_and_codes(world: World) -> None:
    day = 24 * 3600 * 1000
    forged = query(world, ALICE, get_account={"account_id": ALICE})
    forged.payload.meta.query_counter = 7  # the signature no longer covers the payload
    answers = find(
        world,
        forged,
        query(world, ALICE, signer=BOB, get_account={"account_id": ALICE}),
        query(world, ALICE, created_ms=int(time.time() * 1000) - day - 60_000, get_account={"account_id": ALICE}),
        query(world, ALICE, created_ms=int(time.time() * 1000) + 10 * 60_000, get_account={"account_id": ALICE}),
        query(world, ALICE, counter=0, get_account={"account_id": ALICE}),
        query(world, ALICE, get_account={"account_id": BOB}),
        query(world, ALICE, get_block={"height": 1}),
        query(world, ADMIN, get_block={"height": 999}),
        query(world, ADMIN, get_block={"height": 0}),
        query(world, ADMIN, get_account={"account_id": "nobody@aclb"}),
        query(world, ADMIN, get_asset_info={"asset_id": "gold#nbc"}),
        query(world, ADMIN, get_transactions={"tx_hashes": ["ab" * 32]}),
        query(world, ADMIN, get_engine_receipts={"tx_hash": "ab" * 32}),
    )
    assert [error(a) for a in answers] == [
        ("STATELESS_INVALID", 0),  # signature does not verify
        ("STATEFUL_INVALID", 3),  # bob's key is no signatory of alice
        ("STATELESS_INVALID", 0),  # older than 24 hours
        ("STATELESS_INVALID", 0),  # more than 5 minutes ahead
        ("STATELESS_INVALID", 0),  # counter 0
        ("STATEFUL_INVALID", 2),  # a customer may read only its own account
        ("STATEFUL_INVALID", 2),  # no can_get_blocks
        ("STATEFUL_INVALID", 3),  # past the ledger's height
        ("STATELESS_INVALID", 0),  # heights start at 1
        ("NO_ACCOUNT", 0),
        ("NO_ASSET", 0),
        ("STATEFUL_INVALID", 4),
        ("NOT_SUPPORTED", 0),
    ]
    assert "sent from future" in answers[3].error_response.message


def test_get_block_counts_from_one_and_serves_iroha_transactions_as_signed(world: World) -> None:
    genesis, second, third = find(world, query(world, ADMIN, get_block={"height": 1}),
                                  query(world, ADMIN, get_block={"height": 2}),
                                  query(world, ADMIN, get_block={"height": 3}))
    g = genesis.block_response.block.block_v1.payload
    assert g.height == 1 and g.prev_block_hash == "00" * 32
    native = second.block_response.block.block_v1.payload
    assert native.height == 2 and native.tx_number == 1
    assert native.prev_block_hash == world.node.ledger.block(0).hash.hex()  # type: ignore[union-attr]
    transfer = native.transactions[0].payload.reduced_payload
    assert transfer.creator_account_id == ALICE
    assert transfer.commands[0].transfer_asset.amount == "10.00"
    assert native.transactions[0].signatures[0].public_key == "ed0120" + world.key(ALICE).public_key.hex()
    served = third.block_response.block.block_v1.payload.transactions[0]
    assert served.SerializeToString() == world.iroha_by_alice.protobuf_bytes()
    assert hashlib.sha3_256(served.payload.SerializeToString()).digest() == world.iroha_by_alice.hash
    alice = nacl.signing.VerifyKey(world.key(ALICE).public_key)
    alice.verify(served.payload.SerializeToString(), bytes.fromhex(served.signatures[0].signature))


def test_account_transactions_page_through_exactly_what_the_account_created(world: World) -> None:
    def page(**meta: Any) -> qry_responses_pb2.TransactionsPageResponse:
        answer, = find(world, query(world, ALICE, get_account_transactions={
            "account_id": ALICE, "pagination_meta": {"page_size": 1, **meta}}))
        assert answer.WhichOneof("response") == "transactions_page_response", answer
        return answer.transactions_page_response

    walked, cursor = [], None
    while True:
        p = page(**({"first_tx_hash": cursor} if cursor else {}))
        # her opening balances (genesis), two payments, the AddSignatory; not bob's payment to her
        assert p.all_transactions_size == 4
        walked += [t.payload.reduced_payload.commands[0].WhichOneof("command") for t in p.transactions]
        if not p.HasField("next_tx_hash"):
            break
        cursor = p.next_tx_hash
    # position ascending: Iroha's default
    assert walked == ["add_asset_quantity", "transfer_asset", "transfer_asset", "add_signatory"]
    assert all(t.payload.reduced_payload.creator_account_id == ALICE for t in page(page_size=10).transactions)
    newest = page(ordering={"sequence": [{"field": queries_pb2.kPosition, "direction": queries_pb2.kDescending}]})
    assert newest.transactions[0].payload.reduced_payload.commands[0].WhichOneof("command") == "add_signatory"
    third = page(first_tx_height=3, last_tx_height=3)  # Iroha heights: block 2 of ours
    assert third.all_transactions_size == 1
    assert third.transactions[0].SerializeToString() == world.iroha_by_alice.protobuf_bytes()
    bad, = find(world, query(world, ALICE, get_account_transactions={
        "account_id": ALICE, "pagination_meta": {"page_size": 1, "first_tx_hash": "ab" * 32}}))
    assert error(bad) == ("STATEFUL_INVALID", 4)
    # an account that exists but created no transaction (abaa's admin, asked by the central bank): an
    # empty page, not "no such account" (Iroha looks for a reason only when the page is empty)
    none_yet, = find(world, query(world, ADMIN, get_account_transactions={
        "account_id": "admin@abaa", "pagination_meta": {"page_size": 5}}))
    assert none_yet.WhichOneof("response") == "transactions_page_response", none_yet
    assert none_yet.transactions_page_response.all_transactions_size == 0


def test_asset_transactions_show_others_transactions_only_where_they_name_the_querier(world: World) -> None:
    answer, = find(world, query(world, ALICE, get_account_asset_transactions={
        "account_id": ALICE, "asset_id": "khr#nbc", "pagination_meta": {"page_size": 10}}))
    txs = answer.transactions_page_response.transactions
    assert answer.transactions_page_response.all_transactions_size == 4  # genesis, 3 payments
    from_bob = [t for t in txs if t.payload.reduced_payload.creator_account_id == BOB]
    assert len(from_bob) == 1 and not from_bob[0].signatures  # a redacted rendering carries no signature
    assert from_bob[0].payload.reduced_payload.commands[0].transfer_asset.dest_account_id == ALICE
    walked, cursor = [], None
    while True:  # one a page, newest first: the same four, read a page at a time
        meta: dict[str, Any] = {"page_size": 1, "ordering": {"sequence": [
            {"field": queries_pb2.kPosition, "direction": queries_pb2.kDescending}]}}
        if cursor:
            meta["first_tx_hash"] = cursor
        page, = find(world, query(world, ALICE, get_account_asset_transactions={
            "account_id": ALICE, "asset_id": "khr#nbc", "pagination_meta": meta}))
        walked += [t.payload.reduced_payload.creator_account_id for t in page.transactions_page_response.transactions]
        cursor = page.transactions_page_response.next_tx_hash
        if not cursor:
            break
    assert walked == [BOB, ALICE, ALICE, ALICE]


def test_scopes_filters_and_cursors_answer_as_iroha(world: World) -> None:
    pm = {"page_size": 1}
    no_query = queries_pb2.Query()
    no_query.payload.meta.creator_account_id, no_query.payload.meta.created_time = ALICE, world.now()
    no_query.payload.meta.query_counter = 1
    seed = world.key(ALICE).seed
    no_query.signature.public_key = standard_public_key(seed).text
    no_query.signature.signature = standard_sign(seed, no_query.payload.SerializeToString()).hex()
    refusals = find(
        world,
        no_query,
        query(world, ALICE, get_account={"account_id": "not an id"}),
        query(world, ALICE, get_signatories={"account_id": BOB}),
        query(world, ADMIN, get_signatories={"account_id": "nobody@aclb"}),
        query(world, ALICE, get_account_assets={"account_id": BOB}),
        query(world, ALICE, get_account_assets={"account_id": ALICE, "pagination_meta": {"page_size": 0}}),
        query(world, ALICE, get_account_assets={"account_id": ALICE,
                                                "pagination_meta": {"page_size": 1, "first_asset_id": "gold#nbc"}}),
        query(world, ALICE, get_account_detail={"account_id": BOB}),
        query(world, ADMIN, get_account_detail={"account_id": "nobody@aclb"}),
        query(world, "admin@aclb", get_account={"account_id": BOB}),  # another bank's customer
        query(world, ADMIN, get_account_transactions={"account_id": "nobody@aclb", "pagination_meta": pm}),
        query(world, ADMIN, get_account_asset_transactions={"account_id": "nobody@aclb", "asset_id": "khr#nbc",
                                                            "pagination_meta": pm}),
        query(world, ADMIN, get_account_asset_transactions={"account_id": ALICE, "asset_id": "gold#nbc",
                                                            "pagination_meta": pm}),
        query(world, ALICE, get_account_transactions={"account_id": BOB, "pagination_meta": pm}),
        query(world, ALICE, get_account_asset_transactions={"account_id": BOB, "asset_id": "khr#nbc",
                                                            "pagination_meta": pm}),
        query(world, ALICE, get_transactions={"tx_hashes": ["xyz"]}),
        query(world, ALICE, get_account_transactions={"account_id": ALICE, "pagination_meta": {"page_size": 0}}),
    )
    assert [error(a) for a in refusals] == [
        ("STATELESS_INVALID", 0), ("STATELESS_INVALID", 0), ("STATEFUL_INVALID", 2), ("NO_SIGNATORIES", 0),
        ("STATEFUL_INVALID", 2), ("STATELESS_INVALID", 0), ("STATEFUL_INVALID", 4), ("STATEFUL_INVALID", 2),
        ("NO_ACCOUNT_DETAIL", 0), ("STATEFUL_INVALID", 2), ("STATEFUL_INVALID", 5), ("STATEFUL_INVALID", 5),
        ("STATEFUL_INVALID", 6), ("STATEFUL_INVALID", 2), ("STATEFUL_INVALID", 2), ("STATELESS_INVALID", 0),
        ("STATELESS_INVALID", 0)]

    created = world.iroha_by_alice.payload.created_ms
    stamp = {"seconds": created // 1000, "nanos": created % 1000 * 1_000_000}
    just_before = {"seconds": (created - 1) // 1000, "nanos": (created - 1) % 1000 * 1_000_000 + 999_999}
    (same_bank, usd, by_writer, by_other_writer, in_time, bank_view, central_view) = find(
        world,
        query(world, "admin@aclb", get_account={"account_id": ALICE}),  # her bank's admin: domain scope
        query(world, ALICE, get_account_assets={"account_id": ALICE,
                                                "pagination_meta": {"page_size": 1, "first_asset_id": "usd#nbc"}}),
        query(world, ALICE, get_account_detail={"writer": ADMIN}),
        query(world, ALICE, get_account_detail={"writer": "admin@aclb"}),
        query(world, ALICE, get_account_transactions={"account_id": ALICE, "pagination_meta": {
            "page_size": 10, "first_tx_time": stamp, "last_tx_time": stamp}}),
        query(world, "admin@aclb", get_account_asset_transactions={
            "account_id": ALICE, "asset_id": "khr#nbc", "pagination_meta": {"page_size": 10}}),
        query(world, ADMIN, get_account_asset_transactions={
            "account_id": ALICE, "asset_id": "khr#nbc", "pagination_meta": {"page_size": 10}}),
    )
    before, = find(world, query(world, ALICE, get_account_transactions={"account_id": ALICE, "pagination_meta": {
        "page_size": 10, "first_tx_time": just_before, "last_tx_time": just_before}}))
    assert before.transactions_page_response.all_transactions_size == 0  # a time is read in whole milliseconds
    newest_first = {"sequence": [{"field": queries_pb2.kCreatedTime, "direction": queries_pb2.kDescending}]}
    (asset_in_time, by_time, bad_hex, empty, nothing_held) = find(
        world,
        query(world, ALICE, get_account_asset_transactions={"account_id": ALICE, "asset_id": "khr#nbc",
                                                            "pagination_meta": {"page_size": 10, "first_tx_time": stamp,
                                                                                "last_tx_time": stamp}}),
        query(world, ALICE, get_account_transactions={"account_id": ALICE, "pagination_meta": {
            "page_size": 10, "ordering": newest_first}}),
        query(world, ALICE, get_account_transactions={"account_id": ALICE, "pagination_meta": {
            "page_size": 1, "first_tx_hash": "zz"}}),
        query(world, ALICE, get_transactions={"tx_hashes": []}),
        query(world, ADMIN, get_account_asset_transactions={"account_id": "admin@aclb", "asset_id": "khr#nbc",
                                                            "pagination_meta": {"page_size": 10}}),
    )
    assert [t.SerializeToString() for t in asset_in_time.transactions_page_response.transactions] == [
        world.iroha_by_alice.protobuf_bytes()]
    since, until = find(
        world,
        query(world, ALICE, get_account_asset_transactions={"account_id": ALICE, "asset_id": "khr#nbc",
                                                            "pagination_meta": {"page_size": 10, "first_tx_time": stamp}}),
        query(world, ALICE, get_account_asset_transactions={"account_id": ALICE, "asset_id": "khr#nbc",
                                                            "pagination_meta": {"page_size": 10, "last_tx_time": stamp}}),
    )
    later = since.transactions_page_response  # the Iroha transfer and what came after it (bob's)
    assert later.transactions[0].SerializeToString() == world.iroha_by_alice.protobuf_bytes()
    earlier = until.transactions_page_response  # genesis, her native transfer, the Iroha one
    assert earlier.transactions[-1].SerializeToString() == world.iroha_by_alice.protobuf_bytes()
    assert later.all_transactions_size + earlier.all_transactions_size == (
        asset_in_time.transactions_page_response.all_transactions_size + bank_view.transactions_page_response
        .all_transactions_size)
    times = [t.payload.reduced_payload.created_time for t in by_time.transactions_page_response.transactions]
    assert len(times) == 4 and times == sorted(times, reverse=True)
    assert error(bad_hex) == ("STATEFUL_INVALID", 4)
    assert error(empty) == ("STATELESS_INVALID", 0)
    held = nothing_held.transactions_page_response  # an account and an asset with no history: an empty page
    assert nothing_held.WhichOneof("response") == "transactions_page_response" and held.all_transactions_size == 0
    assert same_bank.account_response.account.account_id == ALICE
    page = usd.account_assets_response
    assert [(a.asset_id, a.account_id) for a in page.account_assets] == [("usd#nbc", ALICE)]
    assert page.account_assets[0].balance == "1000.00" and not page.HasField("next_asset_id")
    assert json.loads(by_writer.account_detail_response.detail) == {ADMIN: {"kyc": "verified", "tier": "2"}}
    assert json.loads(by_other_writer.account_detail_response.detail) == {}
    assert by_other_writer.account_detail_response.total_number == 0
    assert [t.SerializeToString() for t in in_time.transactions_page_response.transactions] == [
        world.iroha_by_alice.protobuf_bytes()]

    def signed_by_creator(answer: qry_responses_pb2.QueryResponse) -> dict[str, int]:
        return {t.payload.reduced_payload.creator_account_id: len(t.signatures)
                for t in answer.transactions_page_response.transactions}
    assert signed_by_creator(bank_view) == {ALICE: 1, BOB: 0}  # bob banks elsewhere: his transfer redacted
    world.commit(world.native("dara@aclb", c.TransferAsset("dara@aclb", ALICE, "khr#nbc", "same bank", "1.00")))
    own_view, = find(world, query(world, ALICE, get_account_asset_transactions={
        "account_id": ALICE, "asset_id": "khr#nbc", "pagination_meta": {"page_size": 10}}))
    assert signed_by_creator(own_view)["dara@aclb"] == 0  # a customer sees only her own whole, even in her bank
    auditor = "chenda@wing"  # a role with the all-accounts scope of this query alone
    world.commit(world.native(ADMIN, c.CreateRole("auditor", ("can_get_all_acc_ast_txs",)),
                              c.AppendRole(auditor, "auditor")))
    audit, = find(world, query(world, auditor, get_account_asset_transactions={
        "account_id": ALICE, "asset_id": "khr#nbc", "pagination_meta": {"page_size": 10}}))
    assert signed_by_creator(audit)[BOB] == 1
    world.commit(world.native(ADMIN, c.DetachRole(auditor, "customer")))  # left with the auditor role alone
    no_txs, = find(world, query(world, auditor, get_transactions={"tx_hashes": [world.native_by_bob.hash.hex()]}))
    assert error(no_txs) == ("STATEFUL_INVALID", 2)  # neither can_get_my_txs nor can_get_all_txs
    assert signed_by_creator(central_view) == {ALICE: 1, BOB: 1}  # the central bank sees everyone's whole


def test_single_item_queries_answer_and_refuse_as_iroha(world: World) -> None:
    lurker = KeyPair.generate()  # an account without any role
    world.commit(world.native(ADMIN, c.CreateAccount("lurker", "nbc", lurker.public_key),
                              c.DetachRole("lurker@nbc", "customer")))
    head = world.node.ledger.head.height
    (asset, no_role, at_head, past_head, *refused) = find(
        world,
        query(world, ALICE, get_asset_info={"asset_id": "khr#nbc"}),
        query(world, ADMIN, get_role_permissions={"role_id": "nope"}),
        query(world, ADMIN, get_block={"height": head + 1}),
        query(world, ADMIN, get_block={"height": head + 2}),
        query(world, "lurker@nbc", seed=lurker.seed, get_asset_info={"asset_id": "khr#nbc"}),
        query(world, ALICE, get_roles={}),
        query(world, ALICE, get_role_permissions={"role_id": "customer"}),
        query(world, ALICE, get_peers={}),
    )
    a = asset.asset_response.asset
    assert (a.asset_id, a.domain_id, a.precision) == ("khr#nbc", "nbc", 2)
    assert error(no_role) == ("NO_ROLES", 0)
    assert at_head.block_response.block.block_v1.payload.height == head + 1
    assert error(past_head) == ("STATEFUL_INVALID", 3)
    assert [error(r) for r in refused] == [("STATEFUL_INVALID", 2)] * 4


def test_get_transactions_serves_ones_own_and_hides_others(world: World) -> None:
    mine, bobs = find(world, query(world, ALICE, get_transactions={"tx_hashes": [world.iroha_by_alice.hash.hex()]}),
                      query(world, ALICE, get_transactions={"tx_hashes": [world.native_by_bob.hash.hex()]}))
    assert [t.SerializeToString() for t in mine.transactions_response.transactions] == [
        world.iroha_by_alice.protobuf_bytes()]
    assert error(bobs) == ("STATEFUL_INVALID", 4)  # as an unknown hash: no existence oracle


def test_assets_details_roles_peers_and_pending(world: World) -> None:
    assets, paged, roles, perms, peers, pending, detail = find(
        world,
        query(world, ALICE, get_account_assets={"account_id": ALICE}),
        query(world, ALICE, get_account_assets={"account_id": ALICE, "pagination_meta": {"page_size": 1}}),
        query(world, ADMIN, get_roles={}),
        query(world, ADMIN, get_role_permissions={"role_id": "customer"}),
        query(world, ADMIN, get_peers={}),
        query(world, ALICE, get_pending_transactions={"pagination_meta": {"page_size": 5}}),
        query(world, ALICE, get_account_detail={}),
    )
    balances = {a.asset_id: a.balance for a in assets.account_assets_response.account_assets}
    assert set(balances) == {"khr#nbc", "usd#nbc"}
    assert paged.account_assets_response.total_number == 2 and len(paged.account_assets_response.account_assets) == 1
    assert paged.account_assets_response.next_asset_id == "usd#nbc"
    assert {"central_bank", "bank_admin", "customer"} <= set(roles.roles_response.roles)
    assert primitive_pb2.RolePermission.Value("can_get_my_acc_txs") in perms.role_permissions_response.permissions
    assert peers.peers_response.peers[0].peer_key == "ed0120" + world.node.key.public_key.hex()
    assert pending.WhichOneof("response") == "pending_transactions_page_response"
    assert pending.pending_transactions_page_response.all_transactions_size == 0
    assert json.loads(detail.account_detail_response.detail) == {ADMIN: {"kyc": "verified", "tier": "2"}}
    first, second, by_key, bad = find(
        world,
        query(world, ALICE, get_account_detail={"account_id": ALICE, "pagination_meta": {"page_size": 1}}),
        query(world, ALICE, get_account_detail={"account_id": ALICE, "pagination_meta": {
            "page_size": 1, "first_record_id": {"writer": ADMIN, "key": "tier"}}}),
        query(world, ALICE, get_account_detail={"key": "tier"}),
        query(world, ALICE, get_account_detail={"pagination_meta": {
            "page_size": 1, "first_record_id": {"writer": ADMIN, "key": "nope"}}}),
    )
    assert json.loads(first.account_detail_response.detail) == {ADMIN: {"kyc": "verified"}}
    assert first.account_detail_response.total_number == 2
    assert (first.account_detail_response.next_record_id.writer, first.account_detail_response.next_record_id.key) \
        == (ADMIN, "tier")
    assert json.loads(second.account_detail_response.detail) == {ADMIN: {"tier": "2"}}
    assert not second.account_detail_response.HasField("next_record_id")
    assert json.loads(by_key.account_detail_response.detail) == {ADMIN: {"tier": "2"}}
    assert error(bad) == ("STATEFUL_INVALID", 4)


def test_pending_transactions_list_what_waits_for_the_accounts_signatures(world: World) -> None:
    dara, second = "vanna@wing", KeyPair.generate()  # (the name stays: the account is another customer)
    world.commit(world.native(dara, c.AddSignatory(dara, second.public_key)))
    world.commit(world.native(dara, c.SetAccountQuorum(dara, 2)))
    waiting = [iroha_transfer(world.key(dara).seed, dara, BOB, f"{n}.00", world.now()) for n in (1, 2, 3)]
    waiting = [set_quorum(w, 2, world.key(dara).seed) for w in waiting]
    outcomes = world.node.admission.admit([wrap_iroha(w) for w in waiting], world.now(), Source.CLIENT)
    assert [o.verdict.name for o in outcomes] == ["PENDING"] * 3, outcomes
    first, second_page, alices, stale = find(
        world,
        query(world, dara, get_pending_transactions={"pagination_meta": {"page_size": 2}}),
        query(world, dara, get_pending_transactions={"pagination_meta": {
            "page_size": 2, "first_tx_hash": decode_iroha_transaction(waiting[2]).hash.hex()}}),
        query(world, ALICE, get_pending_transactions={"pagination_meta": {"page_size": 2}}),
        query(world, dara, get_pending_transactions={"pagination_meta": {"page_size": 2, "first_tx_hash": "ab" * 32}}),
    )
    page = first.pending_transactions_page_response
    assert page.all_transactions_size == 3
    assert [t.SerializeToString() for t in page.transactions] == waiting[:2]  # as signed so far
    assert page.next_batch_info.first_tx_hash == decode_iroha_transaction(waiting[2]).hash.hex()
    assert page.next_batch_info.batch_size == 1
    assert [t.SerializeToString() for t in second_page.pending_transactions_page_response.transactions] == waiting[2:]
    assert alices.pending_transactions_page_response.all_transactions_size == 0
    assert error(stale) == ("STATEFUL_INVALID", 4)
    first_created = decode_iroha_transaction(waiting[0]).payload.created_ms
    last_created = decode_iroha_transaction(waiting[2]).payload.created_ms

    def stamp(ms: int) -> dict[str, int]:
        return {"seconds": ms // 1000, "nanos": ms % 1000 * 1_000_000}
    listed, ranged = find(
        world,
        query(world, dara, get_pending_transactions={}),  # Iroha's deprecated form: a plain list
        query(world, dara, get_pending_transactions={"pagination_meta": {
            "page_size": 5, "first_tx_time": stamp(first_created), "last_tx_time": stamp(last_created - 1)}}),
    )
    assert [t.SerializeToString() for t in listed.transactions_response.transactions] == waiting
    assert [t.SerializeToString() for t in ranged.pending_transactions_page_response.transactions] == waiting[:2]
    # A block holding a complete copy is published a moment before the pool lets go of its own: the
    # answer is as of the published chain, so the transaction is no longer listed as pending.
    complete = transaction_pb2.Transaction.FromString(waiting[0])
    complete.signatures.add(public_key=standard_public_key(second.seed).text,
                            signature=standard_sign(second.seed, complete.payload.SerializeToString()).hex())
    ledger = world.node.ledger
    block, execution = ledger.build_block([decode_iroha_transaction(complete.SerializeToString())], world.now(),
                                          world.node.key.public_key)
    ledger.commit(block, execution, b"")  # not yet node.committed: the pool still holds it
    after, = find(world, query(world, dara, get_pending_transactions={"pagination_meta": {"page_size": 5}}))
    assert after.pending_transactions_page_response.all_transactions_size == 2
    world.node.committed(block, execution, False)


def test_pending_batches_are_paged_whole(world: World) -> None:
    sokha, second = "sokha@abaa", KeyPair.generate()
    world.commit(world.native(sokha, c.AddSignatory(sokha, second.public_key)))
    world.commit(world.native(sokha, c.SetAccountQuorum(sokha, 2)))
    seed = world.key(sokha).seed
    members = [transaction_pb2.Transaction.FromString(iroha_transfer(seed, sokha, BOB, f"{n}.00", world.now()))
               for n in (1, 2)]
    for m in members:
        m.payload.reduced_payload.quorum = 2
    reduced = [hashlib.sha3_256(m.payload.reduced_payload.SerializeToString()).hexdigest() for m in members]
    for m in members:
        m.payload.batch.type = transaction_pb2.Transaction.Payload.BatchMeta.ATOMIC
        m.payload.batch.reduced_hashes.extend(reduced)
        del m.signatures[:]
        raw = m.payload.SerializeToString()
        m.signatures.add(public_key=standard_public_key(seed).text, signature=standard_sign(seed, raw).hex())
    lone = set_quorum(iroha_transfer(seed, sokha, BOB, "3.00", world.now()), 2, seed)
    sent = [m.SerializeToString() for m in members] + [lone]
    arrival = [sent[1], sent[0], sent[2]]  # the second member first: pages show the batch's order
    outcomes = world.node.admission.admit([wrap_iroha(w) for w in arrival], world.now(), Source.CLIENT)
    assert [o.verdict.name for o in outcomes] == ["PENDING"] * 3, outcomes
    one, two = find(world, query(world, sokha, get_pending_transactions={"pagination_meta": {"page_size": 1}}),
                    query(world, sokha, get_pending_transactions={"pagination_meta": {"page_size": 2}}))
    first = one.pending_transactions_page_response
    assert first.all_transactions_size == 3 and not first.transactions  # a batch of two does not fit in one
    assert first.next_batch_info.batch_size == 2
    assert first.next_batch_info.first_tx_hash == decode_iroha_transaction(sent[0]).hash.hex()
    page = two.pending_transactions_page_response
    assert [t.SerializeToString() for t in page.transactions] == sent[:2]
    assert page.next_batch_info.batch_size == 1
    from_batch, = find(world, query(world, sokha, get_pending_transactions={"pagination_meta": {
        "page_size": 2, "first_tx_hash": first.next_batch_info.first_tx_hash}}))  # the batch's first member
    assert [t.SerializeToString() for t in from_batch.pending_transactions_page_response.transactions] == sent[:2]


def test_a_pending_batch_is_listed_whole_to_each_of_its_creators(world: World) -> None:
    members = [transaction_pb2.Transaction.FromString(iroha_transfer(world.key(who).seed, who, BOB, "1.00", world.now()))
               for who in (ALICE, "chenda@wing")]
    reduced = [hashlib.sha3_256(m.payload.reduced_payload.SerializeToString()).hexdigest() for m in members]
    for m in members:
        m.payload.batch.reduced_hashes.extend(reduced)
    txs = [decode_iroha_transaction(m.SerializeToString()) for m in members]
    lone = decode_iroha_transaction(iroha_transfer(world.key(BOB).seed, BOB, ALICE, "1.00", world.now()))
    pool = PendingPool(None, max_txs=10, max_bytes=100_000, max_per_account=10)
    for tx in (lone, *txs):
        pool.put(tx, 1)
    host: Any = SimpleNamespace(pending=pool)
    assert waiting_for(host, "chenda@wing") == txs
    assert waiting_for(host, ALICE) == txs
    assert waiting_for(host, BOB) == [lone]


def set_quorum(tx_bytes: bytes, quorum: int, seed: bytes) -> bytes:
    """The transaction re-made with ``quorum`` in its payload, signed again by ``seed`` alone."""
    tx = transaction_pb2.Transaction.FromString(tx_bytes)
    tx.payload.reduced_payload.quorum = quorum
    del tx.signatures[:]
    raw = tx.payload.SerializeToString()
    tx.signatures.add(public_key=standard_public_key(seed).text, signature=standard_sign(seed, raw).hex())
    return tx.SerializeToString()


def test_fetch_commits_streams_each_new_block_and_refuses_without_can_get_blocks(world: World) -> None:
    def blocks_query(creator: str) -> queries_pb2.BlocksQuery:
        q = queries_pb2.BlocksQuery()
        q.meta.creator_account_id, q.meta.created_time, q.meta.query_counter = creator, world.now(), 1
        seed = world.key(creator).seed
        q.signature.public_key = standard_public_key(seed).text
        q.signature.signature = standard_sign(seed, q.meta.SerializeToString()).hex()
        return q

    async def scenario(stub: Any, _address: str) -> tuple[list[int], str, Any]:
        start = world.node.ledger.head.height
        stream = stub.FetchCommits(blocks_query(ADMIN))
        refused = [r async for r in stub.FetchCommits(blocks_query(ALICE))]
        got: list[int] = []
        async def read() -> None:
            async for response in stream:
                got.append(response.block_response.block.block_v1.payload.height)
                if len(got) == 2:
                    return
        reader = asyncio.ensure_future(read())
        while not reader.done():  # commit until the stream, opened before, has seen two blocks
            world.commit(world.native(ADMIN, c.SetAccountDetail(ADMIN, "note", str(world.clock))))
            await asyncio.sleep(0.05)
        stream.cancel()
        health = await stub.Healthcheck(empty_pb2.Empty())
        return [h - start for h in got], refused[0].block_error_response.message, health

    heights, refusal, health = serve(world, scenario)
    assert heights == [2, 3]  # Iroha heights (ours + 1) of the first two blocks after the call
    assert refusal == "stateful invalid"
    assert health.last_block_height == world.node.ledger.head.height + 1
    assert health.memory_consumption > 10_000_000 and health.HasField("is_healthy")


OFFICIAL_QUERIES = """
import binascii, json, sys
import nacl.signing
from iroha import Iroha, IrohaCrypto, IrohaGrpc
address, creator, seed_hex = sys.argv[1:4]
iroha, net = Iroha(creator), IrohaGrpc(address, timeout=10)
standard = nacl.signing.SigningKey(binascii.unhexlify(seed_hex))
out = {}
q = IrohaCrypto.sign_query(iroha.query('GetAccount', account_id=creator), standard)
out['account'] = net.send_query(q).account_response.account.account_id
q = IrohaCrypto.sign_query(iroha.query('GetAccountAssets', account_id=creator), seed_hex)  # legacy key
out['assets'] = sorted(a.asset_id for a in net.send_query(q).account_assets_response.account_assets)
out['pages'], cursor = [], None
while True:  # Iroha heights 2..3, one transaction a page, following next_tx_hash
    q = IrohaCrypto.sign_query(iroha.query('GetAccountTransactions', account_id=creator, page_size=1,
                                           first_tx_hash=cursor, first_tx_height=2, last_tx_height=3), standard)
    page = net.send_query(q).transactions_page_response
    out['pages'].append({'hashes': [binascii.hexlify(IrohaCrypto.hash(t)).decode() for t in page.transactions],
                         'total': page.all_transactions_size, 'next': page.next_tx_hash})
    cursor = page.next_tx_hash
    if not cursor:
        break
print(json.dumps(out))
"""


def test_the_official_client_reads_account_assets_and_history(world: World) -> None:
    async def scenario(_stub: Any, address: str) -> str:
        return await asyncio.to_thread(run_official, OFFICIAL_QUERIES, address, ALICE, world.key(ALICE).seed.hex())

    out = json.loads(serve(world, scenario))
    print(f"\nofficial client against Torii queries: {out}")
    assert out["account"] == ALICE
    assert out["assets"] == ["khr#nbc", "usd#nbc"]
    # Iroha heights 2..3 (our blocks 1 and 2) hold her native payment, then her Iroha one
    first, second = out["pages"]
    assert first["total"] == second["total"] == 2
    assert first["next"] == world.iroha_by_alice.hash.hex() and second["next"] == ""
    assert second["hashes"] == [world.iroha_by_alice.hash.hex()]  # the client re-derives the hash it signed
    assert first["hashes"] != [world.native_by_alice.hash.hex()]  # a rendered native one hashes otherwise
