"""Key families of the node's single LevelDB.

Each family has a one-byte prefix; ids are ASCII and never contain NUL, so ``\\x00`` separates the
parts of composite keys and a prefix scan over ``family + id + \\x00`` finds exactly one owner's rows.
Heights are 8-byte big-endian so keys sort by height.

World state (covered by the state root): D A X M R G K P.
Block store and indexes (written with each block, derived from it): B b C T h t, and the payment
look-ups p Y S F (docs/ledger.md, "Payment references").
Node-local records: H (head), V (consensus: equivocation evidence), m (meta: chain id, genesis
fingerprint, genesis import marker, data format version), q (accepted transactions not yet seen in a
block). Every key the node writes is built here; the safety record itself lives in files beside the
database (node.runtime.safety_store), not in LevelDB.
"""

from __future__ import annotations

SEP = b"\x00"

HEAD = b"H"
META = b"m"
BLOCK = b"B"          # height -> block bytes
BLOCK_HASH = b"b"     # block hash -> height
CERTIFICATE = b"C"    # height -> commit certificate bytes
TX_INDEX = b"T"       # tx hash -> [height, index, status, command index, error code]
ACCOUNT_TXS = b"h"    # account, height, index -> b"" (every tx the account created or took part in)
ACCOUNT_ASSET_TXS = b"t"  # account, asset, height, index -> b""
PAYMENT = b"p"        # height, index, command index -> a referenced payment's record (node.ledger.payments)
PAYMENT_MD5 = b"Y"    # KHQR md5 (16 bytes), height, index, command index -> b"" (one row per payment)
PAYMENT_REF = b"F"    # reference length, reference, height, index, command index -> b""
CONSENSUS = b"V"      # consensus records kept by this node (equivocation evidence)
ACCEPTED = b"q"       # tx hash -> tx bytes this node accepted from a client and has not yet seen in a block
PENDING = b"w"        # tx hash -> tx bytes waiting here for more signatures (node.intake.pending)

DOMAIN = b"D"         # domain -> [default role]
ACCOUNT = b"A"        # account -> [quorum, roles, signatories]
ASSET = b"X"          # asset -> [precision]
BALANCE = b"M"        # account \0 asset -> amount in minor units
ROLE = b"R"           # role -> sorted permissions
GRANT = b"G"          # grantee \0 grantor -> sorted grantable permissions
DETAIL = b"K"         # account \0 writer \0 key -> value
PEER = b"P"           # public key -> [address, name, syncing]

META_CHAIN_ID = META + b"chain_id"                       # the chain this database belongs to
META_GENESIS = META + b"genesis_fingerprint"             # which genesis file built it
META_GENESIS_IMPORT = META + b"genesis_import"           # set while a bulk genesis import is under way
META_FORMAT_VERSION = META + b"format_version"           # how this database's bytes are laid out (storage.db)
EVIDENCE = CONSENSUS + b"evidence:"                      # + height, round, kind, validator -> evidence

WORLD_STATE_FAMILIES = (DOMAIN, ACCOUNT, ASSET, BALANCE, ROLE, GRANT, DETAIL, PEER)


def height_bytes(height: int) -> bytes:
    return height.to_bytes(8, "big")


def _join(*parts: str) -> bytes:
    return SEP.join([p.encode() for p in parts])


def block(height: int) -> bytes:
    return BLOCK + height_bytes(height)


def block_hash(digest: bytes) -> bytes:
    return BLOCK_HASH + digest


def certificate(height: int) -> bytes:
    return CERTIFICATE + height_bytes(height)


def tx_index(tx_hash: bytes) -> bytes:
    return TX_INDEX + tx_hash


def evidence(height: int, round_: int, kind: int, validator: bytes) -> bytes:
    """Equivocation evidence, sorted by height and round; one row per validator, kind and slot."""
    return EVIDENCE + height_bytes(height) + round_.to_bytes(4, "big") + bytes([kind]) + validator


def accepted_tx(tx_hash: bytes) -> bytes:
    return ACCEPTED + tx_hash


def pending_tx(tx_hash: bytes) -> bytes:
    return PENDING + tx_hash


POSITION_BYTES = 12


def tx_position(height: int, index: int) -> bytes:
    """Where a transaction sits in the chain, as the sortable suffix of its history rows."""
    return height.to_bytes(8, "big") + index.to_bytes(4, "big")


def position_of(history_key: bytes) -> tuple[int, int]:
    """(height, index) from the ``tx_position`` suffix a history row's key ends with."""
    suffix = history_key[-POSITION_BYTES:]
    return int.from_bytes(suffix[:8], "big"), int.from_bytes(suffix[8:], "big")


def account_tx_at(account: str, position: bytes) -> bytes:
    return ACCOUNT_TXS + account.encode() + SEP + position


def account_txs_prefix(account: str) -> bytes:
    return ACCOUNT_TXS + account.encode() + SEP


def account_asset_tx_at(account: str, asset: str, position: bytes) -> bytes:
    return ACCOUNT_ASSET_TXS + account.encode() + SEP + asset.encode() + SEP + position


def account_asset_txs_prefix(account: str, asset: str) -> bytes:
    return ACCOUNT_ASSET_TXS + _join(account, asset) + SEP


def domain(name: str) -> bytes:
    return DOMAIN + name.encode()


def account(account_id: str) -> bytes:
    return ACCOUNT + account_id.encode()


def asset(asset_id: str) -> bytes:
    return ASSET + asset_id.encode()


def balance(account_id: str, asset_id: str) -> bytes:
    return BALANCE + account_id.encode() + SEP + asset_id.encode()  # once or twice per transfer: no _join


def balances_prefix(account_id: str) -> bytes:
    return BALANCE + account_id.encode() + SEP


def role(name: str) -> bytes:
    return ROLE + name.encode()


def grant(grantee: str, grantor: str) -> bytes:
    return GRANT + _join(grantee, grantor)


def detail(account_id: str, writer: str, key: str) -> bytes:
    return DETAIL + _join(account_id, writer, key)


def details_prefix(account_id: str) -> bytes:
    return DETAIL + account_id.encode() + SEP


def peer(public_key: bytes) -> bytes:
    return PEER + public_key


def payment_at(position: bytes, command_index: int) -> bytes:
    """A referenced payment's record, at its ``tx_position`` and command index (one row per command)."""
    return PAYMENT + position + command_index.to_bytes(2, "big")


def payments_of(position: bytes) -> bytes:
    """The prefix of a transaction's payment records."""
    return PAYMENT + position


def payment_md5(md5: bytes, position: bytes, command_index: int) -> bytes:
    """One payment of a KHQR: the md5's rows sort in commit order, so the first is the first payment."""
    return PAYMENT_MD5 + md5 + position + command_index.to_bytes(2, "big")


def payments_by_md5(md5: bytes) -> bytes:
    return PAYMENT_MD5 + md5


def payment_reference(reference: str, position: bytes, command_index: int) -> bytes:
    return payments_by_reference(reference) + position + command_index.to_bytes(2, "big")


def payments_by_reference(reference: str) -> bytes:
    """Length first, so the prefix of "INV-1" is not also the prefix of "INV-10"'s rows."""
    raw = reference.encode()
    return PAYMENT_REF + len(raw).to_bytes(1, "big") + raw


def tx_index_by_prefix(hash_prefix: bytes) -> bytes:
    """The tx-index rows of every transaction whose hash starts with ``hash_prefix`` (a short hash)."""
    return TX_INDEX + hash_prefix
