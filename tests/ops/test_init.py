"""``bakong init``: one bank's node directory whose config the node accepts, whose key the node reads,
and whose join request the central bank can submit as it is."""

from __future__ import annotations

import hashlib
import json
import stat
import tomllib
from pathlib import Path

import pytest

from node.assembly import Node
from node.cli import main
from node.config import SCHEMA, load_config
from node.keyfile import KeyFileError, read_key
from node.ledger import commands as c
from node.ledger.peers import validator_set
from node.ledger.transactions import TxPayload, build_transaction
from node.tools.testnet import init_testnet
from tests.ledger_world import Chain, key


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def genesis(tmp_path: Path) -> Path:
    init_testnet(tmp_path / "net", validators=1)
    return tmp_path / "net" / "genesis.json"


def test_init_writes_a_config_the_node_accepts_with_every_key_and_a_key_it_reads(
        tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "prasac"
    code, out, err = run(capsys, "init", "--dir", str(d), "--name", "prasac", "--role", "observer",
                         "--genesis", str(genesis), "--api-listen", "127.0.0.1:18100",
                         "--p2p-listen", "127.0.0.1:17100", "--torii-listen", "127.0.0.1:15051")
    assert (code, err) == (0, "")
    config = load_config(d / "node.toml")
    assert (config.name, config.role, config.api.port, config.p2p_port) == ("prasac", "observer", 18100, 17100)
    assert (config.torii.enabled, config.torii.port) == (True, 15051)  # a second node on the host: its own port
    assert config.data_dir == d / "data" and config.genesis_path == d / "genesis.json"
    doc = tomllib.loads((d / "node.toml").read_text())
    for section in SCHEMA:  # every key written out, each with its description above it
        table = doc[section.name] if section.name else doc
        assert {k.name for k in section.keys} <= set(table), section.name
    text = (d / "node.toml").read_text()
    assert "# Operator routes" in text and "[testing]" in text
    assert stat.S_IMODE((d / "node.key").stat().st_mode) == 0o600
    public_key = read_key(d / "node.key").public_key.hex()
    assert public_key in out and "p2p address  127.0.0.1:17100" in out
    digest = hashlib.sha256(genesis.read_bytes()).hexdigest()
    assert (d / "genesis.json").read_bytes() == genesis.read_bytes() and digest in out
    node = Node(config)  # the node starts from what init wrote: key, genesis, data dir
    try:
        assert node.key.public_key.hex() == public_key and node.ledger.head.height == 0
    finally:
        node.close()


def test_the_join_request_is_an_add_peer_the_central_bank_submits_and_the_promotion_makes_a_validator(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "prasac"
    code, out, _ = run(capsys, "init", "--dir", str(d), "--name", "prasac", "--role", "validator",
                       "--p2p-address", "203.0.113.7:7100")
    assert code == 0
    assert "genesis.json" in out and "sha256sum" in out  # no --genesis: how to get it and check it
    public_key = read_key(d / "node.key").public_key
    join = json.loads((d / "join-request.json").read_text())
    promote = json.loads((d / "promote-request.json").read_text())
    assert join["creator"] == "admin@nbc"
    assert [c.command_from_json(x) for x in join["commands"]] == [
        c.AddPeer("203.0.113.7:7100", public_key, "prasac", True)]  # joins as an observer first
    chain = Chain(tmp_path / "db")
    try:
        for request in (join, promote):
            payload = TxPayload(chain.chain_id, request["creator"], chain.now + 1, 1,
                                tuple(c.command_from_json(x) for x in request["commands"]))
            assert chain.run(build_transaction(payload, key("admin@nbc")))[0].status == "COMMITTED"
            in_set = public_key in validator_set(chain.ledger.store).keys
            assert in_set == (request is promote)
    finally:
        chain.close()


def test_init_refuses_a_non_empty_directory_and_force_never_replaces_a_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "node"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    args = ("init", "--dir", str(d), "--name", "aclb", "--role", "observer", "--p2p-address", "10.0.0.5:7100")
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "") and err.startswith("error: not_empty: ")
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    assert run(capsys, *args, "--force")[0] == 0
    first = (d / "node.key").read_bytes()
    code, _, err = run(capsys, *args, "--force")
    assert code == 1 and err.startswith("error: exists: ") and "node.key" in err
    assert (d / "node.key").read_bytes() == first


def test_init_refuses_an_address_other_banks_cannot_dial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "init", "--dir", str(tmp_path / "n"), "--name", "aclb", "--role", "observer")
    assert code == 1 and err.startswith("error: bad_arguments: --p2p-address '0.0.0.0:7100'")
    assert not (tmp_path / "n").exists()


def test_init_takes_torii_off_or_refuses_a_bad_torii_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("init", "--name", "aclb", "--role", "observer", "--p2p-address", "203.0.113.7:7100")
    code, _, err = run(capsys, *base, "--dir", str(tmp_path / "bad"), "--torii-listen", "127.0.0.1:70000")
    assert code == 1 and err.startswith("error: bad_arguments: --torii-listen '127.0.0.1:70000'")
    assert not (tmp_path / "bad").exists()
    code, _, err = run(capsys, *base, "--dir", str(tmp_path / "off"), "--torii-listen", "")
    assert (code, err) == (0, "")
    assert load_config(tmp_path / "off" / "node.toml").torii.enabled is False


def test_init_with_a_passphrase_file_encrypts_the_key_and_the_config_names_the_file(
        tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAKONG_KEY_PASSPHRASE", raising=False)
    secret = tmp_path / "pass"
    secret.write_text("correct horse battery staple\n")
    secret.chmod(0o600)
    d = tmp_path / "n"
    code, out, _ = run(capsys, "init", "--dir", str(d), "--name", "aclb", "--role", "observer",
                       "--genesis", str(genesis), "--p2p-address", "10.0.0.5:7100", "--passphrase-file", str(secret))
    assert code == 0 and "encrypted" in out
    with pytest.raises(KeyFileError) as info:
        read_key(d / "node.key")
    assert info.value.code == "key_passphrase_needed"
    assert load_config(d / "node.toml").key_passphrase_file == secret.resolve()
    assert read_key(d / "node.key", b"correct horse battery staple").public_key.hex() in out
