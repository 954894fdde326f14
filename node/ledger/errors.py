"""The ledger's typed errors. Every one carries a stable machine-readable ``code``.

- ``StatelessError``: the transaction or query is malformed or badly signed; it never reaches a block
  (status STATELESS_VALIDATION_FAILED, HTTP 400).
- ``CommandError``: a command failed against the state; the transaction is REJECTED with the index of
  the failing command and this code.
- ``QueryError``: a query cannot be answered (missing entity, no permission).
- ``InvalidBlock``: a block that must not be committed (a peer's fault, or our own bug).

Each error also says which HTTP status suits it (``http_status``, as h11's ``error_status_hint``), so
the API answers a ledger error without a table of its own: 400 unless a subclass knows better.
"""

from __future__ import annotations


class LedgerError(Exception):
    """The root of every error the ledger raises on purpose."""

    code = "ledger_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def http_status(self) -> int:
        """The HTTP status an API answers this error with: the request was at fault."""
        return 400


class StatelessError(LedgerError):
    """Refused before any state is consulted."""


class CommandError(LedgerError):
    """A command cannot be applied to the current state."""


class QueryError(LedgerError):
    """A query cannot be answered."""

    @property
    def http_status(self) -> int:
        """403 when the querier may not read this, 404 when what it names does not exist, else 400."""
        if self.code in (PERMISSION_DENIED, NOT_A_SIGNATORY):
            return 403
        if self.code.startswith("no_such_"):
            return 404
        return 400


class InvalidBlock(LedgerError):
    """A block breaks a rule that no honest proposer breaks."""


# Stable error codes, shared by the executor, queries, API and CLI.
PERMISSION_DENIED = "permission_denied"
NO_SUCH_ACCOUNT = "no_such_account"
NO_SUCH_DOMAIN = "no_such_domain"
NO_SUCH_ASSET = "no_such_asset"
NO_SUCH_ROLE = "no_such_role"
NO_SUCH_PEER = "no_such_peer"
NO_SUCH_SIGNATORY = "no_such_signatory"
NO_SUCH_BLOCK = "no_such_block"
ACCOUNT_EXISTS = "account_exists"
DOMAIN_EXISTS = "domain_exists"
ASSET_EXISTS = "asset_exists"
ROLE_EXISTS = "role_exists"
PEER_EXISTS = "peer_exists"
SIGNATORY_EXISTS = "signatory_exists"
ROLE_ALREADY_HELD = "role_already_held"
ROLE_NOT_HELD = "role_not_held"
PERMISSION_ALREADY_GRANTED = "permission_already_granted"
PERMISSION_NOT_GRANTED = "permission_not_granted"
INSUFFICIENT_FUNDS = "insufficient_funds"
AMOUNT_OVERFLOW = "amount_overflow"
PRECISION_EXCEEDED = "precision_exceeded"
SELF_TRANSFER = "self_transfer"
QUORUM_TOO_HIGH = "quorum_too_high"
QUORUM_NOT_MET = "quorum_not_met"
LAST_SIGNATORY = "last_signatory"
NOT_A_SIGNATORY = "not_a_signatory"
NO_SUCH_TRANSACTION = "no_such_transaction"
DETAIL_MISMATCH = "detail_mismatch"
LAST_VALIDATOR = "last_validator"
EXPIRED = "expired"
FROM_FUTURE = "from_future"
REPLAY = "replay"
ACCOUNT_FROZEN = "account_frozen"
ACCOUNT_NOT_FROZEN = "account_not_frozen"
DETAIL_QUOTA_EXCEEDED = "detail_quota_exceeded"
