"""Payment references: find a committed payment by its KHQR md5, its hash, its short hash or its reference.

A ``TransferWithReference`` (command tag 21) is a transfer that also carries the md5 of the KHQR string it
pays and an optional external / instruction reference, both signed with the transaction. When its block
commits, ``index_payments`` adds, in the block's own batch (so they exist exactly when the block does):

- ``p`` + position + command index -> the payment's record (everything an answer shows, so a look-up
  never reads a whole block);
- ``Y`` + md5 + position + command index and ``F`` + reference + position + command index -> nothing:
  one row per payment, in commit order, so the first row under an md5 is its FIRST committed payment and
  the number of rows is how many committed payments share it (a QR paid twice counts 2).
A short hash needs no row of its own: it is the first 4 bytes of a transaction hash, so its candidates
are the tx-index rows under that prefix (``keys.tx_index_by_prefix``).

Every row is written without reading anything first: the commit of a block of KHQR payments costs a
transfer's plus three appended rows each (docs/benchmarks.md, issue 17: a read-modify-write count per
key had doubled the commit's cost).

Only COMMITTED transactions are indexed: a REJECTED one paid nothing. The rows are derived from the
block's transactions, like the tx-status index, and are not part of the state root (docs/ledger.md,
"Payment references"). Each look-up is one or two LevelDB reads of a published snapshot (the view is
``Ledger.published()``, a ``PublishedChain``), whatever the ledger's size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consensus import codec
from node.ledger import commands as c
from node.ledger import ids
from node.ledger.blocks import decode_header
from node.ledger.errors import StatelessError
from node.ledger.khqr import Khqr, format_amount
from node.ledger.records import Asset
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction, decode_transaction
from storage import keys

if TYPE_CHECKING:
    from node.ledger.chain import ChainReader

MAX_COUNTED = 1_000
"""How many payments of one md5 or reference a look-up counts: a static QR (no amount, no timestamp: the
same md5 for every payer) can be paid millions of times, and a look-up must stay a few reads."""
MAX_SHORT_CANDIDATES = 1_000
"""How many transactions sharing a short hash's 32 bits a look-up examines (hashes are random: at Bakong's
600M a year, a handful; more only if someone grinds hashes to collide, which this bounds)."""
SHORT_HASH_HEX = 8
"""A short hash is the first 8 hex digits of the transaction hash (Bakong's ``check_transaction_by_short_hash``)."""
CURRENCY_ASSETS = {"KHR": "khr#nbc", "USD": "usd#nbc"}
"""The ISO currencies of KHQR and the central bank's assets that are them."""
ASSET_CURRENCIES = {asset: currency for currency, asset in CURRENCY_ASSETS.items()}


@dataclass(frozen=True)
class PaymentMatch:
    """One committed payment (a transfer command), as a payment check answers it."""

    tx_hash: bytes
    height: int
    index: int
    """The transaction's place in its block."""
    command_index: int
    """The transfer's place in its transaction."""
    count: int
    """How many committed payments share the key looked up (md5, short hash, reference); 1 by full hash."""
    from_account: str
    to_account: str
    asset: str
    currency: str
    """``KHR`` / ``USD`` for khr#nbc / usd#nbc, else the asset id."""
    amount_minor: int
    decimals: int
    """The asset's precision: the amount is ``amount_minor / 10**decimals``."""
    description: str
    created_ms: int
    """The transaction's creation time (its payload's)."""
    acknowledged_ms: int
    """The time of the block that committed it."""
    md5: str
    """The KHQR md5 it paid (32 lower-case hex), or ""."""
    reference: str
    """Its external / instruction reference, or ""."""

    @property
    def amount(self) -> str:
        """The amount as a decimal string (``"1500.50"``)."""
        return ids.format_amount(self.amount_minor, self.decimals)


def currency_of(asset_id: str) -> str:
    return ASSET_CURRENCIES.get(asset_id, asset_id)


def asset_of(currency: str) -> str | None:
    """The asset a currency names: ``KHR``/``USD`` (any case), or an asset id as it is; None if neither."""
    if "#" in currency:
        return currency
    return CURRENCY_ASSETS.get(currency.upper())


# ---- look-ups ----


def payment_by_md5(view: ChainReader, md5_hex: str) -> PaymentMatch | None:
    """The first committed payment of the KHQR whose md5 this is, with ``count`` payments of it."""
    return _first_of(view, keys.payments_by_md5(bytes.fromhex(check_md5_hex(md5_hex))))


def payment_by_reference(view: ChainReader, reference: str) -> PaymentMatch | None:
    """The first committed payment carrying this external / instruction reference."""
    reference = c.check_reference(reference)
    return _first_of(view, keys.payments_by_reference(reference)) if reference else None  # "" is never indexed


def payment_by_short_hash(view: ChainReader, short: str, amount_minor: int, currency: str) -> PaymentMatch | None:
    """The first committed referenced payment whose hash starts with ``short`` (8 hex) for exactly this
    amount (minor units of the asset) and currency (``KHR``, ``USD`` or an asset id)."""
    short = short.lower()
    if len(short) != SHORT_HASH_HEX or not _is_hex(short):
        raise StatelessError("bad_short_hash", f"a short hash is the first {SHORT_HASH_HEX} hex digits of a hash")
    asset = asset_of(currency)
    if asset is None:
        return None
    matches: list[tuple[int, int, int, bytes]] = []
    for _key, status in view.store.scan(keys.tx_index_by_prefix(bytes.fromhex(short)), limit=MAX_SHORT_CANDIDATES):
        height, index, outcome, *_rest = codec.decode_trusted(status)
        if outcome != TxStatus.COMMITTED:
            continue
        for key, record in view.store.scan(keys.payments_of(keys.tx_position(height, index))):
            fields = codec.decode_trusted(record)
            if fields[4] == asset and fields[5] == amount_minor:  # an amount no payment has matches nothing
                matches.append((height, index, int.from_bytes(key[-2:], "big"), record))
    if not matches:
        return None
    height, index, _command_index, record = min(matches)
    return _match(height, index, len(matches), record)


def payment_by_hash(view: ChainReader, tx_hash: bytes) -> PaymentMatch | None:
    """The committed payment of a transaction: its first referenced transfer, else its first transfer."""
    status = view.tx_status(tx_hash)
    if status is None or status.result.status != TxStatus.COMMITTED:
        return None
    position = keys.tx_position(status.height, status.index)
    for _key, raw in view.store.scan(keys.payments_of(position), limit=1):
        return _match(status.height, status.index, 1, raw)
    return _plain_transfer(view, tx_hash, status.height, status.index)


def check_md5_hex(md5_hex: str) -> str:
    """A KHQR md5 as asked for (any case) -> its canonical lower-case form; StatelessError if not 32 hex."""
    if type(md5_hex) is not str or len(md5_hex) != c.MD5_HEX or not _is_hex(md5_hex.lower()):
        raise StatelessError("bad_md5", f"an md5 is {c.MD5_HEX} hex digits")
    return md5_hex.lower()


def _first_of(view: ChainReader, prefix: bytes) -> PaymentMatch | None:
    """The first payment row under ``prefix`` (rows sort in commit order) and how many there are."""
    first = b""
    count = 0
    for key, _empty in view.store.scan(prefix, limit=MAX_COUNTED):
        first = first or key
        count += 1
    if not first:
        return None
    position, command_index = first[-14:-2], int.from_bytes(first[-2:], "big")
    record = view.store.get(keys.payment_at(position, command_index))
    assert record is not None, f"payment index row without its record at {position.hex()}/{command_index}"
    height, index = keys.position_of(position)
    return _match(height, index, count, record)


def _match(height: int, index: int, count: int, record: bytes) -> PaymentMatch:
    (tx_hash, command_index, src, dest, asset, units, decimals, description, created_ms, acknowledged_ms, md5,
     reference) = codec.decode_trusted(record)
    return PaymentMatch(tx_hash, height, index, command_index, count, src, dest, asset, currency_of(asset), units,
                        decimals, description, created_ms, acknowledged_ms, md5, reference)


def _plain_transfer(view: ChainReader, tx_hash: bytes, height: int, index: int) -> PaymentMatch | None:
    """A committed transaction without a referenced payment: its first plain transfer, read from its block."""
    raw = view.block_bytes(height)
    assert raw is not None, f"no stored block at committed height {height}"
    fields = codec.decode_trusted(raw)
    tx = decode_transaction(fields[3][index])
    for command_index, cmd in enumerate(tx.payload.commands):
        if isinstance(cmd, c.TransferAsset):
            asset = view.state(keys.asset(cmd.asset_id))
            assert isinstance(asset, Asset), f"committed transfer of unknown asset {cmd.asset_id}"
            units = ids.to_minor_units(cmd.amount, asset.precision)
            assert units is not None
            record = payment_record(tx, command_index, cmd, units, asset.precision,
                                    decode_header(fields[2]).created_ms)
            return _match(height, index, 1, record)
    return None


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdef" for ch in text)


# ---- writing the indexes (Ledger.commit) ----


def payment_record(tx: Transaction, command_index: int, cmd: c.TransferAsset, units: int, precision: int,
                   block_ms: int) -> bytes:
    """A payment's record row: ``[tx hash, command index, from, to, asset, minor units, decimals,
    description, created ms, block ms, md5, reference]``."""
    md5 = getattr(cmd, "qr_md5", "")
    reference = getattr(cmd, "reference", "")
    return codec.encode_trusted([tx.hash, command_index, cmd.src_account_id, cmd.dest_account_id, cmd.asset_id,
                                 units, precision, cmd.description, tx.payload.created_ms, block_ms, md5, reference])


def index_payments(writes: dict[bytes, bytes | None], committed: list[tuple[int, Transaction]], height: int,
                   block_ms: int, precision_of: Callable[[str], int]) -> None:
    """Add the payment rows of a block's COMMITTED transactions (``(index, tx)`` in block order) to its
    batch ``writes``: per payment its record, an md5 row and a reference row (when it has them). Nothing is
    read: the rows' keys end with the payment's position, so commit order is key order."""
    for index, tx in committed:
        position = b""
        for command_index, cmd in enumerate(tx.payload.commands):
            if type(cmd) is not c.TransferWithReference:
                continue
            position = position or keys.tx_position(height, index)
            precision = precision_of(cmd.asset_id)
            units = ids.to_minor_units(cmd.amount, precision)
            assert units is not None, "a committed transfer's amount fits its asset's precision"
            writes[keys.payment_at(position, command_index)] = payment_record(
                tx, command_index, cmd, units, precision, block_ms)
            if cmd.qr_md5:
                writes[keys.payment_md5(bytes.fromhex(cmd.qr_md5), position, command_index)] = b""
            if cmd.reference:
                writes[keys.payment_reference(cmd.reference, position, command_index)] = b""


__all__ = [
    "PaymentMatch",
    "index_payments",
    "payment_by_hash",
    "payment_by_md5",
    "payment_by_reference",
    "payment_by_short_hash",
]


def khqr_transfer(qr: Khqr, src: str, amount_minor: int | None, description: str = "",
                  reference: str | None = None) -> list[c.Command]:
    """The commands that pay ``qr`` from ``src``: the QR's own amount, else ``amount_minor`` (the payer's,
    for a static QR). ``reference`` defaults to the QR's bill number (tag 62.01), the merchant's invoice."""
    amount = qr.amount_minor if qr.amount_minor is not None else amount_minor
    if amount is None:
        raise ValueError("a static KHQR needs the payer's amount")  # the CLI asks before it gets here
    return [c.TransferWithReference(
        src_account_id=c.check_account(src), dest_account_id=c.check_account(qr.account_id),
        asset_id=CURRENCY_ASSETS[qr.currency], description=c.check_description(description),
        amount=c.check_amount(format_amount(amount, qr.decimals)), qr_md5=c.check_md5(qr.md5),
        reference=c.check_reference((qr.bill_number or "") if reference is None else reference),
    )]
