"""The node config is strict (issue 16, point 2): a typo, an unknown section or a wrong type stops the
node with one line naming the file and the key; secrets come from files or the environment; the
reference in docs/configuration.md and configs/node.example.toml cover every key of the schema."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from node import config_command, config_reference
from node.config import (
    ALL_KEYS,
    KEY_PASSPHRASE_ENV,
    OPERATOR_TOKEN_ENV,
    SCHEMA,
    ConfigError,
    NodeConfig,
    load_config,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "node.example.toml"
BASE = 'name = "nbc"\ngenesis = "genesis.json"\nkey_file = "keys/nbc.key"\ndata_dir = "data/nbc"\n'
TOKEN = "s3cret-operator-token-0123456789"


@pytest.fixture(autouse=True)
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own environment must not decide these tests."""
    monkeypatch.delenv(OPERATOR_TOKEN_ENV, raising=False)
    monkeypatch.delenv(KEY_PASSPHRASE_ENV, raising=False)


def write(tmp_path: Path, text: str, name: str = "node.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    assert caught.value.code == "bad_config"
    return message


# ---- the typos issue 16 found accepted silently ----

@pytest.mark.parametrize(("extra", "names"), [
    ('[p2p]\nlisen = "127.0.0.1:7101"\n', ("unknown key p2p.lisen", "did you mean p2p.listen?")),
    ("[mempol]\nmax_txs = 10\n", ("unknown section [mempol]", "did you mean [mempool]?")),
    ('log_level = "debug"\n', ("unknown key log_level", "did you mean log.level?")),
    ("[api]\nport = 28131\n", ("unknown key api.port", 'did you mean api.listen = "host:port"?')),
    ("[api]\nlisten = \"127.0.0.1:8101\"\nmax_conections = 5\n",
     ("unknown key api.max_conections", "did you mean api.max_connections?")),
])
def test_a_typo_in_a_section_or_key_is_refused_with_one_line_naming_file_key_and_the_right_name(
        tmp_path: Path, extra: str, names: tuple[str, ...]) -> None:
    message = refusal(write(tmp_path, BASE + extra))
    for name in names:
        assert name in message


def test_an_unknown_key_without_a_close_match_lists_the_sections_known_keys(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, BASE + "[health]\nquorum_check = true\n"))
    assert "unknown key health.quorum_check ([health] keys: stall_intervals, behind_blocks)" in message


@pytest.mark.parametrize(("extra", "expected"), [
    ('[mempool]\nmax_txs = "10"\n', 'mempool.max_txs = "10": expected a positive integer'),
    ("[mempool]\nmax_txs = 0\n", "mempool.max_txs = 0: expected a positive integer"),
    ("[block]\nmax_block_txs = true\n", "block.max_block_txs = true: expected a positive integer"),
    ("[consensus]\npropose_timeout_ms = -1\n", "consensus.propose_timeout_ms = -1: expected an integer >= 0"),
    ("[api]\nlisten = 8100\n", 'api.listen = 8100: expected "host:port"'),
    ('[p2p]\nlisten = "127.0.0.1:70000"\n', 'p2p.listen = "127.0.0.1:70000": expected "host:port"'),
    ('[log]\nlevel = "verbose"\n', 'log.level = "verbose": expected one of "debug", "info", "warning", "error"'),
    ('[log]\nformat = "xml"\n', 'log.format = "xml": expected one of "text", "json"'),
    ("[testing]\nfault_injection = 1\n", "testing.fault_injection = 1: expected true or false"),
    ('[testing]\nbyzantine = "evil"\n', 'testing.byzantine = "evil": expected one of ""'),
    ('role = "leader"\n', 'role = "leader": expected one of "validator", "observer"'),
    ("[api]\noperator_loopback = \"yes\"\n", 'api.operator_loopback = "yes": expected true or false'),
    ("api = 3\n", "api must be a table"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_key_value_and_what_is_expected(
        tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in refusal(write(tmp_path, BASE + extra))


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    assert "key_file is missing: expected a path" in refusal(write(tmp_path, BASE.replace('key_file = "keys/nbc.key"\n', "")))


def test_a_file_that_is_not_toml_is_one_line_naming_it(tmp_path: Path) -> None:
    assert "not valid TOML" in refusal(write(tmp_path, BASE + "[api\n"))


def test_a_complete_config_loads_with_paths_relative_to_its_own_directory(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "node.crt").write_text("cert")
    (tmp_path / "tls" / "node.key").write_text("key")
    config = load_config(write(tmp_path, BASE + 'key_passphrase_file = "secrets/pass"\nrole = "observer"\n'
                               '[api]\nlisten = "0.0.0.0:9100"\ntls_cert = "tls/node.crt"\ntls_key = "tls/node.key"\n'
                               "operator_loopback = false\n[p2p]\nlisten = \"10.0.0.5:9200\"\n"
                               '[log]\nlevel = "debug"\nformat = "json"\naccess_log = true\nprogress_interval_s = 5\n'
                               "[health]\nstall_intervals = 4\nbehind_blocks = 20\n"
                               "[consensus]\npropose_timeout_ms = 0\n"))
    assert isinstance(config, NodeConfig)
    assert (config.name, config.role) == ("nbc", "observer")
    assert config.genesis_path == tmp_path / "genesis.json"
    assert config.key_path == tmp_path / "keys" / "nbc.key"
    assert config.data_dir == tmp_path / "data" / "nbc"
    assert config.key_passphrase_file == tmp_path / "secrets" / "pass"
    assert (config.api.host, config.api.port, config.p2p_host, config.p2p_port) == ("0.0.0.0", 9100, "10.0.0.5", 9200)
    assert (config.api.tls_cert, config.api.tls_key) == (tmp_path / "tls" / "node.crt", tmp_path / "tls" / "node.key")
    assert config.api.operator_loopback is False and config.api.operator_token is None
    assert (config.log.level, config.log.format, config.log.access_log, config.log.progress_interval_s) == (
        "debug", "json", True, 5)
    assert (config.health.stall_intervals, config.health.behind_blocks) == (4, 20)
    assert config.consensus.propose_timeout_ms == 0


def test_defaults_of_a_minimal_config_are_the_agreed_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))
    assert config.role == "validator" and config.key_passphrase_file is None
    assert (config.api.host, config.api.port, config.p2p_port) == ("127.0.0.1", 8100, 7100)
    assert (config.api.tls_cert, config.api.tls_key, config.api.operator_loopback, config.api.operator_token) == (
        None, None, True, None)
    assert (config.log.level, config.log.format, config.log.access_log, config.log.progress_interval_s) == (
        "info", "text", False, 10)
    assert (config.health.stall_intervals, config.health.behind_blocks) == (3, 10)


# ---- TLS and the operator token ----

def test_tls_needs_both_certificate_and_key_and_they_must_exist(tmp_path: Path) -> None:
    (tmp_path / "node.crt").write_text("cert")
    assert "api.tls_cert and api.tls_key: give both" in refusal(
        write(tmp_path, BASE + '[api]\ntls_cert = "node.crt"\n'))
    assert f"api.tls_key {tmp_path / 'node.key'} does not exist" in refusal(
        write(tmp_path, BASE + '[api]\ntls_cert = "node.crt"\ntls_key = "node.key"\n'))


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_operator_token_comes_from_its_file_without_surrounding_whitespace(tmp_path: Path) -> None:
    private_file(tmp_path / "operator.token", f"  {TOKEN}\n")
    config = load_config(write(tmp_path, BASE + '[api]\noperator_token_file = "operator.token"\n'))
    assert config.api.operator_token == TOKEN
    assert TOKEN not in repr(config), "a logged config must not carry the token"


def test_the_environment_token_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private_file(tmp_path / "operator.token", TOKEN)
    monkeypatch.setenv(OPERATOR_TOKEN_ENV, "from-the-environment-0123\n")
    config = load_config(write(tmp_path, BASE + '[api]\noperator_token_file = "operator.token"\n'))
    assert config.api.operator_token == "from-the-environment-0123"
    monkeypatch.setenv(OPERATOR_TOKEN_ENV, "env-without-any-file-0123")
    assert load_config(write(tmp_path, BASE)).api.operator_token == "env-without-any-file-0123"


def test_a_token_file_that_is_missing_exposed_or_short_is_refused(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path, BASE + '[api]\noperator_token_file = "operator.token"\n')
    assert "operator.token does not exist" in refusal(config)
    private_file(tmp_path / "operator.token", TOKEN, 0o644)
    message = refusal(config)
    assert "open to group or others" in message and "chmod 600" in message and TOKEN not in message
    private_file(tmp_path / "operator.token", "short\n")
    assert "at least 16 characters, it has 5" in refusal(config)
    monkeypatch.setenv(OPERATOR_TOKEN_ENV, "  ")
    assert f"{OPERATOR_TOKEN_ENV}: the operator token must have at least 16" in refusal(write(tmp_path, BASE))


# ---- the reference, the example and the configs our tools write ----

def test_the_reference_in_docs_configuration_md_is_generated_from_the_current_schema() -> None:
    current = config_reference.DOC.read_text()
    assert current == config_reference.document(current), (
        "docs/configuration.md is stale: run .venv/bin/python -m node.config_reference --write")
    for key in ALL_KEYS:
        assert f"| `{key}` |" in current


def test_the_example_config_holds_every_key_of_the_schema_and_loads() -> None:
    doc = tomllib.loads(EXAMPLE.read_text())
    present = {name for name, value in doc.items() if not isinstance(value, dict)}
    present |= {f"{section}.{key}" for section, table in doc.items() if isinstance(table, dict) for key in table}
    assert present == set(ALL_KEYS)
    config = load_config(EXAMPLE)
    for section in SCHEMA:  # the example shows the defaults, except where a value must be given
        for key in section.keys:
            value = doc.get(key.name) if not section.name else doc[section.name][key.name]
            if key.default is not config_reference.REQUIRED:
                assert value == section.default(key), f"{section.dotted(key.name)} in the example is not its default"
    assert config.name == "nbc"


def test_the_configs_testnet_init_and_the_test_campaigns_write_load(tmp_path: Path) -> None:
    from node.tools.attack.harness import AttackNet, NetSpec
    from node.tools.chaos.network import ChaosNet

    chaos = ChaosNet(tmp_path / "chaos", "double_vote")
    chaos.write()
    attack = AttackNet(tmp_path / "attack", NetSpec(api={"max_websockets": 300}, mempool={"max_per_account": 50}))
    attack.write()
    for node in chaos.nodes + attack.nodes:
        config = load_config(node.config)
        assert config.testing.fault_injection and config.block.max_block_interval_ms == 500
    assert sum(load_config(n.config).testing.byzantine == "double_vote" for n in chaos.nodes) == 1
    assert {load_config(n.config).api.max_websockets for n in attack.nodes} == {300}


# ---- the operator's view: a real process and the check command ----

def test_a_node_started_on_a_config_with_a_typo_exits_78_with_one_stderr_line_naming_the_key(tmp_path: Path) -> None:
    bad = write(tmp_path, BASE + '[p2p]\nlisen = "127.0.0.1:7101"\n')
    env = {k: v for k, v in os.environ.items() if k not in (OPERATOR_TOKEN_ENV, KEY_PASSPHRASE_ENV)}
    proc = subprocess.run([sys.executable, "-m", "node.cli", "node", "--config", str(bad)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 78, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: bad_config: {bad}: unknown key p2p.lisen (did you mean p2p.listen?")
    assert not (tmp_path / "data").exists(), "a refused config must not create the data directory"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config_command.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_config_check_says_ok_or_gives_the_nodes_one_line_and_status_78(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["config", "check", "--config", str(EXAMPLE)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == f"ok: {EXAMPLE}"
    bad = write(tmp_path, BASE + "[mempol]\n")
    args = parse(["config", "check", "--config", str(bad)])
    assert args.func(args) == 78
    assert capsys.readouterr().err.strip().startswith(f"error: bad_config: {bad}: unknown section [mempol]")
