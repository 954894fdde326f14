"""Payment references (issue 17): a transfer that carries a KHQR md5 and a reference is found, once
committed, by md5, full hash, short hash and reference; a QR paid twice answers its first payment and
the count; a rejected or uncommitted payment is found by nothing. Real LevelDB in a temp dir."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ledger import commands as c
from node.ledger.errors import StatelessError
from node.ledger.payments import (
    PaymentMatch,
    payment_by_hash,
    payment_by_md5,
    payment_by_reference,
    payment_by_short_hash,
)
from node.ledger.statuses import TxStatus
from node.ledger.transactions import decode_transaction
from storage import keys
from tests.ledger_world import KHR, USD, Chain, follow

QR = "00020101021229180014alice@aclb5204599953031165802KH5910Coffee Shop6010Phnom Penh6304ABCD"
MD5 = hashlib.md5(QR.encode()).hexdigest()
OTHER_MD5 = hashlib.md5(b"another qr").hexdigest()


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    ch = Chain(tmp_path / "db")
    yield ch
    ch.close()


def pay(src: str = "alice@aclb", dest: str = "bob@aclb", amount: str = "15.50", md5: str = MD5,
        reference: str = "", asset: str = KHR, description: str = "coffee") -> c.TransferWithReference:
    return c.TransferWithReference(src, dest, asset, description, amount, md5, reference)


# ---- found, with the right fields ----


def test_a_committed_payment_is_found_by_md5_hash_short_hash_and_reference(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", pay(reference="INV-2026-0001"))
    [result] = chain.run(tx)
    assert result.status == TxStatus.COMMITTED
    head = chain.ledger.head
    block = chain.ledger.block(head.height)
    assert block is not None
    view = chain.ledger.published()
    by_md5 = payment_by_md5(view, MD5)
    assert by_md5 == PaymentMatch(
        tx_hash=tx.hash, height=head.height, index=0, command_index=0, count=1, from_account="alice@aclb",
        to_account="bob@aclb", asset=KHR, currency="KHR", amount_minor=1550, decimals=2, description="coffee",
        created_ms=tx.payload.created_ms, acknowledged_ms=block.header.created_ms, md5=MD5,
        reference="INV-2026-0001")
    assert by_md5.amount == "15.50"
    assert payment_by_md5(view, MD5.upper()) == by_md5  # an md5 is hex whatever its case
    assert payment_by_hash(view, tx.hash) == by_md5
    assert payment_by_short_hash(view, tx.hash.hex()[:8], 1550, "KHR") == by_md5
    assert payment_by_short_hash(view, tx.hash.hex()[:8].upper(), 1550, "khr") == by_md5
    assert payment_by_short_hash(view, tx.hash.hex()[:8], 1550, KHR) == by_md5
    assert payment_by_reference(view, "INV-2026-0001") == by_md5
    # The money moved exactly as a plain transfer's would, and both accounts' histories list it.
    assert chain.balance("alice@aclb") == 100_000 - 1550 and chain.balance("bob@aclb") == 1550
    for account in ("alice@aclb", "bob@aclb"):
        rows = [keys.position_of(k) for k, _v in chain.ledger.store.scan(keys.account_txs_prefix(account))]
        assert (head.height, 0) in rows
        rows = [keys.position_of(k) for k, _v in chain.ledger.store.scan(keys.account_asset_txs_prefix(account, KHR))]
        assert (head.height, 0) in rows


def test_a_short_hash_needs_the_same_amount_and_currency(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", pay(amount="2.5", asset=USD, md5=""))
    chain.run(tx)
    view = chain.ledger.published()
    short = tx.hash.hex()[:8]
    found = payment_by_short_hash(view, short, 250, "USD")
    assert found is not None and (found.currency, found.amount_minor, found.md5) == ("USD", 250, "")
    assert payment_by_short_hash(view, short, 251, "USD") is None
    assert payment_by_short_hash(view, short, 250, "KHR") is None
    assert payment_by_short_hash(view, short, 250, "EUR") is None
    assert payment_by_short_hash(view, short, 0, "USD") is None
    other = "0" * 8 if short != "0" * 8 else "1" * 8
    assert payment_by_short_hash(view, other, 250, "USD") is None
    assert payment_by_reference(view, "") is None  # no reference given: nothing indexed under ""
    # A payment without md5 and reference has its record only (a short hash needs no row): nothing is
    # indexed under an empty key.
    assert list(chain.ledger.store.scan(keys.PAYMENT_MD5)) == list(chain.ledger.store.scan(keys.PAYMENT_REF)) == []
    assert len(list(chain.ledger.store.scan(keys.PAYMENT))) == 1


def test_a_reference_is_not_found_by_its_prefix_nor_a_longer_one_by_it(chain: Chain) -> None:
    ten = chain.tx("alice@aclb", pay(reference="INV-10", md5=""))
    chain.run(ten)
    view = chain.ledger.published()
    assert payment_by_reference(view, "INV-1") is None
    found = payment_by_reference(view, "INV-10")
    assert found is not None and (found.tx_hash, found.count) == (ten.hash, 1)
    one = chain.tx("alice@aclb", pay(reference="INV-1", md5="", amount="1.00"))
    chain.run(one)
    view = chain.ledger.published()
    found_one, found_ten = payment_by_reference(view, "INV-1"), payment_by_reference(view, "INV-10")
    assert found_one is not None and (found_one.tx_hash, found_one.count) == (one.hash, 1)
    assert found_ten is not None and (found_ten.tx_hash, found_ten.count) == (ten.hash, 1)


def test_a_static_qr_paid_more_often_than_counted_stops_at_the_cap(chain: Chain,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("node.ledger.payments.MAX_COUNTED", 2)
    txs = [chain.tx("alice@aclb", pay(amount=f"{n}.00")) for n in (1, 2, 3)]
    chain.run(*txs)
    found = payment_by_md5(chain.ledger.published(), MD5)
    assert found is not None and (found.tx_hash, found.count) == (txs[0].hash, 2)


def test_a_plain_transfer_is_found_by_its_full_hash_only(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", USD, "rent", "3.00"))
    chain.run(tx)
    view = chain.ledger.published()
    found = payment_by_hash(view, tx.hash)
    block = chain.ledger.block(chain.ledger.head.height)
    assert block is not None
    assert found is not None
    assert (found.from_account, found.to_account, found.currency, found.amount_minor, found.decimals,
            found.description, found.created_ms, found.acknowledged_ms, found.md5, found.reference, found.count) == (
        "alice@aclb", "bob@aclb", "USD", 300, 2, "rent", tx.payload.created_ms, block.header.created_ms, "", "", 1)
    assert payment_by_short_hash(view, tx.hash.hex()[:8], 300, "USD") is None  # not a referenced payment


def test_a_transaction_without_a_transfer_is_no_payment(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", c.SetAccountDetail("alice@aclb", "note", "hi"))
    assert chain.run(tx)[0].status == TxStatus.COMMITTED
    assert payment_by_hash(chain.ledger.published(), tx.hash) is None


def test_by_hash_prefers_the_referenced_transfer_of_a_transaction(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", c.TransferAsset("alice@aclb", "carol@abaa", KHR, "", "1.00"),
                  pay(reference="second"))
    other = chain.tx("alice@aclb", c.SetAccountDetail("alice@aclb", "note", "first in the block"))
    chain.run(other, tx)
    found = payment_by_hash(chain.ledger.published(), tx.hash)
    assert found is not None
    assert (found.index, found.command_index, found.to_account, found.reference) == (1, 1, "bob@aclb", "second")
    assert payment_by_reference(chain.ledger.published(), "second") == found


# ---- not a payment ----


def test_a_rejected_payment_is_not_found(chain: Chain) -> None:
    tx = chain.tx("bob@aclb", pay(src="bob@aclb", dest="alice@aclb", reference="REF-1"))  # bob has nothing
    [result] = chain.run(tx)
    assert (result.status, result.error_code) == (TxStatus.REJECTED, "insufficient_funds")
    view = chain.ledger.published()
    assert payment_by_md5(view, MD5) is None
    assert payment_by_hash(view, tx.hash) is None
    assert payment_by_short_hash(view, tx.hash.hex()[:8], 1550, "KHR") is None
    assert payment_by_reference(view, "REF-1") is None
    assert list(chain.ledger.store.scan(keys.PAYMENT)) == []


def test_unknown_keys_are_not_found_and_malformed_ones_are_typed_errors(chain: Chain) -> None:
    view = chain.ledger.published()
    assert payment_by_md5(view, OTHER_MD5) is None
    assert payment_by_hash(view, bytes(32)) is None
    assert payment_by_reference(view, "nobody") is None
    for bad in ("", "abc", MD5 + "0", "g" * 32, None):
        with pytest.raises(StatelessError) as info:
            payment_by_md5(view, bad)  # type: ignore[arg-type]
        assert info.value.code == "bad_md5"
    for bad in ("", "1234567", "123456789", "zzzzzzzz"):
        with pytest.raises(StatelessError) as info:
            payment_by_short_hash(view, bad, 100, "KHR")
        assert info.value.code == "bad_short_hash"
    with pytest.raises(StatelessError) as info:
        payment_by_reference(view, "x" * 65)
    assert info.value.code == "bad_reference"


# ---- paid twice ----


def test_a_qr_paid_twice_in_two_blocks_answers_the_first_payment_and_count_2(chain: Chain) -> None:
    first = chain.tx("alice@aclb", pay(reference="R"))
    chain.run(first)
    second = chain.tx("alice@aclb", pay(dest="carol@abaa", reference="R"))
    chain.run(second)
    view = chain.ledger.published()
    for found in (payment_by_md5(view, MD5), payment_by_reference(view, "R")):
        assert found is not None
        assert (found.tx_hash, found.count, found.to_account) == (first.hash, 2, "bob@aclb")
    found_second = payment_by_hash(view, second.hash)
    assert found_second is not None and found_second.to_account == "carol@abaa"
    assert found_second.height == found.height + 1  # type: ignore[union-attr]
    # A third payment in a later block keeps counting.
    chain.run(chain.tx("alice@aclb", pay(amount="1")))
    third = payment_by_md5(chain.ledger.published(), MD5)
    assert third is not None and (third.tx_hash, third.count) == (first.hash, 3)


def test_a_qr_paid_twice_in_one_block_answers_the_lower_index(chain: Chain) -> None:
    first = chain.tx("alice@aclb", pay(amount="1.00"))
    second = chain.tx("alice@aclb", pay(amount="2.00"))
    rejected = chain.tx("bob@aclb", pay(src="bob@aclb", dest="alice@aclb", amount="900"))
    assert [r.status for r in chain.run(first, rejected, second)] == [
        TxStatus.COMMITTED, TxStatus.REJECTED, TxStatus.COMMITTED]
    found = payment_by_md5(chain.ledger.published(), MD5)
    assert found is not None
    assert (found.tx_hash, found.index, found.amount_minor, found.count) == (first.hash, 0, 100, 2)


def test_two_payments_of_one_qr_in_one_transaction_count_2(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", pay(amount="1.00"), pay(amount="2.00", dest="carol@abaa"))
    chain.run(tx)
    found = payment_by_md5(chain.ledger.published(), MD5)
    assert found is not None and (found.command_index, found.amount_minor, found.count) == (0, 100, 2)


def test_a_rolled_back_transaction_indexes_none_of_its_payments(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", pay(amount="1.00"), pay(amount="999999.00"))  # the second fails
    [result] = chain.run(tx)
    assert (result.status, result.command_index) == (TxStatus.REJECTED, 1)
    assert payment_by_md5(chain.ledger.published(), MD5) is None


# ---- atomic with the block ----


def test_a_block_that_fails_to_commit_leaves_no_index_rows(chain: Chain) -> None:
    tx = chain.tx("alice@aclb", pay(reference="CRASH"))

    def crash(point: str) -> None:
        if point == "during_write":
            raise RuntimeError("power cut")

    chain.ledger.store.commit_hook = crash
    with pytest.raises(RuntimeError):
        chain.run(tx)
    chain.ledger.store.commit_hook = None
    chain.reopen()
    for family in (keys.PAYMENT, keys.PAYMENT_MD5, keys.PAYMENT_REF):
        assert list(chain.ledger.store.scan(family)) == []
    view = chain.ledger.published()
    assert payment_by_md5(view, MD5) is None and payment_by_reference(view, "CRASH") is None
    # The same payment commits afterwards, indexed once.
    chain.run(tx)
    found = payment_by_md5(chain.ledger.published(), MD5)
    assert found is not None and (found.tx_hash, found.count) == (tx.hash, 1)


def test_a_follower_indexes_what_the_proposer_indexed(chain: Chain, tmp_path: Path) -> None:
    # Block sync and consensus both commit through Ledger.commit: a follower answers like the proposer.
    follower = Chain(tmp_path / "follower")
    try:
        chain.run(chain.tx("alice@aclb", pay(reference="F1")))
        chain.run(chain.tx("alice@aclb", pay(reference="F2")))
        for height in range(1, chain.ledger.head.height + 1):
            block = chain.ledger.block(height)
            assert block is not None
            follow(follower.ledger, block, certificate=b"certificate %d" % height)  # block sync holds one
        assert follower.ledger.head == chain.ledger.head  # same state root: the indexes are outside it
        assert follower.ledger.certificate(2) == b"certificate 2"  # stored in the same batch
        assert chain.ledger.certificate(2) is None  # an empty certificate (the test chain's) is not stored
        for ref in ("F1", "F2"):
            assert payment_by_reference(follower.ledger.published(), ref) == payment_by_reference(
                chain.ledger.published(), ref)
        assert payment_by_md5(follower.ledger.published(), MD5) == payment_by_md5(chain.ledger.published(), MD5)
    finally:
        follower.close()


def test_the_indexes_are_outside_the_state_root(chain: Chain, tmp_path: Path) -> None:
    # The same money movement as a plain transfer or as a referenced one gives the same state root.
    plain = Chain(tmp_path / "plain")
    try:
        plain.now = chain.now
        plain.run(plain.tx("alice@aclb", c.TransferAsset("alice@aclb", "bob@aclb", KHR, "coffee", "15.50")))
        chain.run(chain.tx("alice@aclb", pay()))
        assert chain.ledger.head.state_root == plain.ledger.head.state_root
    finally:
        plain.close()


# ---- the command ----


def test_the_command_round_trips_through_the_array_and_json_forms(chain: Chain) -> None:
    cmd = pay(reference="Bill 42 / table 7")
    assert cmd.to_array() == [21, "alice@aclb", "bob@aclb", KHR, "coffee", "15.50", MD5, "Bill 42 / table 7"]
    assert c.command_from_array(cmd.to_array()) == cmd
    assert c.command_from_json(cmd.to_json()) == cmd
    assert c.command_from_json({"type": "TransferWithReference", "src_account_id": "alice@aclb",
                                "dest_account_id": "bob@aclb", "asset_id": KHR, "amount": "1"}) == pay(
        amount="1", md5="", description="")
    tx = chain.tx("alice@aclb", cmd)
    assert decode_transaction(tx.encode()) == tx


@pytest.mark.parametrize(("field", "value", "code"), [
    ("qr_md5", MD5.upper(), "bad_md5"),
    ("qr_md5", MD5[:31], "bad_md5"),
    ("qr_md5", MD5 + "a", "bad_md5"),
    ("qr_md5", "z" * 32, "bad_md5"),
    ("qr_md5", 5, "bad_md5"),
    ("reference", "x" * 65, "bad_reference"),
    ("reference", "tab\there", "bad_reference"),
    ("reference", "caf\u00e9", "bad_reference"),
    ("reference", None, "bad_reference"),
])
def test_bad_md5_or_reference_is_refused_statelessly(field: str, value: object, code: str) -> None:
    obj = pay().to_json()
    obj[field] = value
    with pytest.raises(StatelessError) as info:
        c.command_from_json(obj)
    assert info.value.code == code
    array = pay().to_array()
    array[6 if field == "qr_md5" else 7] = value
    with pytest.raises(StatelessError) as info:
        c.command_from_array(array)
    assert info.value.code == code


def test_the_longest_reference_is_accepted() -> None:
    assert pay(reference="x" * 64).reference == c.check_reference("x" * 64)
