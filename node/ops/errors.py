"""The one error an operator command raises: a stable code and a one-line message, printed by
``node.cli.main`` as ``error: <code>: <message>`` (exit status 1)."""

from __future__ import annotations


class OpsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
