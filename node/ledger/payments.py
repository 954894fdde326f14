"""Payment references: find a committed payment by its KHQR md5, its hash, its short hash or its reference.

A ``TransferWithReference`` (command tag 21) is a transfer that also carries the md5 of the KHQR string it
pays and an optional external / instruction reference, both signed with the transaction. When its block
commits, ``index_payments`` adds, in the block's own batch (so they exist exactly when the block does):

- ``p`` + position + command index -> the payment's record (everything an answer shows, so a look-up
  never reads a whole block);
- ``Y`` + md5, ``S`` + short hash + asset + minor units, ``F`` + reference -> ``[height, index, command
  index, count]``: the FIRST committed payment under that key, and how many committed payments share it.
  A QR paid twice keeps its first payment and counts 2: a merchant sees the double payment.

Only COMMITTED transactions are indexed: a REJECTED one paid nothing. The rows are derived from the
block's transactions, like the tx-status index, and are not part of the state root (docs/ledger.md,
"Payment references"). Each look-up is one or two LevelDB reads of a published snapshot (the view is
``Ledger.published()``, a ``PublishedChain``), whatever the ledger's size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def short_hash(tx_hash: bytes) -> str:
    return tx_hash[:SHORT_HASH_HEX // 2].hex()


# ---- look-ups ----


def payment_by_md5(view: ChainReader, md5_hex: str) -> PaymentMatch | None:
    """The first committed payment of the KHQR whose md5 this is, with ``count`` payments of it."""
    return _by_index(view, keys.payment_md5(bytes.fromhex(check_md5_hex(md5_hex))))


def payment_by_reference(view: ChainReader, reference: str) -> PaymentMatch | None:
    """The first committed payment carrying this external / instruction reference."""
    return _by_index(view, keys.payment_reference(c.check_reference(reference)))  # "" is never indexed


def payment_by_short_hash(view: ChainReader, short: str, amount_minor: int, currency: str) -> PaymentMatch | None:
    """The first committed referenced payment whose hash starts with ``short`` (8 hex) for exactly this
    amount (minor units of the asset) and currency (``KHR``, ``USD`` or an asset id)."""
    short = short.lower()
    if len(short) != SHORT_HASH_HEX or not _is_hex(short):
        raise StatelessError("bad_short_hash", f"a short hash is the first {SHORT_HASH_HEX} hex digits of a hash")
    asset = asset_of(currency)
    # An amount that no payment can have (0, negative) simply matches no key.
    return None if asset is None else _by_index(view, keys.payment_short(short, asset, amount_minor))


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


def _by_index(view: ChainReader, index_key: bytes) -> PaymentMatch | None:
    raw = view.store.get(index_key)
    if raw is None:
        return None
    height, index, command_index, count = codec.decode_trusted(raw)
    record = view.store.get(keys.payment_at(keys.tx_position(height, index), command_index))
    assert record is not None, f"payment index row without its record at {height}/{index}/{command_index}"
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


def index_payments(writes: dict[bytes, bytes | None], get_sorted: Callable[[list[bytes]], list[bytes | None]],
                   committed: list[tuple[int, Transaction]], height: int, block_ms: int,
                   precision_of: Callable[[str], int]) -> None:
    """Add the payment rows of a block's COMMITTED transactions (``(index, tx)`` in block order) to its
    batch ``writes``.

    The index rows' committed values are read in one ascending pass (``get_sorted``): most keys are new
    (a QR is paid once), and absent keys read one ``get`` at a time cost LevelDB seek compactions
    (docs/ledger.md, "Storage"). Payments are folded in block order, so the first payment under a key
    is the lowest (height, index, command index) and two payments of one QR in one block count 2."""
    rows: list[tuple[bytes, int, int]] = []
    for index, tx in committed:
        position = b""
        for command_index, cmd in enumerate(tx.payload.commands):
            if type(cmd) is not c.TransferWithReference:
                continue
            position = position or keys.tx_position(height, index)
            precision = precision_of(cmd.asset_id)
            units = ids.to_minor_units(cmd.amount, precision)
            assert units is not None, "a committed transfer's amount fits its asset's precision"
            record = payment_record(tx, command_index, cmd, units, precision, block_ms)
            writes[keys.payment_at(position, command_index)] = record
            rows.append((keys.payment_short(short_hash(tx.hash), cmd.asset_id, units), index, command_index))
            if cmd.qr_md5:
                rows.append((keys.payment_md5(bytes.fromhex(cmd.qr_md5)), index, command_index))
            if cmd.reference:
                rows.append((keys.payment_reference(cmd.reference), index, command_index))
    wanted = sorted({key for key, _index, _command in rows})
    current = dict(zip(wanted, get_sorted(wanted), strict=True))
    for key, index, command_index in rows:
        current[key] = codec.encode_trusted(_counted(current[key], height, index, command_index))
    writes.update(current)


def _counted(row: bytes | None, height: int, index: int, command_index: int) -> list[Any]:
    """The index row after one more payment: the first payment stays, the count goes up."""
    if row is None:
        return [height, index, command_index, 1]
    first_height, first_index, first_command, count = codec.decode_trusted(row)
    return [first_height, first_index, first_command, count + 1]


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
