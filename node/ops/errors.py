"""The one error an operator command raises: a stable code and a one-line message, printed by
``node.cli.main`` as ``error: <code>: <message>``; the exit status follows docs/cli.md (1 by default,
3 when the node refused, 4 when it cannot be reached)."""

from __future__ import annotations


class OpsError(Exception):
    def __init__(self, code: str, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.code, self.message, self.exit_code = code, message, exit_code
