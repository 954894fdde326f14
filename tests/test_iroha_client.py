"""tests/iroha_client.py: an offline machine skips the official client's tests, a broken pin fails them.

Nothing is installed: the requirement named does not exist, so pip can only fail; what is checked is
how the failure is classified.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import iroha_client

NO_SUCH_PACKAGE = "bakong-test-no-such-package==0.0.1"


def test_a_registry_pip_cannot_reach_skips_with_a_message_saying_so() -> None:
    unreachable = ("--dry-run", "--retries", "1", "--timeout", "2", "--index-url", "http://127.0.0.1:9/simple")
    with pytest.raises(pytest.skip.Exception, match="pip cannot reach the package registry"):
        iroha_client._pip(Path(sys.executable), *unreachable, NO_SUCH_PACKAGE)


def test_a_requirement_the_registry_does_not_have_is_an_error_not_a_skip() -> None:
    with pytest.raises(iroha_client.OfficialClientError, match=NO_SUCH_PACKAGE):
        iroha_client._pip(Path(sys.executable), "--dry-run", "--no-index", NO_SUCH_PACKAGE)


def test_run_official_returns_stdout_and_raises_with_stderr_on_failure() -> None:
    assert iroha_client.run_official("import sys, iroha; print(sys.argv[1:])", "a", "b") == "['a', 'b']\n"
    with pytest.raises(iroha_client.OfficialClientError, match="no such client module"):
        iroha_client.run_official("import sys; sys.exit('no such client module')")
