"""Transactions: a signed payload of commands.

Encoding: ``[TX_TAG, 1, payload_bytes, [[public_key, signature], ...]]`` where ``payload_bytes`` is the
canonical encoding of ``[PAYLOAD_TAG, 1, chain_id, creator, created_ms, quorum, [command, ...]]``.
Keeping the payload as embedded bytes means the tx hash (``sha256(payload_bytes)``) and the signed
digest are computed over exactly the bytes received, and adding signatures never changes the hash.
Signatures are over ``signing_digest(TRANSACTION, chain_id, payload_bytes)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import msgpack

from consensus import codec
from consensus.crypto import Domain, KeyPair, hash_bytes, signing_digest, verify
from node.ledger import ids
from node.ledger.batch_meta import MAX_BATCH, BatchMeta, BatchType
from node.ledger.commands import (
    Command,
    TransferAsset,
    TransferWithReference,
    check_account,
    check_amount,
    check_asset,
    check_description,
    check_md5,
    check_reference,
    command_from_array,
)
from node.ledger.errors import StatelessError

TX_TAG = 1
PAYLOAD_TAG = 2
VERSION = 1
BATCH_VERSION = 2
"""A payload that carries a batch meta (``TxPayload.batch``)."""
MAX_TX_BYTES = 64 * 1024
MAX_COMMANDS = 256
MAX_SIGNATURES = 128
MAX_CHAIN_ID = 64
T = TypeVar("T")


@dataclass(frozen=True)
class TxPayload:
    """What the creator signs."""

    chain_id: str
    """Which network this transaction is for; a tx for another chain is refused."""
    creator: str
    """The account whose signatories sign it and in whose name the commands run."""
    created_ms: int
    """Creation time, Unix milliseconds; must fall within the block's acceptance window."""
    quorum: int
    """How many of the creator's signatories the creator says will sign (Iroha's tx quorum)."""
    commands: tuple[Command, ...]
    """Applied in order, atomically."""
    batch: BatchMeta | None = None
    """The batch this transaction belongs to (``node.ledger.batches``), signed with the rest; None for
    a lone one. A payload with a batch is version 2: version 1's fields and the meta."""

    def encode(self) -> bytes:
        if self.batch is None:
            return self.encode_reduced()
        return codec.encode(
            [PAYLOAD_TAG, BATCH_VERSION, self.chain_id, self.creator, self.created_ms, self.quorum,
             [c.to_array() for c in self.commands], self.batch.to_array()]
        )

    def encode_reduced(self) -> bytes:
        """The payload without its batch meta (version 1): its sha256 is what a batch meta lists."""
        return codec.encode(
            [PAYLOAD_TAG, VERSION, self.chain_id, self.creator, self.created_ms, self.quorum,
             [c.to_array() for c in self.commands]]
        )


@dataclass(frozen=True)
class Transaction:
    payload: TxPayload
    payload_bytes: bytes
    """The canonical payload encoding the hash and signatures cover."""
    signatures: tuple[tuple[bytes, bytes], ...]
    """(public key, Ed25519 signature) pairs."""
    hash: bytes
    """sha256 of the payload bytes: the transaction's identity."""

    @property
    def creator(self) -> str:
        return self.payload.creator

    def encode(self) -> bytes:
        """The canonical bytes; computed once (they go into every block and gossip frame)."""
        raw: bytes | None = self.__dict__.get("_raw")
        if raw is None:
            raw = codec.encode_trusted([TX_TAG, VERSION, self.payload_bytes, [list(s) for s in self.signatures]])
            object.__setattr__(self, "_raw", raw)
        return raw

    def signing_digest(self) -> bytes:
        return signing_digest(Domain.TRANSACTION, self.payload.chain_id, self.payload_bytes)

    # ---- what differs between formats (node.ledger.iroha_tx overrides these) ----

    @property
    def batch_meta(self) -> BatchMeta | None:
        return self.payload.batch

    @property
    def reduced_hash(self) -> bytes:
        """What a batch meta lists for this transaction: the hash of its payload without the meta."""
        if self.payload.batch is None:
            return self.hash
        reduced: bytes | None = self.__dict__.get("_reduced")
        if reduced is None:
            reduced = hash_bytes(self.payload.encode_reduced())
            object.__setattr__(self, "_reduced", reduced)
        return reduced

    @property
    def binds_chain(self) -> bool:
        """Whether the payload names the chain it is for (an Iroha payload names none)."""
        return True

    @property
    def verification_id(self) -> object:
        """What a signature check of this copy checked: the remembered outcome's key with the hash."""
        return self.signatures

    def first_bad_signature(self) -> tuple[int, bytes | None]:
        """(verifications made, the key of the first signature that does not verify, or None)."""
        digest = self.signing_digest()
        made = 0
        for public_key, signature in self.signatures:
            made += 1
            if not verify(public_key, digest, signature):
                return made, public_key
        return made, None

    def merged_with(self, other: Transaction) -> Transaction:
        """This transaction with ``other``'s signatures by keys not yet signed here (same payload)."""
        have = {public_key for public_key, _sig in self.signatures}
        extra = tuple(pair for pair in other.signatures if pair[0] not in have)
        if not extra or type(other) is not type(self):
            return self
        return Transaction(self.payload, self.payload_bytes, self.signatures + extra, self.hash)

    def signature_json(self) -> list[dict[str, str]]:
        return [{"public_key": k.hex(), "signature": s.hex()} for k, s in self.signatures]

    def with_signature(self, key: KeyPair) -> Transaction:
        sig = key.sign(self.signing_digest())
        return Transaction(self.payload, self.payload_bytes, (*self.signatures, (key.public_key, sig)), self.hash)

    def to_json(self) -> dict[str, Any]:
        p = self.payload
        return {
            "hash": self.hash.hex(),
            "chain_id": p.chain_id,
            "creator": p.creator,
            "created_ms": p.created_ms,
            "quorum": p.quorum,
            "commands": [c.to_json() for c in p.commands],
            "signatures": self.signature_json(),
            **({} if p.batch is None else {"batch": {"type": p.batch.type.name, "reduced_hashes": [
                h.hex() for h in p.batch.reduced_hashes]}}),
        }


def build_transaction(payload: TxPayload, *signers: KeyPair) -> Transaction:
    payload_bytes = payload.encode()
    tx = Transaction(payload, payload_bytes, (), hash_bytes(payload_bytes))
    for key in signers:
        tx = tx.with_signature(key)
    return tx


def decode_payload(payload_bytes: bytes) -> TxPayload:
    try:
        raw = codec.decode(payload_bytes, MAX_TX_BYTES)
        batched = type(raw) is list and len(raw) == 8 and raw[1] == BATCH_VERSION and type(raw[1]) is int
        fields = codec.expect_record(raw, PAYLOAD_TAG, BATCH_VERSION if batched else VERSION, 6 if batched else 5,
                                     "payload")
        meta = _batch_meta(fields[5]) if batched else None
        chain_id = codec.expect_str(fields[0], "chain_id", MAX_CHAIN_ID)
        if not chain_id.isascii():
            raise codec.UnexpectedShape("chain_id: must be ASCII")
        creator = codec.expect_str(fields[1], "creator", 300)
        created_ms = codec.expect_int(fields[2], "created_ms", 0, 2**63 - 1)
        quorum = codec.expect_int(fields[3], "quorum", 1, MAX_SIGNATURES)
        raw_commands = codec.expect_list(fields[4], "commands", max_length=MAX_COMMANDS)
    except codec.CodecError as exc:
        raise StatelessError(f"bad_encoding_{exc.code}", exc.message) from exc
    ids.check_account_id(creator)
    if not raw_commands:
        raise StatelessError("no_commands", "a transaction needs at least one command")
    payload = TxPayload(chain_id, creator, created_ms, quorum, tuple(command_from_array(c) for c in raw_commands),
                        meta)
    if meta is not None:
        meta.check_member(hash_bytes(payload.encode_reduced()))
    return payload


def _batch_meta(value: Any) -> BatchMeta:
    """``[type, [reduced hash, ...]]`` (raises codec errors; ``check_member`` checks the rest)."""
    items = codec.expect_list(value, "batch", 2)
    kind = codec.expect_int(items[0], "batch.type", 0, 1)
    hashes = codec.expect_list(items[1], "batch.reduced_hashes", max_length=MAX_BATCH)
    return BatchMeta(BatchType(kind), tuple(codec.expect_bytes(h, "batch.reduced_hash", 32) for h in hashes))


def decode_transaction(data: bytes) -> Transaction:
    """Decode and syntax-check a transaction (signatures are checked by ``node.validation``)."""
    if data[:2] == b"\x93\x03":  # an Iroha transaction's envelope (node.ledger.iroha_tx)
        from node.ledger.iroha_tx import decode_iroha_envelope  # it builds on this module
        return decode_iroha_envelope(data)
    tx = _decode_payment(data) if len(data) <= MAX_TX_BYTES else None
    return tx if tx is not None else decode_general(data)  # which names the error of a bad one


def decode_general(data: bytes) -> Transaction:
    """Any transaction, through the general codec checks; names the error of a bad one."""
    if len(data) > MAX_TX_BYTES:
        raise StatelessError("tx_too_large", f"a transaction is at most {MAX_TX_BYTES} bytes")
    try:
        fields = codec.expect_record(codec.decode(data, MAX_TX_BYTES), TX_TAG, VERSION, 2, "transaction")
        payload_bytes = codec.expect_bytes(fields[0], "payload", max_length=MAX_TX_BYTES)
        raw_sigs = codec.expect_list(fields[1], "signatures", max_length=MAX_SIGNATURES)
        sigs = []
        for item in raw_sigs:
            pair = codec.expect_list(item, "signature", 2)
            sigs.append((codec.expect_bytes(pair[0], "public_key", 32), codec.expect_bytes(pair[1], "signature", 64)))
    except codec.CodecError as exc:
        raise StatelessError(f"bad_encoding_{exc.code}", exc.message) from exc
    payload = decode_payload(payload_bytes)
    tx = Transaction(payload, payload_bytes, tuple(sigs), hash_bytes(payload_bytes))
    object.__setattr__(tx, "_raw", bytes(data))  # canonical (decode checked), so it is the encoding
    return tx


def _decode_payment(data: bytes) -> Transaction | None:
    """The common case, decoded without the general machinery: a well-formed transaction whose commands
    are all TransferAsset or TransferWithReference (a KHQR payment). Every node decodes every transaction
    once, and in a live validator the general path cost about a third of its Python time. Anything else
    (another command, any doubt about shape, type, range or canonical form) returns None and goes the
    general way, which then
    accepts or names the error exactly as before: this path only ever accepts what that one accepts,
    and builds the same objects (tests/ledger/test_tx_fast_decode.py checks both)."""
    try:
        outer = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True,
                                object_pairs_hook=_no_maps, ext_hook=_no_ext)
        if type(outer) is not list or len(outer) != 4 or outer[0] != TX_TAG or outer[1] != VERSION:
            return None
        _tag, _version, payload_bytes, raw_sigs = outer
        if (type(_tag) is not int or type(_version) is not int or type(payload_bytes) is not bytes
                or type(raw_sigs) is not list or len(raw_sigs) > MAX_SIGNATURES):
            return None
        sigs = []
        for pair in raw_sigs:
            if type(pair) is not list or len(pair) != 2:
                return None
            public_key, signature = pair
            if (type(public_key) is not bytes or len(public_key) != 32
                    or type(signature) is not bytes or len(signature) != 64):
                return None
            sigs.append((public_key, signature))
        fields = msgpack.unpackb(payload_bytes, raw=False, use_list=True, strict_map_key=True,
                                 object_pairs_hook=_no_maps, ext_hook=_no_ext)
        if type(fields) is not list or len(fields) != 7:
            return None
        tag, version, chain_id, creator, created_ms, quorum, raw_commands = fields
        if (type(tag) is not int or tag != PAYLOAD_TAG or type(version) is not int or version != VERSION
                or type(chain_id) is not str or len(chain_id) > MAX_CHAIN_ID or not chain_id.isascii()
                or type(creator) is not str or len(creator) > 300
                or type(created_ms) is not int or not 0 <= created_ms <= 2**63 - 1
                or type(quorum) is not int or not 1 <= quorum <= MAX_SIGNATURES
                or type(raw_commands) is not list or not 0 < len(raw_commands) <= MAX_COMMANDS):
            return None
        ids.check_account_id(creator)
        commands = []
        for raw in raw_commands:
            if type(raw) is not list or type(raw[0]) is not int:
                return None
            if raw[0] == TransferAsset.TAG and len(raw) == 6:
                _t, src, dest, asset, description, amount = raw
            elif raw[0] == TransferWithReference.TAG and len(raw) == 8:  # a KHQR payment: same fields + 2
                _t, src, dest, asset, description, amount, qr_md5, reference = raw
                check_md5(qr_md5)
                check_reference(reference)
            else:
                return None
            if type(src) is not str or type(dest) is not str or type(asset) is not str or type(description) is not str:
                return None
            check_account(src)
            check_account(dest)
            check_asset(asset)
            check_description(description)
            check_amount(amount)
            if len(raw) == 6:
                commands.append(frozen_record(TransferAsset, src_account_id=src, dest_account_id=dest,
                                              asset_id=asset, description=description, amount=amount))
            else:
                commands.append(frozen_record(TransferWithReference, src_account_id=src, dest_account_id=dest,
                                              asset_id=asset, description=description, amount=amount,
                                              qr_md5=qr_md5, reference=reference))
        # Canonical form last (the cheap shape checks above reject most garbage first): the bytes must be
        # the one encoding of what they decode to, so a transaction has exactly one hash.
        if codec.pack(fields) != payload_bytes or codec.pack(outer) != data:
            return None
    except (StatelessError, ValueError, TypeError, RecursionError, msgpack.UnpackException):
        return None
    payload = frozen_record(TxPayload, chain_id=chain_id, creator=creator, created_ms=created_ms, quorum=quorum,
                            commands=tuple(commands))
    return frozen_record(Transaction, payload=payload, payload_bytes=payload_bytes, signatures=tuple(sigs),
                         hash=hash_bytes(payload_bytes), _raw=bytes(data))


def frozen_record(cls: type[T], **values: Any) -> T:
    """An instance of the frozen dataclass ``cls`` (no __post_init__, every field given) without its
    __init__, which sets each field through object.__setattr__: 0.5 us instead of 1.1 us per record,
    three records per transaction."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _no_maps(_pairs: Any) -> Any:
    raise ValueError("maps are not part of the encoding")


def _no_ext(_code: int, _data: bytes) -> Any:
    raise ValueError("extension types are not part of the encoding")
