"""``bakong pay --khqr``: a KHQR becomes one signed transfer to the QR's account, in its currency's asset,
carrying the QR's md5; a malformed or expired QR, or a static one without ``--amount``, stops before any
key is read or the node is asked. The node's answers are a stub here (as tests/test_cli.py does);
the package-driven flow against a real node is issue 17's integration test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus.crypto import KeyPair
from node import pay_cli
from node.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from node.keyfile import write_key
from node.ledger import commands as c
from node.ledger.khqr import encode_khqr, khqr_md5
from node.ledger.transactions import decode_transaction
from tests.test_cli import StubApi, closed_port

NOW_MS = int(time.time() * 1000)


def dynamic_qr(currency: str = "USD", amount_minor: int = 1050, expires_ms: int = NOW_MS + 3_600_000,
               **extra: str) -> str:
    return encode_khqr(account_id="coffee@aclb", merchant_name="Coffee", merchant_city="Phnom Penh",
                       currency=currency, amount_minor=amount_minor, created_ms=NOW_MS - 1000,
                       expires_ms=expires_ms, **extra)


def static_qr(currency: str = "KHR") -> str:
    return encode_khqr(account_id="coffee@aclb", merchant_name="Coffee", merchant_city="Phnom Penh",
                       currency=currency, created_ms=NOW_MS - 1000)


@pytest.fixture
def api() -> Iterator[StubApi]:
    stub = StubApi()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "alice.key"
    write_key(path, KeyPair.generate())
    return path


@pytest.fixture
def no_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach a node fails the test: the refusals must come first."""
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the node was asked")
    monkeypatch.setattr("node.cli.NodeClient", refuse)


def paid_command(tmp_path: Path) -> c.TransferWithReference:
    tx = decode_transaction(bytes.fromhex((tmp_path / "tx.hex").read_text()))
    assert tx.payload.creator == "alice@aclb" and len(tx.payload.commands) == 1
    command = tx.payload.commands[0]
    assert isinstance(command, c.TransferWithReference)
    return command


def test_a_dynamic_usd_khqr_is_paid_to_its_account_in_usd_for_its_amount_with_its_md5_signed(
        api: StubApi, key: Path, tmp_path: Path) -> None:
    qr = dynamic_qr(bill_number="INV-42")
    api.submit = (200, {"status": "COMMITTED", "height": 3, "index": 0})
    assert main(["pay", "--khqr", qr, "--from", "alice@aclb", "--key", str(key), "--node", api.url,
                 "--save", str(tmp_path / "tx.hex")]) == EXIT_OK
    command = paid_command(tmp_path)
    assert (command.src_account_id, command.dest_account_id) == ("alice@aclb", "coffee@aclb")
    assert (command.asset_id, command.amount) == ("usd#nbc", "10.5")
    assert command.qr_md5 == khqr_md5(qr) and command.reference == "INV-42"


def test_a_static_khr_khqr_is_paid_for_the_payer_s_amount_in_riel(api: StubApi, key: Path, tmp_path: Path) -> None:
    api.submit = (200, {"status": "COMMITTED", "height": 3, "index": 0})
    qr = static_qr("KHR")
    assert main(["pay", "--khqr", qr, "--from", "alice@aclb", "--key", str(key), "--amount", "15000",
                 "--reference", "order 7", "--node", api.url, "--save", str(tmp_path / "tx.hex")]) == EXIT_OK
    command = paid_command(tmp_path)
    assert (command.asset_id, command.amount, command.dest_account_id) == ("khr#nbc", "15000", "coffee@aclb")
    assert command.qr_md5 == khqr_md5(qr) and command.reference == "order 7"


def test_khqr_transfer_maps_currency_to_asset_and_keeps_the_qr_amount() -> None:
    from node.ledger.khqr import decode_khqr

    [command] = pay_cli.khqr_transfer(decode_khqr(dynamic_qr("KHR", 25_000)), "alice@aclb", None)
    assert isinstance(command, c.TransferWithReference)
    assert (command.asset_id, command.amount, command.reference) == ("khr#nbc", "25000", "")
    [command] = pay_cli.khqr_transfer(decode_khqr(static_qr("USD")), "alice@aclb", 1)
    assert (command.asset_id, command.amount) == ("usd#nbc", "0.01")


@pytest.mark.usefixtures("no_node")
def test_an_expired_khqr_exits_1_with_one_line_naming_tag_99_before_any_network_call(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qr = encode_khqr(account_id="coffee@aclb", merchant_name="Coffee", merchant_city="Phnom Penh", currency="USD",
                     amount_minor=100, created_ms=NOW_MS - 120_000, expires_ms=NOW_MS - 60_000)
    assert main(["pay", "--khqr", qr, "--from", "alice@aclb", "--key", str(key)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: khqr_expired: tag 99: ") and err.count("\n") == 1


@pytest.mark.usefixtures("no_node")
@pytest.mark.parametrize(("qr", "code"), [
    (dynamic_qr()[:-4] + "0000" if not dynamic_qr().endswith("0000") else dynamic_qr()[:-4] + "FFFF",
     "khqr_bad_crc: tag 63"),
    ("not a qr", "khqr_bad_tlv"),
    ("x" * 10_000, "khqr_too_long"),
])
def test_a_malformed_khqr_exits_1_with_its_typed_error(qr: str, code: str, key: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pay", "--khqr", qr, "--from", "alice@aclb", "--key", str(key)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {code}") and err.count("\n") == 1


@pytest.mark.usefixtures("no_node")
def test_a_static_khqr_without_amount_is_a_usage_error(key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pay", "--khqr", static_qr(), "--from", "alice@aclb", "--key", str(key)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: amount_required: this KHQR is static") and err.count("\n") == 1


@pytest.mark.usefixtures("no_node")
@pytest.mark.parametrize(("qr", "amount", "code"), [
    (static_qr("KHR"), "100.5", "bad_amount"),  # riel has no decimals
    (static_qr("USD"), "1.005", "bad_amount"),
    (static_qr("USD"), "-1", "bad_amount"),
    (dynamic_qr("USD", 1050), "10.60", "amount_mismatch"),
])
def test_a_bad_or_contradicting_amount_exits_1_naming_it(qr: str, amount: str, code: str, key: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pay", "--khqr", qr, "--from", "alice@aclb", "--key", str(key), "--amount", amount]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {code}: ") and err.count("\n") == 1


def test_a_matching_amount_on_a_dynamic_khqr_is_accepted(api: StubApi, key: Path, tmp_path: Path) -> None:
    api.submit = (200, {"status": "COMMITTED", "height": 3, "index": 0})
    assert main(["pay", "--khqr", dynamic_qr("USD", 1050), "--from", "alice@aclb", "--key", str(key),
                 "--amount", "10.50", "--node", api.url, "--save", str(tmp_path / "tx.hex")]) == EXIT_OK
    assert paid_command(tmp_path).amount == "10.5"


def test_a_khqr_for_an_account_the_ledger_cannot_name_is_refused_before_signing(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qr = encode_khqr(account_id="Coffee.Shop@aclb", merchant_name="C", merchant_city="PP", currency="KHR",
                     created_ms=NOW_MS)
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["pay", "--khqr", qr, "--from", "alice@aclb", "--key", str(key), "--amount", "100",
                 "--node", url]) == EXIT_ERROR
    assert capsys.readouterr().err.startswith("error: bad_account_id: ")


def test_the_commands_of_a_static_qr_need_the_payers_amount() -> None:
    from node.ledger.khqr import decode_khqr
    from node.ledger.payments import khqr_transfer
    qr = decode_khqr(static_qr("KHR"), now_ms=NOW_MS)
    with pytest.raises(ValueError, match="static KHQR needs the payer's amount"):
        khqr_transfer(qr, "alice@aclb", None)
    [cmd] = khqr_transfer(qr, "alice@aclb", 5000)
    assert isinstance(cmd, c.TransferWithReference) and cmd.amount == "5000" and cmd.qr_md5 == qr.md5
