"""Signed queries (Iroha 1's 13): the records, their signed envelope, authentication and dispatch.

A query is ``[QUERY_TAG, 1, payload_bytes, public_key, signature]`` with payload
``[QUERY_PAYLOAD_TAG, 1, chain_id, creator, created_ms, counter, [query_tag, field, ...]]``, signed
under the QUERY domain so a query signature can never pass for a transaction's. The signer must be a
signatory of the creator; the creator's permissions decide what it may read, in Iroha's three scopes
(own account / own domain / all). Lists that grow (assets, transactions, details, pending) are paged:
``page_size`` items from the cursor ``first`` on, and the answer names the ``next`` cursor. What each
query may read and answers is ``node.ledger.answers``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from consensus import codec
from consensus.crypto import Domain, KeyPair, signing_digest, verify
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger import ids
from node.ledger.answers import Answers, PendingSource
from node.ledger.chain import Ledger
from node.ledger.commands import CheckedRecord, record_from_array
from node.ledger.errors import QueryError, StatelessError
from node.ledger.records import get_account
from node.ledger.validation import TX_TIME_WINDOW, TimeWindow

QUERY_TAG = 3
QUERY_PAYLOAD_TAG = 6
VERSION = 1
MAX_QUERY_BYTES = 16 * 1024
MAX_PAGE = 1000
MAX_DETAIL_PAGE = 100
"""Details per answer: a page holds at most 100 x (64-byte key + 4 KiB value), about 400 KiB."""
MAX_TX_HASHES = 200
"""Hashes per GetTransactions: each takes 66 bytes (a 64-character hex string), so 200 leave ~2.7 KiB of
the query's 16 KiB for the envelope, the longest creator and chain id (a test encodes that worst case)."""
QUERY_TIME_WINDOW: Final = TimeWindow(future_ms=TX_TIME_WINDOW.future_ms, past_ms=TX_TIME_WINDOW.future_ms)
"""Queries change nothing, so a narrow window (the transactions' future bound, both ways) is enough to
stop an old signed query being replayed much later."""


def _page_size(v: Any) -> int:
    if type(v) is not int or not 1 <= v <= MAX_PAGE:
        raise StatelessError("bad_page_size", f"page_size must be 1..{MAX_PAGE}")
    return v


def _optional_str(v: Any) -> str | None:
    return None if v is None else c.check_str(v, 256)


def _optional_hash(v: Any) -> str | None:
    if v is None:
        return None
    if type(v) is not str or len(v) != 64:
        raise StatelessError("bad_hash", "a transaction hash is 64 hex characters")
    try:
        bytes.fromhex(v)
    except ValueError:
        raise StatelessError("bad_hash", "a transaction hash is 64 hex characters") from None
    return v


def _detail_page_size(v: Any) -> int:
    if type(v) is not int or not 1 <= v <= MAX_DETAIL_PAGE:
        raise StatelessError("bad_page_size", f"page_size must be 1..{MAX_DETAIL_PAGE}")
    return v


def _hashes(v: Any) -> tuple[str, ...]:
    if type(v) not in (list, tuple) or not 1 <= len(v) <= MAX_TX_HASHES:
        raise StatelessError("bad_hash", f"tx_hashes must be a list of 1..{MAX_TX_HASHES} hashes")
    return tuple(_optional_hash(h) or "" for h in v)


def _height(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise StatelessError("bad_height", "height must be a non-negative integer")
    return v


@dataclass(frozen=True)
class Query(CheckedRecord):
    """Base of all queries."""


@dataclass(frozen=True)
class GetAccount(Query):
    TAG = 1
    account_id: str
    CHECKS = (c.check_account,)


@dataclass(frozen=True)
class GetAccountAssets(Query):
    TAG = 2
    account_id: str
    page_size: int
    first: str | None
    """Asset id to start from."""
    CHECKS = (c.check_account, _page_size, _optional_str)


@dataclass(frozen=True)
class GetAccountDetail(Query):
    TAG = 3
    account_id: str
    writer: str | None
    key: str | None
    page_size: int = MAX_DETAIL_PAGE
    first: str | None = None
    """Cursor ``"writer/key"`` to start from (the ``next`` of the previous page); rows are in that order."""
    CHECKS = (c.check_account, _optional_str, _optional_str, _detail_page_size, _optional_str)


@dataclass(frozen=True)
class GetAccountTransactions(Query):
    TAG = 4
    account_id: str
    page_size: int
    first: str | None
    """Hash of the transaction to start from (newest first)."""
    CHECKS = (c.check_account, _page_size, _optional_hash)


@dataclass(frozen=True)
class GetAccountAssetTransactions(Query):
    TAG = 5
    account_id: str
    asset_id: str
    page_size: int
    first: str | None
    CHECKS = (c.check_account, c.check_asset, _page_size, _optional_hash)


@dataclass(frozen=True)
class GetTransactions(Query):
    TAG = 6
    tx_hashes: tuple[str, ...]
    CHECKS = (_hashes,)


@dataclass(frozen=True)
class GetAssetInfo(Query):
    TAG = 7
    asset_id: str
    CHECKS = (c.check_asset,)


@dataclass(frozen=True)
class GetRoles(Query):
    TAG = 8
    CHECKS = ()


@dataclass(frozen=True)
class GetRolePermissions(Query):
    TAG = 9
    role_name: str
    CHECKS = (c.check_role,)


@dataclass(frozen=True)
class GetSignatories(Query):
    TAG = 10
    account_id: str
    CHECKS = (c.check_account,)


@dataclass(frozen=True)
class GetBlock(Query):
    TAG = 11
    height: int
    CHECKS = (_height,)


@dataclass(frozen=True)
class GetPeers(Query):
    TAG = 12
    CHECKS = ()


@dataclass(frozen=True)
class GetPendingTransactions(Query):
    TAG = 13
    page_size: int
    first: str | None
    CHECKS = (_page_size, _optional_hash)


QUERY_TYPES: dict[int, type[Query]] = {
    cls.TAG: cls
    for cls in (GetAccount, GetAccountAssets, GetAccountDetail, GetAccountTransactions, GetAccountAssetTransactions,
                GetTransactions, GetAssetInfo, GetRoles, GetRolePermissions, GetSignatories, GetBlock, GetPeers,
                GetPendingTransactions)
}


@dataclass(frozen=True)
class SignedQuery:
    chain_id: str
    creator: str
    created_ms: int
    counter: int
    query: Query
    payload_bytes: bytes
    public_key: bytes
    signature: bytes

    def encode(self) -> bytes:
        return codec.encode([QUERY_TAG, VERSION, self.payload_bytes, self.public_key, self.signature])


def sign_query(chain_id: str, creator: str, created_ms: int, counter: int, query: Query, key: KeyPair) -> SignedQuery:
    payload = codec.encode([QUERY_PAYLOAD_TAG, VERSION, chain_id, creator, created_ms, counter,
                            [list(x) if isinstance(x, tuple) else x for x in query.to_array()]])
    sig = key.sign(signing_digest(Domain.QUERY, chain_id, payload))
    return SignedQuery(chain_id, creator, created_ms, counter, query, payload, key.public_key, sig)


def decode_query(data: bytes) -> SignedQuery:
    try:
        f = codec.expect_record(codec.decode(data, MAX_QUERY_BYTES), QUERY_TAG, VERSION, 3, "query")
        payload_bytes = codec.expect_bytes(f[0], "payload", max_length=MAX_QUERY_BYTES)
        public_key = codec.expect_bytes(f[1], "public_key", 32)
        signature = codec.expect_bytes(f[2], "signature", 64)
        p = codec.expect_record(codec.decode(payload_bytes, MAX_QUERY_BYTES), QUERY_PAYLOAD_TAG, VERSION, 5, "payload")
        chain_id = codec.expect_str(p[0], "chain_id", 64)
        if not chain_id.isascii():
            raise codec.UnexpectedShape("chain_id: must be ASCII")
        creator = ids.check_account_id(codec.expect_str(p[1], "creator", 300))
        created_ms = codec.expect_int(p[2], "created_ms", 0, 2**63 - 1)
        counter = codec.expect_int(p[3], "counter", 0, 2**63 - 1)
    except codec.CodecError as exc:
        raise StatelessError(f"bad_encoding_{exc.code}", exc.message) from exc
    query = record_from_array(p[4], QUERY_TYPES, "query")
    return SignedQuery(chain_id, creator, created_ms, counter, query, payload_bytes, public_key, signature)


class QueryService:
    """Answers signed queries from the committed state of one ledger."""

    def __init__(self, ledger: Ledger, pending: PendingSource | None = None) -> None:
        self.ledger = ledger
        self.pending = pending or (lambda _creator: [])

    def answer(self, q: SignedQuery, now_ms: int) -> dict[str, Any]:
        """Authenticate ``q`` and answer it, or raise StatelessError / QueryError."""
        # Every read of one query goes to one published state: a page never mixes two blocks, and no
        # answer shows a transaction in a block the node's head does not name yet.
        chain = self.ledger.published()
        if q.chain_id != self.ledger.chain_id:
            raise StatelessError("wrong_chain", f"query is for chain {q.chain_id!r}")
        violation = QUERY_TIME_WINDOW.violation(q.created_ms, now_ms, "this node's time")
        if violation is not None:
            raise StatelessError("stale_query", violation[1])
        if not verify(q.public_key, signing_digest(Domain.QUERY, q.chain_id, q.payload_bytes), q.signature):
            raise StatelessError("bad_signature", "query signature does not verify")
        account = get_account(chain.world, q.creator)
        if account is None or q.public_key not in account.signatories:
            raise QueryError(e.NOT_A_SIGNATORY, "the signing key is not a signatory of the query's creator")
        answer = ANSWERS[type(q.query)](Answers(chain, q.creator, self.pending), q.query)
        return {"type": type(q.query).__name__, **answer}


ANSWERS: dict[type[Query], Callable[[Answers, Any], dict[str, Any]]] = {
    GetAccount: Answers.account,
    GetAccountAssets: Answers.account_assets,
    GetAccountDetail: Answers.account_detail,
    GetAccountTransactions: Answers.account_transactions,
    GetAccountAssetTransactions: Answers.account_asset_transactions,
    GetTransactions: Answers.transactions,
    GetAssetInfo: Answers.asset_info,
    GetRoles: Answers.roles,
    GetRolePermissions: Answers.role_permissions,
    GetSignatories: Answers.signatories,
    GetBlock: Answers.block,
    GetPeers: Answers.peers,
    GetPendingTransactions: Answers.pending_transactions,
}
"""Which ``Answers`` method answers each query type."""
assert set(ANSWERS) == set(QUERY_TYPES.values()), "every query has an answer"


__all__ = ["QueryService", "SignedQuery", "decode_query", "sign_query"]
