"""Batches (issue 18, point 1): transactions bound together, ATOMIC (all commit in one block or none
does) or ORDERED (in this order, in one block, each on its own).

A batch member carries the batch's meta in its signed payload: the type and the list of every member's
*reduced hash* (the hash of the member without its batch meta), in order. So no one can add, drop or
reorder members of a batch its creators signed, and the meta alone says which transactions belong.
Iroha 1 defines it that way (``Transaction.Payload.BatchMeta``); a native transaction carries the same
meta as its payload's version-2 field (``TxPayload.batch``), its reduced hash the sha256 of its payload
without it.

Consensus rules (every node checks them in ``Ledger.execute``, so a proposer cannot break a batch):
- a block holds a batch whole: its members consecutive, in the meta's order, each with that meta;
  otherwise the block is invalid (``broken_batch``);
- ATOMIC: the members run one after the other; if any is rejected, every member's effects are undone
  and every member is REJECTED: the failing one with its own error, the others with
  ``batch_member_failed`` naming it. ORDERED members are plain transactions that happen to be
  consecutive.
The proposer takes from the mempool only batches whose members are all there (``whole_batches``), and
leaves a batch out entirely when a member must be left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from consensus.crypto import hash_bytes
from node.ledger.batch_meta import MAX_BATCH, BatchMeta, BatchType
from node.ledger.errors import InvalidBlock
from node.ledger.execution import TxResult
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, TxPayload

BATCH_MEMBER_FAILED = "batch_member_failed"


def batch_of(tx: Transaction) -> BatchMeta | None:
    """The batch ``tx`` belongs to, or None."""
    return tx.payload.batch


def reduced_hash_of(tx: Transaction) -> bytes:
    """The hash a batch meta lists for ``tx``."""
    return tx.reduced_hash


def split_block(txs: Sequence[Transaction]) -> list[tuple[BatchMeta | None, list[Transaction]]]:
    """The block's transactions as units: (None, [tx]) for a lone one, (meta, members) for a batch.
    Raises InvalidBlock (``broken_batch``) unless every batch is whole, consecutive and in order."""
    units: list[tuple[BatchMeta | None, list[Transaction]]] = []
    at = 0
    while at < len(txs):
        meta = batch_of(txs[at])
        if meta is None:
            units.append((None, [txs[at]]))
            at += 1
            continue
        members = list(txs[at:at + len(meta.reduced_hashes)])
        if len(members) != len(meta.reduced_hashes) or any(
                batch_of(m) != meta or reduced_hash_of(m) != h
                for m, h in zip(members, meta.reduced_hashes, strict=True)):
            raise InvalidBlock("broken_batch", f"transaction {at} starts a batch the block does not hold whole "
                               "and in order")
        units.append((meta, members))
        at += len(members)
    return units


def apply_units(units: list[tuple[BatchMeta | None, list[Transaction]]], apply: Callable[[Transaction], TxResult],
                begin: Callable[[], None], end: Callable[[bool], None]) -> list[TxResult]:
    """Run each unit with ``apply`` (a transaction -> its ``TxResult``); an ATOMIC batch between
    ``begin()`` and ``end(keep)``, kept only if every member committed."""
    results: list[TxResult] = []
    for meta, members in units:
        if meta is None or meta.type is BatchType.ORDERED:
            results += [apply(tx) for tx in members]
            continue
        begin()
        outcome = [apply(tx) for tx in members]
        failed = next((k for k, r in enumerate(outcome) if r.status != TxStatus.COMMITTED), None)
        end(failed is None)
        if failed is not None:
            outcome = [r if k == failed else _member_failed(r, failed, members[failed]) for k, r in enumerate(outcome)]
        results += outcome
    return results


def _member_failed(result: TxResult, failed: int, culprit: Transaction) -> TxResult:
    return TxResult(TxStatus.REJECTED, None, BATCH_MEMBER_FAILED,
                    f"member {failed} of its atomic batch ({culprit.hash.hex()[:16]}...) was rejected")


def whole_batches(candidates: Sequence[Transaction]) -> list[Transaction]:
    """The candidates a proposer may put in a block, in order: lone transactions, and each batch whose
    members are all among the candidates, its members together in the meta's order at the place of its
    first member. A batch not yet whole waits (its members stay in the mempool)."""
    by_reduced: dict[bytes, Transaction] = {}
    for tx in candidates:
        if batch_of(tx) is not None:
            by_reduced[reduced_hash_of(tx)] = tx
    out: list[Transaction] = []
    placed: set[bytes] = set()
    for tx in candidates:
        meta = batch_of(tx)
        if meta is None:
            out.append(tx)
            continue
        if meta.reduced_hashes[0] in placed:
            continue
        members = [by_reduced.get(h) for h in meta.reduced_hashes]
        if all(m is not None and batch_of(m) == meta for m in members):
            out += [m for m in members if m is not None]
        placed.add(meta.reduced_hashes[0])
    return out


def units_of(txs: Sequence[Transaction]) -> list[list[Transaction]]:
    """``txs`` (as a proposer picked them: batches whole) grouped into units to take or leave together."""
    return [members for _meta, members in split_block(txs)]


__all__ = ["BATCH_MEMBER_FAILED", "MAX_BATCH", "BatchMeta", "BatchType", "apply_units", "batch_of",
           "build_batch", "split_block", "units_of", "whole_batches"]


def build_batch(payloads: Sequence[TxPayload], batch_type: BatchType = BatchType.ATOMIC) -> list[TxPayload]:
    """Native payloads tied into one batch: each gets the meta listing every member's reduced hash."""
    meta = BatchMeta(batch_type, tuple(hash_bytes(p.encode_reduced()) for p in payloads))
    return [dataclasses.replace(p, batch=meta) for p in payloads]
