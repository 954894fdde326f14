"""A small Bakong-like world for ledger tests: fixed keys, one genesis, and a chain driven block by block.

Tests use the real ``Ledger`` on a real LevelDB in a temporary directory; nothing is mocked. Keys are
derived from account names so every run (and every hypothesis example) sees the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from consensus.crypto import KeyPair
from node.ledger import permissions as P
from node.ledger.blocks import Block, BlockHeader, make_block, tx_root
from node.ledger.chain import BlockExecution, Ledger
from node.ledger.commands import Command
from node.ledger.errors import InvalidBlock
from node.ledger.execution import TxResult
from node.ledger.genesis import Genesis, parse_genesis
from node.ledger.records import Account, get_account
from node.ledger.transactions import Transaction, TxPayload, build_transaction
from storage.db import LedgerStore

CHAIN = "bakong-test"
GENESIS_MS = 1_764_000_000_000
KHR = "khr#nbc"
USD = "usd#nbc"
POINTS = "pts#aclb"  # precision 0, belongs to bank aclb


def key(name: str) -> KeyPair:
    """The deterministic key of an account (or of any named signer)."""
    return KeyPair.from_seed(hashlib.sha256(b"test-key:" + name.encode()).digest())


def genesis_document(chain_id: str = CHAIN, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "chain_id": chain_id,
        "created_ms": GENESIS_MS,
        "roles": {
            "central_bank": P.CENTRAL_BANK_ROLE,
            "bank_admin": P.BANK_ADMIN_ROLE,
            "customer": P.CUSTOMER_ROLE,
            "sender_only": ["can_transfer"],
            "receiver": ["can_receive"],
            "superuser": ["root"],
        },
        "domains": [
            {"id": "nbc", "default_role": "customer"},
            {"id": "aclb", "default_role": "customer"},
            {"id": "abaa", "default_role": "customer"},
        ],
        "assets": [{"id": KHR, "precision": 2}, {"id": USD, "precision": 2}, {"id": POINTS, "precision": 0}],
        "accounts": [
            {"id": "admin@nbc", "public_key": key("admin@nbc").public_key.hex(), "roles": ["central_bank"]},
            {"id": "admin@aclb", "public_key": key("admin@aclb").public_key.hex(), "roles": ["bank_admin"]},
            {"id": "admin@abaa", "public_key": key("admin@abaa").public_key.hex(), "roles": ["bank_admin"]},
            {"id": "alice@aclb", "public_key": key("alice@aclb").public_key.hex(),
             "balances": {KHR: "1000.00", USD: "50.00"}},
            {"id": "bob@aclb", "public_key": key("bob@aclb").public_key.hex()},
            {"id": "carol@abaa", "public_key": key("carol@abaa").public_key.hex()},
            {"id": "dave@aclb", "public_key": key("dave@aclb").public_key.hex(), "roles": ["sender_only"]},
        ],
        "peers": [
            {"name": "nbc", "public_key": key("peer:nbc").public_key.hex(), "address": "127.0.0.1:7100"},
            {"name": "wing", "public_key": key("peer:wing").public_key.hex(), "address": "127.0.0.1:7101",
             "syncing": True},
        ],
    }
    doc.update(overrides)
    return doc


def genesis(chain_id: str = CHAIN) -> Genesis:
    return parse_genesis(genesis_document(chain_id))


class Chain:
    """One node's ledger in ``path``, fed one block per ``run`` call, with a clock that only moves forward."""

    def __init__(self, path: Path | str, chain_id: str = CHAIN) -> None:
        self.path = Path(path)
        self.chain_id = chain_id
        self.now = GENESIS_MS + 60_000
        self.proposer = key("peer:nbc").public_key
        self.ledger = self._open()

    def _open(self) -> Ledger:
        ledger = Ledger(LedgerStore(self.path), self.chain_id)
        ledger.ensure_genesis(genesis(self.chain_id))
        return ledger

    def tx(self, creator: str, *commands: Command, signers: tuple[KeyPair, ...] | None = None,
           created_ms: int | None = None, quorum: int = 1) -> Transaction:
        """A transaction by ``creator`` signed by its own key unless ``signers`` says otherwise."""
        self.now += 1  # distinct creation times keep otherwise equal transactions distinct
        payload = TxPayload(self.chain_id, creator, self.now if created_ms is None else created_ms, quorum,
                            tuple(commands))
        return build_transaction(payload, *(signers if signers is not None else (key(creator),)))

    def run(self, *txs: Transaction) -> list[TxResult]:
        """Build, commit and return the results of a block holding ``txs`` (already-committed ones dropped)."""
        self.now += 1000
        block, execution = self.ledger.build_block(list(txs), self.now, self.proposer)
        self.ledger.commit(block, execution, b"")
        return execution.results

    def left_out(self, tx: Transaction) -> str:
        """``tx`` is not signed by its creator's signatories (enough): the proposer leaves it out of the
        block, and a block holding it anyway is invalid. Returns the signature check's code."""
        self.now += 1000
        block, execution = self.ledger.build_block([tx], self.now, self.proposer)
        assert block.transactions == () and execution.left_out == (tx.hash,)
        [result] = self.ledger.execute(block.height, self.now, [tx]).results
        head = self.ledger.head
        forced = make_block(BlockHeader(head.height + 1, head.block_hash, self.now, self.proposer, tx_root([tx]),
                                        head.state_root, (tx.hash,)), (tx,))
        with pytest.raises(InvalidBlock) as refused:
            self.ledger.validate_block(forced)
        assert refused.value.code == "unsigned_transaction"
        self.ledger.commit(block, execution, b"")  # the empty block, so heights move on as with run()
        assert self.ledger.tx_status(tx.hash) is None
        assert result.command_index is None and result.error_code is not None
        return result.error_code

    def run_one(self, creator: str, *commands: Command, **kw: Any) -> TxResult:
        [result] = self.run(self.tx(creator, *commands, **kw))
        return result

    def balance(self, account: str, asset: str = KHR) -> int:
        return self.ledger.balances(account).get(asset, 0)

    def state(self, key_bytes: bytes) -> Any:
        return self.ledger.state(key_bytes)

    def account(self, account_id: str) -> Account | None:
        return get_account(self.ledger.world, account_id)

    def reopen(self) -> None:
        self.close()
        self.ledger = self._open()

    def close(self) -> None:
        self.ledger.store.close()


def follow(ledger: Ledger, block: Block, certificate: bytes = b"") -> BlockExecution:
    """Apply a block from elsewhere the way a node does: ``validate_block`` (consensus votes on the
    outcome) then ``commit`` (block sync does both at once, already holding the certificate)."""
    execution = ledger.validate_block(block)
    ledger.commit(block, execution, certificate)
    return execution
