"""The ledger against a tiny model, driven by hypothesis through random command sequences.

Each step queues a transaction (valid or not: overdrafts, unknown accounts, wrong signers, missing
permissions, too many decimals, replays of committed transactions), closes a block through the real
``build_block`` + ``commit`` on a real LevelDB, or closes and reopens the database. The model is a
dict of balances and predicts every transaction's outcome (status, failing command, error code).

Invariants: per asset, the ledger's balances sum to what was minted minus what was burned; no balance
is below zero; the ledger's balances equal the model's; reopening the database changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus import codec
from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger import ids
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction
from storage import keys
from tests.ledger_world import KHR, POINTS, USD, Chain, key

PRECISION = {KHR: 2, USD: 2, POINTS: 0}
ASSETS = sorted(PRECISION)
CUSTOMERS = ["alice@aclb", "bob@aclb", "carol@abaa"]
SENDER_ONLY = "dave@aclb"  # may transfer, may not receive
CENTRAL_BANK, BANK_ADMIN = "admin@nbc", "admin@aclb"
ACCOUNTS = [*CUSTOMERS, SENDER_ONLY, CENTRAL_BANK, BANK_ADMIN]
RECEIVERS = set(ACCOUNTS) - {SENDER_ONLY}
GHOST = "ghost@aclb"  # never created
SUPPLY_RIGHTS = {CENTRAL_BANK: set(ASSETS), BANK_ADMIN: {POINTS}}  # who may mint and burn what
OPENING = {("alice@aclb", KHR): 100_000, ("alice@aclb", USD): 5_000}  # from the genesis document

accounts = st.sampled_from(ACCOUNTS)
anyone = st.sampled_from([*ACCOUNTS, GHOST])
assets = st.sampled_from(ASSETS)


@st.composite
def amounts(draw: st.DrawFn, asset: str) -> str:
    """A decimal string for ``asset``, sometimes with one decimal more than its precision allows."""
    scale = draw(st.integers(0, PRECISION[asset] + 1))
    return ids.format_amount(draw(st.integers(1, 150_000)), scale)


class Rejection(Exception):
    def __init__(self, index: int | None, code: str) -> None:
        self.index, self.code = index, code


@dataclass
class Expected:
    tx: Transaction
    outcome: tuple[str, int | None, str | None]
    balances: dict[tuple[str, str], int]
    supply: Counter[str]


@settings(stateful_step_count=30)  # examples and seeds come from the profile (tests/conftest.py)
class LedgerVersusModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="ledger-stateful-")
        self.chain = Chain(self.dir)
        self.balances: dict[tuple[str, str], int] = dict(OPENING)
        self.supply: Counter[str] = Counter()  # minted - burned, per asset
        for (_account, asset), units in OPENING.items():
            self.supply[asset] += units
        self.pending: list[Expected] = []
        self.replays: list[Transaction] = []
        self.committed_txs: list[Transaction] = []
        self.blocks_since_reopen = 0

    def teardown(self) -> None:
        self.chain.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- the model ----

    def _units(self, amount: str, asset: str, index: int) -> int:
        units = ids.to_minor_units(amount, PRECISION[asset])
        if units is None:
            raise Rejection(index, e.PRECISION_EXCEEDED)
        return units

    def _predict(self, creator: str, signer: str, commands: list[tuple[Any, ...]]) -> tuple[Any, Any, Any]:
        """(outcome, balances after, supply after) as the ledger should see it after the pending txs."""
        balances = dict(self.pending[-1].balances if self.pending else self.balances)
        supply = Counter(self.pending[-1].supply if self.pending else self.supply)
        before = (dict(balances), Counter(supply))
        try:
            if creator not in ACCOUNTS:
                raise Rejection(None, e.NO_SUCH_ACCOUNT)
            if signer != creator:
                raise Rejection(None, e.NOT_A_SIGNATORY)
            for index, (kind, *args) in enumerate(commands):
                if kind == "transfer":
                    src, dest, asset, amount = args
                    if src == dest:
                        raise Rejection(index, e.SELF_TRANSFER)
                    if creator != src:
                        raise Rejection(index, e.PERMISSION_DENIED)
                    if dest not in ACCOUNTS:
                        raise Rejection(index, e.NO_SUCH_ACCOUNT)
                    if dest not in RECEIVERS:
                        raise Rejection(index, e.PERMISSION_DENIED)
                    units = self._units(amount, asset, index)
                    if balances.get((src, asset), 0) < units:
                        raise Rejection(index, e.INSUFFICIENT_FUNDS)
                    balances[(src, asset)] -= units
                    balances[(dest, asset)] = balances.get((dest, asset), 0) + units
                else:
                    asset, amount = args
                    if asset not in SUPPLY_RIGHTS.get(creator, ()):
                        raise Rejection(index, e.PERMISSION_DENIED)
                    units = self._units(amount, asset, index)
                    if kind == "mint":
                        balances[(creator, asset)] = balances.get((creator, asset), 0) + units
                        supply[asset] += units
                    else:
                        if balances.get((creator, asset), 0) < units:
                            raise Rejection(index, e.INSUFFICIENT_FUNDS)
                        balances[(creator, asset)] -= units
                        supply[asset] -= units
        except Rejection as r:
            return (TxStatus.REJECTED, r.index, r.code), *before
        return (TxStatus.COMMITTED, None, None), balances, supply

    def _to_command(self, creator: str, spec: tuple[Any, ...]) -> c.Command:
        kind, *args = spec
        if kind == "transfer":
            src, dest, asset, amount = args
            return c.TransferAsset(src, dest, asset, "", amount)
        asset, amount = args
        return c.AddAssetQuantity(asset, amount) if kind == "mint" else c.SubtractAssetQuantity(asset, amount)

    def _queue(self, creator: str, commands: list[tuple[Any, ...]], signer: str | None = None) -> None:
        signer = creator if signer is None else signer
        outcome, balances, supply = self._predict(creator, signer, commands)
        tx = self.chain.tx(creator, *(self._to_command(creator, s) for s in commands), signers=(key(signer),))
        self.pending.append(Expected(tx, outcome, balances, supply))

    # ---- rules: transactions ----

    def _model_now(self) -> dict[tuple[str, str], int]:
        return self.pending[-1].balances if self.pending else self.balances

    @rule(data=st.data())
    def payment_within_the_balance(self, data: st.DataObject) -> None:
        """The common case, drawn from what the model says is affordable, so most of these commit."""
        funded = sorted((k, v) for k, v in self._model_now().items() if v > 0 and k[0] in ACCOUNTS)
        if not funded:
            return self.issue_money(data)
        (src, asset), balance = data.draw(st.sampled_from(funded))
        dest = data.draw(st.sampled_from(sorted(RECEIVERS - {src})))
        amount = ids.format_amount(self._units_near(balance, data), PRECISION[asset])
        self._queue(src, [("transfer", src, dest, asset, amount)])

    @staticmethod
    def _units_near(balance: int, data: st.DataObject) -> int:
        """Some of ``balance``, all of it, or one unit more than it (the overdraft edge)."""
        edge = data.draw(st.sampled_from(["some", "all", "one_unit_too_many"]))
        return {"some": data.draw(st.integers(1, balance)), "all": balance, "one_unit_too_many": balance + 1}[edge]

    @rule(data=st.data())
    def retire_money(self, data: st.DataObject) -> None:
        """An issuer burns what it holds of an asset it may burn, up to and just over its balance."""
        held = sorted((k, v) for k, v in self._model_now().items()
                      if v > 0 and k[1] in SUPPLY_RIGHTS.get(k[0], ()))
        if not held:
            return self.issue_money(data)
        (issuer, asset), balance = data.draw(st.sampled_from(held))
        amount = ids.format_amount(self._units_near(balance, data), PRECISION[asset])
        self._queue(issuer, [("burn", asset, amount)])

    @rule(data=st.data())
    def issue_money(self, data: st.DataObject) -> None:
        """An issuer mints an asset it may mint, at the asset's precision."""
        issuer = data.draw(st.sampled_from(sorted(SUPPLY_RIGHTS)))
        asset = data.draw(st.sampled_from(sorted(SUPPLY_RIGHTS[issuer])))
        self._queue(issuer, [("mint", asset, ids.format_amount(data.draw(st.integers(1, 10**9)), PRECISION[asset]))])

    @rule(src=accounts, dest=anyone, asset=assets, data=st.data())
    def transfer(self, src: str, dest: str, asset: str, data: st.DataObject) -> None:
        self._queue(src, [("transfer", src, dest, asset, data.draw(amounts(asset)))])

    @rule(creator=accounts, src=accounts, dest=accounts, asset=assets, data=st.data())
    def transfer_from_someone_else(self, creator: str, src: str, dest: str, asset: str, data: st.DataObject) -> None:
        self._queue(creator, [("transfer", src, dest, asset, data.draw(amounts(asset)))])

    @rule(creator=accounts, asset=assets, data=st.data())
    def mint(self, creator: str, asset: str, data: st.DataObject) -> None:
        self._queue(creator, [("mint", asset, data.draw(amounts(asset)))])

    @rule(creator=accounts, asset=assets, data=st.data())
    def burn(self, creator: str, asset: str, data: st.DataObject) -> None:
        self._queue(creator, [("burn", asset, data.draw(amounts(asset)))])

    @rule(second=anyone, data=st.data())
    def two_transfers_in_one_transaction(self, second: str, data: st.DataObject) -> None:
        """An affordable first transfer and an arbitrary second: if the second fails, so does the first."""
        funded = sorted((k, v) for k, v in self._model_now().items() if v > 0 and k[0] in ACCOUNTS)
        (src, asset), balance = data.draw(st.sampled_from(funded or [(("alice@aclb", KHR), 1)]))
        first = data.draw(st.sampled_from(sorted(RECEIVERS - {src})))
        amount = ids.format_amount(data.draw(st.integers(1, balance)), PRECISION[asset])
        self._queue(src, [("transfer", src, first, asset, amount),
                          ("transfer", src, second, asset, data.draw(amounts(asset)))])

    @rule(dest=accounts, asset=assets, data=st.data())
    def transaction_from_an_unknown_account(self, dest: str, asset: str, data: st.DataObject) -> None:
        self._queue(GHOST, [("transfer", GHOST, dest, asset, data.draw(amounts(asset)))])

    @rule(creator=accounts, signer=accounts, dest=accounts, asset=assets, data=st.data())
    def transaction_signed_by_another_key(self, creator: str, signer: str, dest: str, asset: str,
                                          data: st.DataObject) -> None:
        self._queue(creator, [("transfer", creator, dest, asset, data.draw(amounts(asset)))], signer=signer)

    @precondition(lambda self: self.committed_txs)
    @rule(data=st.data())
    def replay_a_committed_transaction(self, data: st.DataObject) -> None:
        self.replays.append(data.draw(st.sampled_from(self.committed_txs)))

    # ---- rules: blocks and restarts ----

    @precondition(lambda self: len(self.pending) + len(self.replays) >= 3)
    @rule()
    def close_block(self) -> None:
        expected, self.pending = self.pending, []
        candidates = [x.tx for x in expected] + self.replays
        replays, self.replays = self.replays, []
        ledger = self.chain.ledger
        block, execution = ledger.build_block(candidates, self.chain.now + 1000, self.chain.proposer)
        # Not signed by the creator's signatories: left out of the block (never REJECTED in it: a hash is
        # final in a block, and its signatures are not covered by it; docs/ledger.md, "Signatures").
        queued = expected
        left_out = [x for x in queued if x.outcome == (TxStatus.REJECTED, None, e.NOT_A_SIGNATORY)]
        expected = [x for x in queued if x not in left_out]
        assert [tx.hash for tx in block.transactions] == [x.tx.hash for x in expected], "replays must be dropped"
        assert execution.left_out == tuple(x.tx.hash for x in left_out)
        ledger.commit(block, execution, b"")
        self.chain.now = block.header.created_ms
        assert all(ledger.tx_status(x.tx.hash) is None for x in left_out)
        for x, result in zip(expected, execution.results, strict=True):
            assert (result.status, result.command_index, result.error_code) == x.outcome, x.tx.payload.commands
            if result.status == TxStatus.REJECTED:
                assert isinstance(result.error_code, str) and result.error_code
            stored = ledger.tx_status(x.tx.hash)
            assert stored is not None and stored.result == result
        if expected:
            self.balances, self.supply = expected[-1].balances, expected[-1].supply
        self.committed_txs.extend(x.tx for x in expected)
        self.blocks_since_reopen += 1
        for tx in replays:  # a replay is never applied again, whatever its first outcome was
            assert ledger.tx_status(tx.hash).height < block.height

    @precondition(lambda self: self.blocks_since_reopen > 0)
    @rule()
    def reopen_database(self) -> None:
        self.blocks_since_reopen = 0
        before = (self.chain.ledger.head, self._ledger_balances())
        self.chain.reopen()
        head = self.chain.ledger.head
        assert (head, self._ledger_balances()) == before
        assert self.chain.ledger.block(head.height).hash == head.block_hash
        assert self.chain.ledger.block(head.height).header.state_root == head.state_root

    # ---- invariants ----

    def _ledger_balances(self) -> dict[tuple[str, str], int]:
        rows = {}
        for k, v in self.chain.ledger.store.scan(keys.BALANCE):
            account, asset = k[len(keys.BALANCE):].decode().split("\x00")
            rows[(account, asset)] = codec.decode_trusted(v)
        return rows

    @invariant()
    def money_is_conserved_except_by_mint_and_burn(self) -> None:
        totals: Counter[str] = Counter()
        for (_account, asset), units in self._ledger_balances().items():
            totals[asset] += units
        assert {a: totals[a] for a in ASSETS} == {a: self.supply[a] for a in ASSETS}

    @invariant()
    def no_balance_is_below_zero(self) -> None:
        assert all(units >= 0 for units in self._ledger_balances().values())

    @invariant()
    def ledger_balances_equal_the_model(self) -> None:
        ledger = {k: v for k, v in self._ledger_balances().items() if v}
        model = {k: v for k, v in self.balances.items() if v}
        assert ledger == model


test_ledger_matches_its_model = LedgerVersusModel.TestCase
