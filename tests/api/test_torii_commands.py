"""Torii's CommandService_v1 (issue 18, points 3 and 5) on a real in-process node (real LevelDB in a temp
dir), served by ``start_torii`` on 127.0.0.1 and called over gRPC with the node's own stubs. The test
commits blocks itself (no consensus runs) and fans them out through ``Node.committed`` as consensus would.
Transactions are Iroha protobuf bytes signed with the testnet's admin key as a standard Ed25519 key
(``ed0120`` + hex), as the official client signs with an ``ed25519_sha2`` key."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import nacl.signing
import pytest
from google.protobuf import empty_pb2

from node.api.torii.endpoint_pb2_grpc import CommandService_v1Stub
from node.api.torii.server import ToriiBindError, bound_port, start_torii, stop_torii
from node.api.torii.statuses import command_failure, torii_response, transaction_failure
from node.assembly import EXIT_NETWORK, Node, node_failure
from node.config import ConfigError, load_config, parse_config
from node.keyfile import read_key
from node.ledger import commands as c
from node.ledger.iroha_proto import commands_pb2, endpoint_pb2, transaction_pb2
from node.tools.testnet import init_testnet
from tests.api.tls import self_signed
from tests.integration.conftest import free_port

ADMIN = "admin@nbc"
S = endpoint_pb2.TxStatus


@dataclasses.dataclass
class World:
    node: Node
    seed: bytes
    clock: int = 0

    def tx(self, *commands: commands_pb2.Command, creator: str = ADMIN) -> bytes:
        """Iroha Transaction bytes: ``commands`` (each a Command filled by ``cmd``), signed by the admin key."""
        self.clock += 1
        tx = transaction_pb2.Transaction()
        reduced = tx.payload.reduced_payload
        reduced.creator_account_id = creator
        reduced.created_time = int(time.time() * 1000) + self.clock
        reduced.quorum = 1
        for command in commands:
            reduced.commands.append(command)
        payload = tx.payload.SerializeToString()
        key = nacl.signing.SigningKey(self.seed)
        signature = tx.signatures.add()
        signature.public_key = "ed0120" + key.verify_key.encode().hex()
        signature.signature = key.sign(payload).signature.hex()
        return tx.SerializeToString()

    def commit_pending(self) -> None:
        """Put every queued transaction in a block and commit it, telling the node as consensus does."""
        txs = self.node.mempool.peek(10_000)
        block, execution = self.node.ledger.build_block(txs, int(time.time() * 1000) + self.clock,
                                                        self.node.key.public_key)
        self.node.ledger.commit(block, execution, b"")
        self.node.committed(block, execution, False)


def cmd(**fields: Any) -> commands_pb2.Command:
    """One iroha.protocol.Command: ``cmd(transfer_asset={...})``."""
    command = commands_pb2.Command()
    [(name, values)] = fields.items()
    getattr(command, name).SetInParent()
    for key, value in values.items():
        setattr(getattr(command, name), key, value)
    return command


def iroha_hash(tx_bytes: bytes) -> str:
    return hashlib.sha3_256(transaction_pb2.Transaction.FromString(tx_bytes).payload.SerializeToString()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("torii") / "net"
    nodes = init_testnet(root, validators=1, observers=0, base_port=free_port(), p2p_base_port=free_port())
    config = load_config(nodes[0].config)
    torii = dataclasses.replace(config.torii, port=0, not_received_ms=300, max_streams_per_client=2)
    node = Node(dataclasses.replace(config, torii=torii))
    try:
        yield World(node, read_key(root / "keys" / f"{ADMIN}.key").seed)
    finally:
        node.close()


STUB_CHANNELS: dict[int, grpc.aio.Channel] = {}


def raw_call(stub: CommandService_v1Stub, method: str, data: bytes) -> Any:
    """Call ``method`` with exactly ``data`` as the request (a client's bytes, or a broken client's)."""
    channel = STUB_CHANNELS[id(stub)]
    return channel.unary_unary(f"/iroha.protocol.CommandService_v1/{method}", request_serializer=lambda b: b,
                               response_deserializer=empty_pb2.Empty.FromString)(data, timeout=5)


def send(stub: CommandService_v1Stub, tx: bytes) -> Any:
    """Torii with the transaction's bytes as the client serialized them."""
    return raw_call(stub, "Torii", tx)


def serve(world: World, scenario: Any) -> Any:
    """Run ``scenario(stub)`` against Torii on a fresh loop; the server stops afterwards."""
    async def run() -> Any:
        server = await start_torii(world.node)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{bound_port(server)}") as channel:
                STUB_CHANNELS[id(stub := CommandService_v1Stub(channel))] = channel
                return await scenario(stub)
        finally:
            await stop_torii(server)
    return asyncio.run(run())


async def stream(stub: CommandService_v1Stub, tx_hash: str) -> list[endpoint_pb2.ToriiResponse]:
    return [r async for r in stub.StatusStream(endpoint_pb2.TxStatusRequest(tx_hash=tx_hash))]


def summary(responses: list[endpoint_pb2.ToriiResponse]) -> list[tuple[str, str, int, int]]:
    return [(S.Name(r.tx_status), r.err_or_cmd_name, r.failed_cmd_index, r.error_code) for r in responses]


def test_sent_transaction_is_followed_to_committed_by_a_stream_opened_before_the_send(world: World) -> None:
    tx = world.tx(cmd(create_account={"account_name": "torii1", "domain_id": "aclb",
                                      "public_key": "ed0120" + "11" * 32}),
                  cmd(add_asset_quantity={"asset_id": "khr#nbc", "amount": "5.00"}),
                  cmd(transfer_asset={"src_account_id": ADMIN, "dest_account_id": "torii1@aclb",
                                      "asset_id": "khr#nbc", "description": "hello", "amount": "2.50"}))
    tx_hash = iroha_hash(tx)

    async def scenario(stub: CommandService_v1Stub) -> Any:
        follower = asyncio.ensure_future(stream(stub, tx_hash))
        await asyncio.sleep(0.1)  # the stream is open and waiting before the transaction exists
        assert isinstance(await send(stub, tx), empty_pb2.Empty)  # raw bytes in, Empty out
        queued = await stub.Status(endpoint_pb2.TxStatusRequest(tx_hash=tx_hash))
        world.commit_pending()
        followed = await asyncio.wait_for(follower, 5)
        return queued, followed, await stub.Status(endpoint_pb2.TxStatusRequest(tx_hash=tx_hash))

    queued, followed, final = serve(world, scenario)
    assert (S.Name(queued.tx_status), queued.tx_hash) == ("STATELESS_VALIDATION_SUCCESS", tx_hash)
    assert [s[0] for s in summary(followed)] == ["STATELESS_VALIDATION_SUCCESS", "STATEFUL_VALIDATION_SUCCESS",
                                                 "COMMITTED"]
    assert {r.tx_hash for r in followed} == {tx_hash}
    assert summary([final]) == [("COMMITTED", "", 0, 0)]
    assert world.node.ledger.balances("torii1@aclb")["khr#nbc"] == 250


def test_a_transfer_to_a_missing_account_names_transferasset_its_index_and_code_4_then_rejected(world: World) -> None:
    tx = world.tx(cmd(add_asset_quantity={"asset_id": "khr#nbc", "amount": "1.00"}),
                  cmd(transfer_asset={"src_account_id": ADMIN, "dest_account_id": "nobody@aclb",
                                      "asset_id": "khr#nbc", "description": "lost", "amount": "1.00"}))
    tx_hash = iroha_hash(tx)

    async def scenario(stub: CommandService_v1Stub) -> Any:
        await send(stub, tx)
        world.commit_pending()
        # opened after the block: the stream tells the outcome at once and ends at the final status
        return await asyncio.wait_for(stream(stub, tx_hash), 5), await stub.Status(
            endpoint_pb2.TxStatusRequest(tx_hash=tx_hash))

    followed, status = serve(world, scenario)
    assert summary(followed) == [("STATEFUL_VALIDATION_FAILED", "TransferAsset", 1, 4),
                                 ("REJECTED", "TransferAsset", 1, 4)]
    assert summary([status]) == [("REJECTED", "TransferAsset", 1, 4)]


def test_unknown_hash_is_not_received_and_its_stream_ends_with_it_after_the_wait(world: World) -> None:
    async def scenario(stub: CommandService_v1Stub) -> Any:
        request = endpoint_pb2.TxStatusRequest(tx_hash="ab" * 32)
        started = time.monotonic()
        followed = await asyncio.wait_for(stream(stub, "ab" * 32), 5)
        return await stub.Status(request), followed, time.monotonic() - started

    status, followed, waited = serve(world, scenario)
    assert (S.Name(status.tx_status), status.tx_hash) == ("NOT_RECEIVED", "ab" * 32)
    assert summary(followed) == [("NOT_RECEIVED", "", 0, 0)]
    assert 0.25 <= waited < 3  # [torii] not_received_ms = 300 here


def test_stateless_refusal_is_a_status_with_the_reason_not_a_grpc_error(world: World) -> None:
    bad_amount = world.tx(cmd(add_asset_quantity={"asset_id": "khr#nbc", "amount": "-1"}))
    bad_creator = world.tx(cmd(add_asset_quantity={"asset_id": "khr#nbc", "amount": "1.00"}), creator="nobody@aclb")

    async def scenario(stub: CommandService_v1Stub) -> Any:
        out = []
        for tx in (bad_amount, bad_creator):
            await send(stub, tx)  # no gRPC error: the client learns by Status
            request = endpoint_pb2.TxStatusRequest(tx_hash=iroha_hash(tx))
            out.append((await stub.Status(request), await asyncio.wait_for(stream(stub, iroha_hash(tx)), 5)))
        return out

    (amount, amount_stream), (creator, creator_stream) = serve(world, scenario)
    assert S.Name(amount.tx_status) == "STATELESS_VALIDATION_FAILED"
    assert amount.err_or_cmd_name.startswith("bad_amount: command 0 (AddAssetQuantity)"), amount.err_or_cmd_name
    assert summary(amount_stream) == summary([amount])  # a final status: the stream ends with it
    assert S.Name(creator.tx_status) == "STATELESS_VALIDATION_FAILED" and "nobody@aclb" in creator.err_or_cmd_name
    assert summary(creator_stream) == summary([creator])


def test_a_broken_copy_of_a_valid_transaction_does_not_mark_its_hash_failed(world: World) -> None:
    genuine = world.tx(cmd(add_asset_quantity={"asset_id": "khr#nbc", "amount": "3.00"}))
    parsed = transaction_pb2.Transaction.FromString(genuine)
    parsed.signatures[0].signature = "zz"  # a stranger's copy: same payload, unreadable signature
    bad_signature = parsed.SerializeToString()
    extra_field = genuine + b"\x1a\x00"  # same payload and signature, plus a field 3

    async def scenario(stub: CommandService_v1Stub) -> Any:
        request = endpoint_pb2.TxStatusRequest(tx_hash=iroha_hash(genuine))
        after_copies = []
        for copy in (bad_signature, extra_field):
            await send(stub, copy)
            after_copies.append(S.Name((await stub.Status(request)).tx_status))
        await send(stub, genuine)
        queued = S.Name((await stub.Status(request)).tx_status)
        world.commit_pending()
        return after_copies, queued

    assert serve(world, scenario) == (["NOT_RECEIVED", "NOT_RECEIVED"], "STATELESS_VALIDATION_SUCCESS")


def test_list_torii_takes_each_transaction_as_sent_and_bad_bytes_are_invalid_argument(world: World) -> None:
    first = world.tx(cmd(add_asset_quantity={"asset_id": "khr#nbc", "amount": "1.00"}))
    second = world.tx(cmd(add_asset_quantity={"asset_id": "usd#nbc", "amount": "1.00"}))
    tx_list = endpoint_pb2.TxList()
    tx_list.transactions.add().ParseFromString(first)
    tx_list.transactions.add().ParseFromString(second)

    async def scenario(stub: CommandService_v1Stub) -> Any:
        await stub.ListTorii(tx_list)
        statuses = [await stub.Status(endpoint_pb2.TxStatusRequest(tx_hash=iroha_hash(t))) for t in (first, second)]
        errors = []
        for method, payload in (("Torii", b"\xff\xff"), ("ListTorii", b"\x12\x00")):
            try:
                await raw_call(stub, method, payload)
            except grpc.aio.AioRpcError as exc:
                errors.append(exc.code())
        world.commit_pending()
        return statuses, errors

    statuses, errors = serve(world, scenario)
    assert [S.Name(s.tx_status) for s in statuses] == ["STATELESS_VALIDATION_SUCCESS"] * 2
    assert errors == [grpc.StatusCode.INVALID_ARGUMENT] * 2


def test_status_streams_per_client_are_bounded(world: World) -> None:
    tx = world.tx(cmd(add_asset_quantity={"asset_id": "khr#nbc", "amount": "1.00"}))

    async def scenario(stub: CommandService_v1Stub) -> Any:
        await send(stub, tx)  # queued, never committed here: its streams stay open
        held = [stub.StatusStream(endpoint_pb2.TxStatusRequest(tx_hash=iroha_hash(tx))) for _ in range(2)]
        for call in held:
            assert S.Name((await call.read()).tx_status) == "STATELESS_VALIDATION_SUCCESS"
        try:
            await stream(stub, "cd" * 32)
        except grpc.aio.AioRpcError as exc:
            refused = exc.code()
        else:
            refused = None
        for call in held:
            call.cancel()
        await asyncio.sleep(0.05)
        after = await stub.StatusStream(endpoint_pb2.TxStatusRequest(tx_hash=iroha_hash(tx))).read()
        world.commit_pending()
        return refused, S.Name(after.tx_status)

    # max_streams_per_client = 2 here; closing a stream gives its seat back
    torii_refused = world.node.metrics.torii_streams_refused.labels("per_client")
    http_refused = world.node.metrics.api_streams_refused.labels("per_client")
    before = (torii_refused._value.get(), http_refused._value.get())
    assert serve(world, scenario) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "STATELESS_VALIDATION_SUCCESS")
    # counted as Torii's, not as the HTTP API's WebSockets
    assert (torii_refused._value.get(), http_refused._value.get()) == (before[0] + 1, before[1])


def test_a_taken_port_is_a_typed_start_up_error(world: World) -> None:
    async def scenario() -> OSError:
        first = await start_torii(world.node)
        try:
            taken = dataclasses.replace(world.node.config.torii, port=bound_port(first))
            world.node.config = dataclasses.replace(world.node.config, torii=taken)
            try:
                await start_torii(world.node)
            except ToriiBindError as exc:
                return exc
            raise AssertionError("a second server bound the same port")
        finally:
            world.node.config = dataclasses.replace(world.node.config,
                                                    torii=dataclasses.replace(world.node.config.torii, port=0))
            await stop_torii(first)

    error = asyncio.run(scenario())
    assert error.errno == errno.EADDRINUSE and "address already in use" in str(error)
    failure = node_failure(error)  # how the node process ends on it: one line, the network exit status
    assert (failure.code, failure.exit_code) == ("torii_address_unavailable", EXIT_NETWORK)


def test_torii_serves_grpc_over_tls_when_configured(world: World, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls")
    plain = world.node.config
    world.node.config = dataclasses.replace(plain, torii=dataclasses.replace(plain.torii, tls_cert=cert, tls_key=key))

    async def scenario() -> tuple[str, grpc.StatusCode]:
        server = await start_torii(world.node)
        port = bound_port(server)
        request = endpoint_pb2.TxStatusRequest(tx_hash="ef" * 32)
        try:
            credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
                answer = await CommandService_v1Stub(channel).Status(request, timeout=5)
            plain_code = grpc.StatusCode.OK
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                try:
                    await CommandService_v1Stub(channel).Status(request, timeout=5)
                except grpc.aio.AioRpcError as exc:
                    plain_code = exc.code()
            return S.Name(answer.tx_status), plain_code
        finally:
            await stop_torii(server)

    try:
        assert asyncio.run(scenario()) == ("NOT_RECEIVED", grpc.StatusCode.UNAVAILABLE)  # plain gRPC gets nothing
    finally:
        world.node.config = plain


def test_error_numbers_follow_iroha_per_command() -> None:
    transfer = c.TransferAsset("a@x", "b@x", "khr#nbc", "", "1.00")
    assert command_failure(transfer, "no_such_account", "account b@x does not exist") == ("TransferAsset", 4)
    assert command_failure(transfer, "no_such_account", "account a@x does not exist") == ("TransferAsset", 3)
    assert command_failure(transfer, "permission_denied", "") == ("TransferAsset", 2)
    assert command_failure(transfer, "no_such_asset", "") == ("TransferAsset", 5)
    assert command_failure(transfer, "insufficient_funds", "") == ("TransferAsset", 6)
    assert command_failure(transfer, "amount_overflow", "") == ("TransferAsset", 7)
    assert command_failure(transfer, "self_transfer", "") == ("TransferAsset", 1)
    account = c.CreateAccount("x", "aclb", b"\x01" * 32)
    assert [command_failure(account, code, "")[1] for code in ("permission_denied", "no_such_domain",
                                                               "account_exists")] == [2, 3, 4]
    assert command_failure(c.SubtractAssetQuantity("khr#nbc", "1.00"), "insufficient_funds", "") == (
        "SubtractAssetQuantity", 4)
    assert transaction_failure("quorum_not_met", "") == ("signatures validation", 2, 0)
    assert transaction_failure("batch_member_failed", "")[:2] == ("", 1)


def test_a_status_before_any_block_carries_the_error_text() -> None:
    refused = torii_response({"hash": "ab" * 32, "status": "STATELESS_VALIDATION_FAILED", "error_code": "expired",
                              "message": "too old"})
    assert (S.Name(refused.tx_status), refused.err_or_cmd_name, refused.error_code) == (
        "STATELESS_VALIDATION_FAILED", "expired: too old", 0)


def test_torii_config_listen_empty_disables_and_half_tls_is_refused(tmp_path: Path) -> None:
    base = {"name": "n", "genesis": "g.json", "key_file": "k.key", "data_dir": "d"}
    assert parse_config({**base, "torii": {"listen": ""}}, tmp_path).torii.enabled is False
    config = parse_config(base, tmp_path).torii
    assert (config.enabled, config.host, config.port) == (True, "127.0.0.1", 50051)
    with pytest.raises(ConfigError, match=r"torii\.tls_cert and torii\.tls_key: give both"):
        parse_config({**base, "torii": {"tls_cert": "c.pem"}}, tmp_path)


def test_list_torii_refuses_an_empty_list_and_one_over_max_batch(world: World) -> None:
    too_many = endpoint_pb2.TxList()
    for _ in range(world.node.config.api.max_batch + 1):
        too_many.transactions.add().ParseFromString(world.tx(cmd(add_asset_quantity={"asset_id": "khr#nbc",
                                                                                    "amount": "1.00"})))

    async def scenario(stub: CommandService_v1Stub) -> Any:
        codes = []
        for payload in (b"", too_many.SerializeToString()):
            try:
                await raw_call(stub, "ListTorii", payload)
            except grpc.aio.AioRpcError as exc:
                codes.append((exc.code(), exc.details()))
        bad_hashes = []
        for text in ("ab" * 31, "zz" * 32, "ab" * 33):
            try:
                await stub.Status(endpoint_pb2.TxStatusRequest(tx_hash=text))
            except grpc.aio.AioRpcError as exc:
                bad_hashes.append(exc.code())
            try:
                await stream(stub, text)
            except grpc.aio.AioRpcError as exc:
                bad_hashes.append(exc.code())
        return codes, bad_hashes

    codes, bad_hashes = serve(world, scenario)
    assert codes == [(grpc.StatusCode.INVALID_ARGUMENT, "no transactions in the call"),
                     (grpc.StatusCode.INVALID_ARGUMENT,
                      f"at most {world.node.config.api.max_batch} transactions per call")]
    assert bad_hashes == [grpc.StatusCode.INVALID_ARGUMENT] * 6  # Status and StatusStream alike


class _Peer:
    def __init__(self, text: str) -> None:
        self.text = text

    def peer(self) -> str:
        return self.text


def test_a_callers_share_is_its_address_without_the_port() -> None:
    from node.api.torii.commands import _client

    assert _client(_Peer("ipv4:127.0.0.1:51234")) == "127.0.0.1"  # type: ignore[arg-type]
    assert _client(_Peer("ipv6:[::1]:51234")) == "[::1]"  # type: ignore[arg-type]
    assert _client(_Peer("unix:/run/torii.sock")) == "unix:/run/torii.sock"  # type: ignore[arg-type]
    assert _client(_Peer("")) == "unknown"  # type: ignore[arg-type]


def test_the_payload_of_a_transaction_as_sent_and_length_prefixes() -> None:
    from node.api.torii.commands import _length_prefix, _payload

    assert [_length_prefix(n) for n in (0, 1, 127, 128, 300, 2**21)] == [
        b"\x00", b"\x01", b"\x7f", b"\x80\x01", b"\xac\x02", b"\x80\x80\x80\x01"]
    payload = b"\x0a\x03abc"
    signature = b"\x12\x02xy"
    assert _payload(b"\x0a" + bytes([len(payload)]) + payload + signature) == payload
    assert _payload(signature + b"\x0a" + bytes([len(payload)]) + payload) == payload  # after a signature
    assert _payload(signature) is None  # none
    assert _payload(b"\x08\x01" + b"\x0a\x01z") is None  # a varint field: not a Transaction as sent
    assert _payload(b"\x0a\x05ab") is None  # runs past the end
    assert _payload(b"\x0a\xff") is None  # a cut length
