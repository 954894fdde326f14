"""The official Iroha 1 Python client, in a venv of its own, for tests that check wire compatibility.

The official client (PyPI ``iroha`` 1.6.0.2) pins ``protobuf==3.20.1``, older than what our generated
code needs, so it cannot share ``.venv``. :func:`official_client_python` creates ``<repo>/.venv-iroha``
once (``protobuf==3.20.1 grpcio pynacl``, then ``iroha==1.6.0.2`` with ``--no-deps`` because its
metadata pins an older grpcio than installs on Python 3.11) and returns its interpreter. Tests run small
scripts there with :func:`run_official` and exchange hex or JSON on stdout: the client's own classes
build and read the bytes, ours are only compared against them.

Tests may run in parallel workers: creation happens under an exclusive file lock, and a marker file
written last tells a finished venv from one a killed worker left half-built (that one is rebuilt).
A test is skipped only when pip cannot reach the package registry (offline machine); any other
failure is an error, so CI, which has the network, always runs these tests.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-iroha"
LOCK = ROOT / ".venv-iroha.lock"
# Written after the last install step: its presence means the venv is complete.
READY = VENV / "ready"
# The official client and the runtime it was released against.
BASE_REQUIREMENTS = ("protobuf==3.20.1", "grpcio", "pynacl")
CLIENT_REQUIREMENT = "iroha==1.6.0.2"
# pip's words when the registry is out of reach (DNS, refused, timeouts, proxies), as opposed to a
# package or version that does not exist, which must fail loudly. pip prints them in its warnings
# before each retry (5 by default), so a configuration with no retries at all would fail, not skip.
_UNREACHABLE_MARKERS = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "Connection refused",
)
SCRIPT_TIMEOUT_S = 120.0


class OfficialClientError(RuntimeError):
    """A script run in the official client's venv exited non-zero; the message carries its stderr."""


def official_client_python() -> Path:
    """The python of the official client's venv, creating the venv on first use (skips if offline)."""
    python = VENV / "bin" / "python"
    if READY.exists():
        return python
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if READY.exists():  # another worker built it while we waited
            return python
        if VENV.exists():  # left half-built by a killed run
            shutil.rmtree(VENV)
        _run_setup([sys.executable, "-m", "venv", str(VENV)])
        _pip(python, *BASE_REQUIREMENTS)
        _pip(python, "--no-deps", CLIENT_REQUIREMENT)
        READY.write_text(f"{' '.join(BASE_REQUIREMENTS)} {CLIENT_REQUIREMENT}\n")
    return python


def run_official(script: str, *args: str) -> str:
    """Run ``script`` (Python source) with the official client's python and return its stdout.

    ``args`` become ``sys.argv[1:]`` of the script. Raises :class:`OfficialClientError` with the
    script's stderr when it exits non-zero.
    """
    python = official_client_python()
    # cwd is the venv: with ``-c`` the cwd comes first on sys.path, and nothing there shadows the client.
    done = subprocess.run(
        [str(python), "-c", script, *args],
        capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S, cwd=VENV, check=False,
    )
    if done.returncode != 0:
        raise OfficialClientError(
            f"official client script exited {done.returncode}:\n{done.stderr.strip()}"
        )
    return done.stdout


def _pip(python: Path, *requirements: str) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    if any(marker in output for marker in _UNREACHABLE_MARKERS):
        pytest.skip(
            "official Iroha client not installed: pip cannot reach the package registry "
            f"({' '.join(requirements)}); these tests run where the registry is reachable, as in CI"
        )
    raise OfficialClientError(f"{' '.join(command)} failed ({done.returncode}):\n{output.strip()}")


def _run_setup(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OfficialClientError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.strip()}")
