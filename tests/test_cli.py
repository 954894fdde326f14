"""The ``bakong`` command line in-process (``node.cli.main``): --version and help everywhere, one
subcommand per query, the exit statuses of docs/cli.md, and ``testnet up`` refusing a directory whose
network differs from the flags. A real node behind the CLI: tests/integration/test_cli_payment.py."""

from __future__ import annotations

import argparse
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from consensus.crypto import KeyPair
from node import cli
from node.cli import (
    EXIT_BUSY,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    QUERIES,
    build_parser,
    main,
    parsers,
)
from node.keyfile import write_key
from node.ledger.queries import QUERY_TYPES, decode_query, sign_query
from node.ledger.transactions import decode_transaction
from node.tools.testnet import init_testnet, load_pids
from node.tools.testnet_control import DEFAULT_SHAPE, Shape, resolve_shape
from node.version import VERSION
from storage.db import FORMAT_VERSION


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command_paths() -> list[list[str]]:
    """The argv prefix of every command and subcommand: [], ["tx"], ["tx", "transfer"], ..."""
    return [p.prog.split()[1:] for p in parsers(build_parser())]


# ---- --version and help ----

def test_every_command_and_subcommand_answers_version(capsys: pytest.CaptureFixture[str]) -> None:
    paths = command_paths()
    assert ["tx", "transfer"] in paths and ["query", "txs"] in paths and ["testnet", "up"] in paths
    parser = build_parser()  # one parser for the walk (main builds one per call: ~30 ms each)
    for path in paths:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([*path, "--version"])
        out = capsys.readouterr().out
        assert done.value.code == 0 and out.startswith(f"bakong {VERSION} (data format "), (path, out)
    assert main(["tx", "transfer", "--version"]) == EXIT_OK  # what a user types, required options and all
    assert capsys.readouterr().out == f"bakong {VERSION} (data format {FORMAT_VERSION})\n"


def test_every_option_and_subcommand_has_help_text() -> None:
    missing = []
    for parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{parser.prog} {choice.dest}" for choice in action._choices_actions
                            if not (choice.help or "").strip()]
                continue
            if not (action.help or "").strip():
                missing.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_usage_errors_exit_2_as_argparse_says(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == EXIT_USAGE
    assert main(["tx", "transfer", "--to", "bob@abaa"]) == EXIT_USAGE  # --from, --asset, --amount missing
    assert main(["query", "roles"]) == EXIT_USAGE  # no account to default --creator to
    assert main(["tx", "send", "x.hex", "--timeout", "soon"]) == EXIT_USAGE
    assert "usage: bakong query roles" in capsys.readouterr().err


# ---- queries ----

SAMPLE_QUERIES = {
    "account": ["alice@aclb"],
    "assets": ["alice@aclb", "--limit", "5", "--cursor", "khr#nbc"],
    "detail": ["alice@aclb", "--writer", "admin@aclb", "--detail-key", "kyc", "--limit", "3",
               "--cursor", "admin@aclb/kyc"],
    "txs": ["alice@aclb", "--limit", "2", "--cursor", "ab" * 32],
    "asset-txs": ["alice@aclb", "khr#nbc", "--cursor", "cd" * 32],
    "tx": ["ab" * 32, "cd" * 32, "--creator", "alice@aclb"],
    "asset": ["khr#nbc", "--creator", "alice@aclb"],
    "roles": ["--creator", "admin@nbc"],
    "role-permissions": ["customer", "--creator", "admin@nbc"],
    "signatories": ["alice@aclb"],
    "block": ["3", "--creator", "admin@nbc"],
    "peers": ["--creator", "admin@nbc"],
    "pending": ["--creator", "alice@aclb", "--limit", "7", "--cursor", "ef" * 32],
}


def test_each_of_the_13_queries_has_a_subcommand_whose_flags_reach_the_signed_query() -> None:
    parser = build_parser()
    builders = {name: build for name, _summary, build in QUERIES}
    assert set(builders) == set(SAMPLE_QUERIES)
    built = {}
    key = KeyPair.generate()
    for name, argv in SAMPLE_QUERIES.items():
        args = parser.parse_args(["query", name, *argv])
        query = builders[name](args)
        # what the node decodes is what the flags said (signed, encoded, decoded as the node does)
        assert decode_query(sign_query("chain", "alice@aclb", 1, 1, query, key).encode()).query == query
        built[name] = query
    assert {type(query) for query in built.values()} == set(QUERY_TYPES.values())
    assert (built["txs"].page_size, built["txs"].first) == (2, "ab" * 32)
    assert built["detail"].to_array()[1:] == ["alice@aclb", "admin@aclb", "kyc", 3, "admin@aclb/kyc"]
    assert built["tx"].tx_hashes == ("ab" * 32, "cd" * 32)
    assert parser.parse_args(["query", "balance", "alice@aclb"]).func is not None  # the old name still works


def test_a_bad_cursor_is_named_before_anything_is_signed_or_sent(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["query", "txs", "alice@aclb", "--cursor", "not-a-hash", "--node",
                   f"http://127.0.0.1:{closed_port()}", "--key", str(tmp_path / "absent.key")])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR and err.startswith("error: bad_hash: ") and err.count("\n") == 1


# ---- exit statuses against a node's API ----

class StubApi:
    """Canned answers of the node's HTTP API, so each exit status is checked on its own (the real node's
    answers are checked in tests/integration/test_cli_payment.py)."""

    def __init__(self) -> None:
        self.submit: tuple[int, dict[str, Any]] = (202, {})
        self.polled: dict[str, Any] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path in ("/v1/chain", "/v1/status"):
                    self._answer(200, {"chain_id": "bakong-testnet", "height": 1})
                else:
                    self._answer(200, stub.polled)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self._answer(*stub.submit)

        return Handler


@pytest.fixture
def api() -> Iterator[StubApi]:
    stub = StubApi()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def transfer(api_url: str, tmp_path: Path, *extra: str) -> list[str]:
    key = tmp_path / "alice.key"
    if not key.exists():
        write_key(key, KeyPair.generate())
    return ["tx", "transfer", "--from", "alice@aclb", "--to", "bob@abaa", "--asset", "khr#nbc", "--amount", "1.00",
            "--key", str(key), "--node", api_url, "--save", str(tmp_path / "tx.hex"), *extra]


def saved_hash(tmp_path: Path) -> str:
    return decode_transaction(bytes.fromhex((tmp_path / "tx.hex").read_text())).hash.hex()


def test_still_pending_after_the_timeout_exits_5_with_one_line_naming_the_hash(
        api: StubApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api.submit = (202, {"hash": "?", "status": "STATELESS_VALIDATION_SUCCESS"})
    api.polled = {"status": "STATELESS_VALIDATION_SUCCESS"}  # a halted network: accepted, never final
    assert main(transfer(api.url, tmp_path, "--timeout", "0.3")) == EXIT_PENDING
    err = capsys.readouterr().err
    assert err.startswith(f"error: timeout: still pending: {saved_hash(tmp_path)} ") and err.count("\n") == 1
    # --no-wait asks for no more than "accepted"
    assert main(transfer(api.url, tmp_path, "--no-wait")) == EXIT_OK


@pytest.mark.parametrize(("submit", "polled", "expected"), [
    ((202, {"status": "STATELESS_VALIDATION_SUCCESS"}), {"status": "COMMITTED", "height": 4, "index": 0}, EXIT_OK),
    ((200, {"status": "COMMITTED", "height": 4, "index": 0}), {}, EXIT_OK),  # a resend: already paid
    ((202, {"status": "STATELESS_VALIDATION_SUCCESS"}),
     {"status": "REJECTED", "height": 4, "index": 0, "error_code": "insufficient_funds", "message": "m"},
     EXIT_REJECTED),
    ((400, {"status": "STATELESS_VALIDATION_FAILED", "error_code": "expired", "message": "too old"}), {},
     EXIT_REJECTED),
    ((503, {"error": {"code": "mempool_full", "message": "the mempool is full; retry shortly"}}), {}, EXIT_BUSY),
    ((429, {"error": {"code": "account_limit", "message": "too many waiting"}}), {}, EXIT_BUSY),
])
def test_each_outcome_of_a_payment_has_its_exit_status(api: StubApi, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str], submit: Any,
                                                       polled: dict[str, Any], expected: int) -> None:
    api.submit, api.polled = submit, polled
    assert main(transfer(api.url, tmp_path, "--timeout", "5")) == expected
    err = capsys.readouterr().err
    assert (err == "") == (expected == EXIT_OK) and err.count("\n") <= 1


def test_a_node_that_cannot_be_reached_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["status", "--node", url]) == EXIT_UNREACHABLE
    assert main(transfer(url, tmp_path)) == EXIT_UNREACHABLE
    assert main(["query", "account", "alice@aclb", "--node", url, "--key", str(tmp_path / "alice.key")]) \
        == EXIT_UNREACHABLE
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("error: unreachable: cannot reach node at ") for line in lines)


def test_bad_values_and_files_are_other_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(transfer(url, tmp_path, "--amount", "1e5")) == EXIT_ERROR  # the last --amount wins
    assert main(["tx", "send", str(tmp_path / "absent.hex"), "--node", url]) == EXIT_ERROR
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in err] == ["bad_amount", "bad_file"], err
    assert main(transfer(url, tmp_path, "--timeout", "0")) == EXIT_USAGE
    assert "--timeout: must be a positive number of seconds" in capsys.readouterr().err


# ---- testnet up ----

def test_testnet_up_refuses_flags_that_contradict_the_directorys_network(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net"
    init_testnet(net, validators=1, observers=0, base_port=closed_port(), p2p_base_port=closed_port())
    existing = resolve_shape(net)
    assert (existing.validators, existing.observers) == (1, 0)
    status = main(["testnet", "up", "--dir", str(net), "--validators", "4", "--observers", "1", "--detach"])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR and err.count("\n") == 1
    assert err.startswith(f"error: testnet_error: {net} holds a network of 1 validators + 0 observers (API port ")
    assert "asked for --validators 4, --observers 1" in err
    assert load_pids(net) == {}  # nothing was started
    # flags that agree, or none, name the existing network; a fresh directory takes the flags
    assert resolve_shape(net, validators=1, api_port=existing.api_port) == existing
    assert resolve_shape(tmp_path / "fresh", observers=0) == Shape(DEFAULT_SHAPE.validators, 0,
                                                                  DEFAULT_SHAPE.api_port, DEFAULT_SHAPE.p2p_port)


def test_the_exit_table_in_the_docs_is_the_one_in_the_code() -> None:
    table = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    for name in ("EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_REJECTED", "EXIT_UNREACHABLE", "EXIT_PENDING",
                 "EXIT_BUSY", "EXIT_INTERRUPTED"):
        assert f"| {getattr(cli, name)} |" in table, name
