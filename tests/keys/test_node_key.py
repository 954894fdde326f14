"""A node whose key file is encrypted: it opens the key with the passphrase from BAKONG_KEY_PASSPHRASE or
its config's key_passphrase_file, and without one it stops at start with exit 78 (EX_CONFIG) and one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.api.client import NodeClient
from node.assembly import EXIT_CONFIG, Node, node_failure
from node.config import load_config
from node.keyfile import PASSPHRASE_ENV, KeyFileError, read_key, write_key
from node.tools import testnet

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "validator passphrase from the vault"


@pytest.fixture(autouse=True)
def no_passphrase_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def encrypted_node_key_net(directory: Path) -> tuple[testnet.TestnetNode, Path]:
    """A 1-validator testnet whose node key is re-written encrypted (as ``bakong key encrypt`` does)."""
    base = testnet.free_port_base(2)
    node = testnet.init_testnet(directory, validators=1, observers=0, base_port=base, p2p_base_port=base + 1)[0]
    key_path = load_config(node.config).key_path
    write_key(key_path, read_key(key_path), PASSPHRASE.encode())
    return node, key_path


def test_a_node_opens_its_encrypted_key_with_the_passphrase_file_named_in_its_config(tmp_path: Path) -> None:
    node, key_path = encrypted_node_key_net(tmp_path / "net")
    secret = tmp_path / "net" / "keys" / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    secret.chmod(0o600)
    node.config.write_text('key_passphrase_file = "../keys/passphrase"\n' + node.config.read_text())
    built = Node(load_config(node.config))
    try:
        assert built.key == read_key(key_path, PASSPHRASE.encode())
    finally:
        built.close()


def test_a_node_with_an_encrypted_key_and_no_passphrase_is_a_config_error_exit_78(tmp_path: Path) -> None:
    node, key_path = encrypted_node_key_net(tmp_path / "net")
    with pytest.raises(KeyFileError) as refused:
        Node(load_config(node.config))
    failure = node_failure(refused.value)
    assert failure.exit_code == EXIT_CONFIG == 78
    assert failure.code == "key_passphrase_needed" and str(key_path) in failure.message


@pytest.mark.integration
def test_a_node_process_serves_with_its_passphrase_in_the_environment_and_exits_78_without(tmp_path: Path) -> None:
    node, _key_path = encrypted_node_key_net(tmp_path / "net")
    command = [sys.executable, "-m", "node.cli", "node", "--config", str(node.config)]
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")

    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert refused.returncode == 78, refused.stderr
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: key_passphrase_needed: ")
    assert "Traceback" not in refused.stderr

    log = (tmp_path / "node.log").open("wb")
    proc = subprocess.Popen(command, env=env | {PASSPHRASE_ENV: PASSPHRASE}, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not NodeClient(node.api_url).healthy():
            assert proc.poll() is None, (tmp_path / "node.log").read_text()
            assert time.monotonic() < deadline, "no /healthz in 20 s"
            time.sleep(0.05)
        assert PASSPHRASE not in (tmp_path / "node.log").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
