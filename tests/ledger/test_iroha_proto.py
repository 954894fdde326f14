"""Our Iroha 1.6 schema (node/ledger/iroha_proto) against the official client's, byte for byte.

The official Python client (iroha 1.6.0.2, in its own venv: tests/iroha_client.py) builds real
messages the way a bank integration does and prints their bytes; our generated classes must parse
them, read back every field the client set and serialize them to the same bytes. The other way, our
messages (what Torii will answer) must parse in the client's classes with the same fields. Each side
also renders what it parsed with protobuf's json_format, so a field either side drops shows as a diff.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from node.ledger.iroha_proto import (
    block_pb2,
    endpoint_pb2,
    primitive_pb2,
    qry_responses_pb2,
    queries_pb2,
    transaction_pb2,
)
from tests.iroha_client import run_official

LEGACY_SEED = "f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70"
STANDARD_SEED = "11" * 32
CREATED = 1_700_000_000_000
PEER_KEY = "ed0120" + "ab" * 32

# Runs in the official client's venv: builds the messages with the client's own factory methods and
# prints {name: {"hex": serialized bytes, "dict": the client's json_format rendering}}.
BUILD = r"""
import binascii, json, sys
import nacl.signing
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from iroha import Iroha, IrohaCrypto, primitive_pb2, queries_pb2

legacy_seed, standard_seed, created, peer_key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
legacy_pub = IrohaCrypto.derive_public_key(legacy_seed).decode()
standard_key = nacl.signing.SigningKey(binascii.unhexlify(standard_seed))
standard_pub = IrohaCrypto.derive_public_key(standard_key)
iroha = Iroha("admin@nbc")
cmd = Iroha.command
commands = [
    cmd("CreateDomain", domain_id="aclb", default_role="customer"),
    cmd("CreateAccount", account_name="alice", domain_id="aclb", public_key=legacy_pub),
    cmd("CreateAsset", asset_name="usd", domain_id="nbc", precision=2),
    cmd("AddAssetQuantity", asset_id="usd#nbc", amount="1500.50"),
    cmd("SubtractAssetQuantity", asset_id="usd#nbc", amount="0.50"),
    cmd("TransferAsset", src_account_id="admin@nbc", dest_account_id="alice@aclb", asset_id="usd#nbc",
        description="salary", amount="100.25"),
    cmd("AddSignatory", account_id="alice@aclb", public_key=standard_pub),
    cmd("RemoveSignatory", account_id="alice@aclb", public_key=standard_pub),
    cmd("SetAccountQuorum", account_id="alice@aclb", quorum=2),
    cmd("CreateRole", role_name="teller",
        permissions=[primitive_pb2.can_transfer, primitive_pb2.can_receive, primitive_pb2.can_get_my_acc_ast]),
    cmd("AppendRole", account_id="alice@aclb", role_name="teller"),
    cmd("DetachRole", account_id="alice@aclb", role_name="teller"),
    cmd("GrantPermission", account_id="bob@aclb", permission=primitive_pb2.can_transfer_my_assets),
    cmd("RevokePermission", account_id="bob@aclb", permission=primitive_pb2.can_set_my_quorum),
    cmd("SetAccountDetail", account_id="alice@aclb", key="kyc_level", value="2"),
    cmd("CompareAndSetAccountDetail", account_id="alice@aclb", key="kyc_level", value="3", old_value="2",
        check_empty=True),
    cmd("AddPeer", peer=primitive_pb2.Peer(address="10.0.0.5:10001", peer_key=peer_key)),
    cmd("RemovePeer", public_key=peer_key),
]
out = {}
def put(name, message):
    out[name] = {"hex": message.SerializeToString().hex(),
                 "dict": json_format.MessageToDict(message, preserving_proto_field_name=True)}

tx = iroha.transaction(commands, quorum=2, created_time=created)
IrohaCrypto.sign_transaction(tx, legacy_seed, standard_key)
put("transaction", tx)

first = iroha.transaction([cmd("TransferAsset", src_account_id="alice@aclb", dest_account_id="bob@aclb",
                                asset_id="khr#nbc", description="fx leg 1", amount="41000")],
                          created_time=created + 1)
second = iroha.transaction([cmd("TransferAsset", src_account_id="bob@aclb", dest_account_id="alice@aclb",
                                 asset_id="usd#nbc", description="fx leg 2", amount="10.00")],
                           creator_account="bob@aclb", created_time=created + 2)
Iroha.batch([first, second], atomic=True)
IrohaCrypto.sign_transaction(first, legacy_seed)
IrohaCrypto.sign_transaction(second, standard_key)
put("batch_first", first)
put("batch_second", second)
out["reduced_hashes"] = [IrohaCrypto.reduced_hash(t).decode() for t in (first, second)]

query = iroha.query("GetAccount", counter=7, created_time=created, account_id="alice@aclb")
IrohaCrypto.sign_query(query, legacy_seed)
put("get_account", query)

start = Timestamp(seconds=1_699_000_000, nanos=5)
page = iroha.query("GetAccountTransactions", counter=8, created_time=created, account_id="alice@aclb",
                   page_size=10, first_tx_hash="ab" * 32, first_tx_time=start, first_tx_height=2,
                   last_tx_height=9,
                   ordering_sequence=[[queries_pb2.kCreatedTime, queries_pb2.kDescending],
                                      [queries_pb2.kPosition, queries_pb2.kAscending]])
IrohaCrypto.sign_query(page, standard_key)
put("get_account_transactions", page)

blocks = iroha.blocks_query(counter=9, created_time=created)
IrohaCrypto.sign_query(blocks, legacy_seed)
put("blocks_query", blocks)
print(json.dumps(out))
"""

# Runs in the official client's venv: parses each (class name, hex) pair with the client's classes
# and prints the json_format rendering of each, plus a few fields read by attribute.
READ = r"""
import json, sys
from google.protobuf import json_format
from iroha import endpoint_pb2, qry_responses_pb2, block_pb2
classes = {"ToriiResponse": endpoint_pb2.ToriiResponse, "QueryResponse": qry_responses_pb2.QueryResponse,
           "Block_v1": block_pb2.Block_v1, "BlockQueryResponse": qry_responses_pb2.BlockQueryResponse}
out = {}
for name, (cls, hexed) in json.loads(sys.argv[1]).items():
    message = classes[cls].FromString(bytes.fromhex(hexed))
    out[name] = {"dict": json_format.MessageToDict(message, preserving_proto_field_name=True),
                 "reserialized": message.SerializeToString().hex()}
    if cls == "ToriiResponse":
        out[name]["status"] = endpoint_pb2.TxStatus.Name(message.tx_status)
    if cls == "QueryResponse":
        out[name]["which"] = message.WhichOneof("response")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    built: dict[str, Any] = json.loads(run_official(BUILD, LEGACY_SEED, STANDARD_SEED, str(CREATED), PEER_KEY))
    return built


def parse(cls: type[Message], built: dict[str, Any]) -> Any:
    """Our class reading the client's bytes; they must re-serialize identically and render the same."""
    raw = bytes.fromhex(built["hex"])
    message = cls.FromString(raw)
    assert message.SerializeToString() == raw
    assert json_format.MessageToDict(message, preserving_proto_field_name=True) == built["dict"]
    return message


def test_a_signed_transaction_with_every_command_the_client_builds_parses_and_reserializes_identically(
        official: dict[str, Any]) -> None:
    tx = parse(transaction_pb2.Transaction, official["transaction"])
    reduced = tx.payload.reduced_payload
    assert (reduced.creator_account_id, reduced.created_time, reduced.quorum) == ("admin@nbc", CREATED, 2)
    assert [c.WhichOneof("command") for c in reduced.commands] == [
        "create_domain", "create_account", "create_asset", "add_asset_quantity", "subtract_asset_quantity",
        "transfer_asset", "add_signatory", "remove_signatory", "set_account_quorum", "create_role",
        "append_role", "detach_role", "grant_permission", "revoke_permission", "set_account_detail",
        "compare_and_set_account_detail", "add_peer", "remove_peer"]
    transfer = reduced.commands[5].transfer_asset
    assert (transfer.src_account_id, transfer.dest_account_id, transfer.asset_id, transfer.description,
            transfer.amount) == ("admin@nbc", "alice@aclb", "usd#nbc", "salary", "100.25")
    assert list(reduced.commands[9].create_role.permissions) == [
        primitive_pb2.can_transfer, primitive_pb2.can_receive, primitive_pb2.can_get_my_acc_ast]
    assert reduced.commands[12].grant_permission.permission == primitive_pb2.can_transfer_my_assets
    cas = reduced.commands[15].compare_and_set_account_detail
    assert cas.HasField("old_value") and (cas.old_value, cas.check_empty) == ("2", True)
    assert reduced.commands[16].add_peer.peer.address == "10.0.0.5:10001"
    assert reduced.commands[16].add_peer.peer.peer_key == PEER_KEY
    assert not tx.payload.HasField("batch")
    # one legacy (64 hex) and one standard (ed0120 + 64 hex) signature, as the client encoded them
    assert [len(s.public_key) for s in tx.signatures] == [64, 70]
    assert tx.signatures[1].public_key.startswith("ed0120")
    assert all(len(s.signature) == 128 for s in tx.signatures)


def test_an_atomic_batch_built_by_the_client_carries_the_same_meta_in_both_members(official: dict[str, Any]) -> None:
    first = parse(transaction_pb2.Transaction, official["batch_first"])
    second = parse(transaction_pb2.Transaction, official["batch_second"])
    for tx in (first, second):
        assert tx.payload.HasField("batch")
        assert tx.payload.batch.type == transaction_pb2.Transaction.Payload.BatchMeta.ATOMIC
        assert list(tx.payload.batch.reduced_hashes) == official["reduced_hashes"]
    assert second.payload.reduced_payload.creator_account_id == "bob@aclb"
    assert second.payload.reduced_payload.commands[0].transfer_asset.amount == "10.00"


def test_queries_with_pagination_meta_and_a_blocks_query_parse_field_for_field(official: dict[str, Any]) -> None:
    query = parse(queries_pb2.Query, official["get_account"])
    assert query.payload.WhichOneof("query") == "get_account"
    assert query.payload.get_account.account_id == "alice@aclb"
    assert (query.payload.meta.creator_account_id, query.payload.meta.created_time,
            query.payload.meta.query_counter) == ("admin@nbc", CREATED, 7)
    assert len(query.signature.public_key) == 64

    page = parse(queries_pb2.Query, official["get_account_transactions"])
    meta = page.payload.get_account_transactions.pagination_meta
    assert (meta.page_size, meta.first_tx_hash, meta.first_tx_height, meta.last_tx_height) == (10, "ab" * 32, 2, 9)
    assert (meta.first_tx_time.seconds, meta.first_tx_time.nanos) == (1_699_000_000, 5)
    assert not meta.HasField("last_tx_time")
    assert [(o.field, o.direction) for o in meta.ordering.sequence] == [
        (queries_pb2.kCreatedTime, queries_pb2.kDescending), (queries_pb2.kPosition, queries_pb2.kAscending)]
    assert page.signature.public_key.startswith("ed0120")

    blocks = parse(queries_pb2.BlocksQuery, official["blocks_query"])
    assert (blocks.meta.query_counter, blocks.meta.creator_account_id) == (9, "admin@nbc")


def our_answers(official: dict[str, Any]) -> dict[str, Message]:
    """What Torii will send: statuses, query answers and a block holding the client's transaction."""
    tx = transaction_pb2.Transaction.FromString(bytes.fromhex(official["transaction"]["hex"]))
    failed = endpoint_pb2.ToriiResponse(
        tx_status=endpoint_pb2.STATEFUL_VALIDATION_FAILED, tx_hash="cd" * 32, err_or_cmd_name="TransferAsset",
        failed_cmd_index=5, error_code=4)
    pending = endpoint_pb2.ToriiResponse(tx_status=endpoint_pb2.MST_PENDING, tx_hash="ef" * 32)
    account = qry_responses_pb2.QueryResponse(query_hash="12" * 32)
    account.account_response.account.CopyFrom(qry_responses_pb2.Account(
        account_id="alice@aclb", domain_id="aclb", quorum=2, json_data='{"admin@nbc": {"kyc_level": "2"}}'))
    account.account_response.account_roles.extend(["customer", "teller"])
    error = qry_responses_pb2.QueryResponse(query_hash="34" * 32)
    error.error_response.CopyFrom(qry_responses_pb2.ErrorResponse(
        reason=qry_responses_pb2.ErrorResponse.NO_ACCOUNT, message="no account bob@aclb", error_code=0))
    block = block_pb2.Block_v1()
    block.payload.transactions.append(tx)
    block.payload.tx_number = 1
    block.payload.height = 3
    block.payload.prev_block_hash = "56" * 32
    block.payload.created_time = CREATED + 10
    block.payload.rejected_transactions_hashes.append("78" * 32)
    block.signatures.add(public_key=PEER_KEY, signature="9a" * 64)
    commit = qry_responses_pb2.BlockQueryResponse()
    commit.block_response.block.block_v1.CopyFrom(block)
    return {"failed": failed, "pending": pending, "account": account, "error": error, "block": block,
            "commit": commit}


def test_our_statuses_query_answers_and_blocks_parse_in_the_official_client_with_the_same_fields(
        official: dict[str, Any]) -> None:
    ours = our_answers(official)
    sent = {name: (type(m).__name__, m.SerializeToString().hex()) for name, m in ours.items()}
    read = json.loads(run_official(READ, json.dumps(sent)))
    for name, message in ours.items():
        assert read[name]["dict"] == json_format.MessageToDict(message, preserving_proto_field_name=True), name
        assert read[name]["reserialized"] == sent[name][1], name
    assert read["failed"]["status"] == "STATEFUL_VALIDATION_FAILED"
    assert read["failed"]["dict"]["err_or_cmd_name"] == "TransferAsset"
    assert (read["failed"]["dict"]["failed_cmd_index"], read["failed"]["dict"]["error_code"]) == ("5", 4)
    assert read["pending"]["status"] == "MST_PENDING"
    assert read["account"]["which"] == "account_response"
    assert read["account"]["dict"]["account_response"]["account_roles"] == ["customer", "teller"]
    assert read["error"]["which"] == "error_response"
    assert read["error"]["dict"]["error_response"]["reason"] == "NO_ACCOUNT"
    # the client's transaction inside our block comes back as the bytes it signed
    assert read["block"]["dict"]["payload"]["transactions"][0] == official["transaction"]["dict"]
    assert read["commit"]["dict"]["block_response"]["block"]["block_v1"] == read["block"]["dict"]


def test_the_grpc_method_paths_are_iroha_s() -> None:
    services = {s.full_name: [m.name for m in s.methods] for s in endpoint_pb2.DESCRIPTOR.services_by_name.values()}
    assert services == {"iroha.protocol.CommandService_v1": ["Torii", "ListTorii", "Status", "StatusStream"],
                        "iroha.protocol.QueryService_v1": ["Find", "FetchCommits", "Healthcheck"]}
    stream = endpoint_pb2.DESCRIPTOR.services_by_name["CommandService_v1"].methods_by_name["StatusStream"]
    assert stream.server_streaming and not stream.client_streaming


# A channel that records the method paths a generated stub asks it for (no network involved).
PATHS = r"""
import json
class Recorder:
    def __init__(self): self.paths = []
    def _record(self, path, *args, **kwargs):
        self.paths.append(path)
        return None
    unary_unary = unary_stream = stream_unary = stream_stream = _record
def paths(module):
    channel = Recorder()
    module.CommandService_v1Stub(channel)
    module.QueryService_v1Stub(channel)
    return channel.paths
"""


def test_the_generated_stubs_call_the_same_grpc_paths_as_the_official_client() -> None:
    from node.api.torii import endpoint_pb2_grpc

    namespace: dict[str, Any] = {}
    exec(PATHS, namespace)
    ours = namespace["paths"](endpoint_pb2_grpc)
    theirs = json.loads(run_official(PATHS + "from iroha import endpoint_pb2_grpc\n"
                                     "print(json.dumps(paths(endpoint_pb2_grpc)))"))
    assert ours == theirs == [
        "/iroha.protocol.CommandService_v1/Torii", "/iroha.protocol.CommandService_v1/ListTorii",
        "/iroha.protocol.CommandService_v1/Status", "/iroha.protocol.CommandService_v1/StatusStream",
        "/iroha.protocol.QueryService_v1/Find", "/iroha.protocol.QueryService_v1/FetchCommits",
        "/iroha.protocol.QueryService_v1/Healthcheck"]


# Renders a schema module's descriptor without what is ours to choose (file names, imports, options,
# comments): messages with every field's name, number, label, type, type name, oneof and proto3
# optional flag, nested messages and enums, enum values, and services with their methods' types and
# streaming. Run on both sides: the official client's modules and ours.
SCHEMA = r"""
import importlib, json, sys
from google.protobuf import descriptor_pb2

def message(m):
    return {"fields": [[f.name, f.number, f.label, f.type, f.type_name,
                        m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None,
                        f.proto3_optional] for f in m.field],
            "nested": {n.name: message(n) for n in m.nested_type},
            "enums": {e.name: [[v.name, v.number] for v in e.value] for e in m.enum_type}}

def schema(package):
    out = {}
    for name in ("primitive", "commands", "transaction", "queries", "qry_responses", "block", "endpoint"):
        f = descriptor_pb2.FileDescriptorProto()
        importlib.import_module(f"{package}.{name}_pb2").DESCRIPTOR.CopyToProto(f)
        out[name] = {"package": f.package, "syntax": f.syntax,
                     "messages": {m.name: message(m) for m in f.message_type},
                     "enums": {e.name: [[v.name, v.number] for v in e.value] for e in f.enum_type},
                     "services": {s.name: [[m.name, m.input_type, m.output_type, m.client_streaming,
                                            m.server_streaming] for m in s.method] for s in f.service}}
    return out
"""


def test_every_message_enum_field_number_and_service_of_our_schema_is_the_official_client_s() -> None:
    namespace: dict[str, Any] = {}
    exec(SCHEMA, namespace)
    ours = namespace["schema"]("node.ledger.iroha_proto")
    theirs = json.loads(run_official(SCHEMA + "print(json.dumps(schema('iroha')))"))
    assert json.loads(json.dumps(ours)) == theirs
    assert ours["commands"]["messages"]["Command"]["fields"][19][:2] == ["call_engine", 20]  # it did compare
