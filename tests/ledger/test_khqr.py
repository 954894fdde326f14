"""The KHQR codec: what Bakong's generators write, we read with the same fields and md5; what we build,
we read back; anything else is a KhqrError naming the tag at fault, never another exception.

The corpus is made in the test by the public `bakong-khqr` package (offline generation, no token), so
a change of its output shows here rather than in a merchant's shop.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.ledger import khqr as k
from node.ledger.errors import LedgerError
from node.ledger.khqr import Khqr, KhqrError, decode_khqr, encode_khqr, khqr_crc, khqr_md5

bakong_khqr = pytest.importorskip("bakong_khqr")

NOW_MS = 1_780_000_000_000


def package_qr(**fields: object) -> str:
    """A KHQR made by the package the way a merchant's shop makes one (no token: offline)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return str(bakong_khqr.KHQR().create_qr(**fields))


def tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def with_crc(body: str) -> str:
    """``body`` (every field but 63) closed with a correct CRC: the test reaches the check after it."""
    return body + "6304" + khqr_crc(body + "6304")


def body_of(**overrides: str | None) -> str:
    """A dynamic USD KHQR's fields, in order, with some replaced (a value) or dropped (None)."""
    fields = {
        "00": "01", "01": "12", "29": tlv("00", "alice@aclb"), "52": "5999", "53": "840", "54": "10.5",
        "58": "KH", "59": "Alice Shop", "60": "Phnom Penh",
        "99": tlv("00", str(NOW_MS - 1000)) + tlv("01", str(NOW_MS + 60_000)),
    }
    fields.update(overrides)
    return "".join(tlv(tag, value) for tag, value in fields.items() if value is not None)


# ---- the package's corpus ----

CORPUS = [
    pytest.param({"bank_account": "alice@aclb", "merchant_name": "Alice Shop", "merchant_city": "Phnom Penh",
                  "amount": 10.5, "currency": "USD"}, id="dynamic-usd"),
    pytest.param({"account_id": "coffee_shop@wing", "merchant_name": "Coffee", "merchant_city": "Siem Reap",
                  "amount": 15000, "currency": "KHR", "store_label": "Branch 7", "phone_number": "85512345678",
                  "bill_number": "INV-2026-0001", "terminal_label": "POS-2"}, id="dynamic-khr-additional"),
    pytest.param({"account_id": "bob@abaa", "merchant_name": "Bob", "merchant_city": "Battambang",
                  "currency": "USD", "static": True}, id="static-usd"),
    pytest.param({"account_id": "carol@aclb", "merchant_name": "Carol Market", "merchant_city": "Kampot",
                  "amount": 0.01, "currency": "USD", "bill_number": "B1", "expiration": 3}, id="one-cent"),
    pytest.param({"account_id": "dara@nbc", "merchant_name": "D" * 25, "merchant_city": "C" * 15,
                  "amount": 1234567, "currency": "KHR", "terminal_label": "T" * 25}, id="longest-name-city"),
]


@pytest.mark.parametrize("fields", CORPUS)
def test_a_khqr_made_by_the_bakong_khqr_package_reads_back_with_the_fields_it_was_given_and_its_md5(fields):
    qr = package_qr(**fields)
    decoded = decode_khqr(qr, now_ms=NOW_MS - 10**9)  # before the package's creation time: not expired
    static = fields.get("static", False)
    assert decoded.kind == "individual"
    assert decoded.account_id == fields.get("account_id", fields.get("bank_account"))
    assert decoded.merchant_name == fields["merchant_name"]
    assert decoded.merchant_city == fields["merchant_city"]
    assert decoded.currency == fields["currency"]
    assert decoded.dynamic is not static
    if static:
        assert decoded.amount_minor is None and decoded.expires_ms is None
    else:
        scale = 10 ** decoded.decimals
        assert decoded.amount_minor == round(fields["amount"] * scale)
        days = fields.get("expiration", 1)
        assert decoded.expires_ms is not None and decoded.created_ms is not None
        assert abs(decoded.expires_ms - decoded.created_ms - days * 86_400_000) < 1000
    assert decoded.store_label == fields.get("store_label")
    assert decoded.bill_number == fields.get("bill_number")
    assert decoded.terminal_label == fields.get("terminal_label")
    if "phone_number" in fields:
        assert decoded.mobile == "012345678"  # the package writes a Cambodian number in its local form
    assert decoded.md5 == khqr_md5(qr) == bakong_khqr.KHQR().generate_md5(qr)


def test_the_package_s_riel_amount_with_a_fraction_is_refused_because_riel_has_no_decimals():
    qr = package_qr(account_id="alice@aclb", merchant_name="A", merchant_city="PP", amount=100.5, currency="KHR")
    with pytest.raises(KhqrError) as caught:
        decode_khqr(qr)
    assert (caught.value.code, caught.value.tag) == (k.TOO_MANY_DECIMALS, "54")


def test_the_package_s_account_without_a_bank_is_refused_as_not_name_at_bank():
    qr = package_qr(account_id="alice", merchant_name="A", merchant_city="PP", amount=1, currency="USD")
    with pytest.raises(KhqrError) as caught:
        decode_khqr(qr)
    assert (caught.value.code, caught.value.tag) == (k.BAD_ACCOUNT_ID, "29.00")


def test_a_dynamic_khqr_past_its_expiry_is_refused_naming_tag_99_and_is_fine_before_it():
    qr = package_qr(account_id="alice@aclb", merchant_name="A", merchant_city="PP", amount=2, currency="USD")
    expires = decode_khqr(qr).expires_ms
    assert expires is not None
    assert decode_khqr(qr, now_ms=expires - 1).amount_minor == 200
    with pytest.raises(KhqrError) as caught:
        decode_khqr(qr, now_ms=expires)
    assert (caught.value.code, caught.value.tag) == (k.EXPIRED, "99")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("khqr_expired: tag 99: ")


def test_a_static_khqr_never_expires():
    qr = package_qr(account_id="alice@aclb", merchant_name="A", merchant_city="PP", currency="KHR", static=True)
    assert decode_khqr(qr, now_ms=99 * 10**12).amount_minor is None


# ---- round trip ----

ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=25)
account_part = st.text("abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=12)


@st.composite
def khqr_fields(draw: st.DrawFn) -> dict[str, object]:
    currency = draw(st.sampled_from(["KHR", "USD"]))
    amount = draw(st.none() | st.integers(1, 10**10))
    kind = draw(st.sampled_from(["individual", "merchant"]))
    created = draw(st.integers(10**12, 9 * 10**12))
    fields: dict[str, object] = {
        "kind": kind, "account_id": f"{draw(account_part)}@{draw(account_part)}",
        "merchant_name": draw(ascii_text), "merchant_city": draw(ascii_text.map(lambda t: t[:15])),
        "currency": currency, "amount_minor": amount, "created_ms": created,
        "expires_ms": created + draw(st.integers(1, 10**9)) if amount is not None else None,
        "bill_number": draw(st.none() | ascii_text), "mobile": draw(st.none() | ascii_text),
        "store_label": draw(st.none() | ascii_text), "terminal_label": draw(st.none() | ascii_text),
        "purpose": draw(st.none() | ascii_text), "acquiring_bank": draw(st.none() | ascii_text),
        "upi_merchant": draw(st.none() | ascii_text),
    }
    if kind == "merchant":
        fields["merchant_id"] = draw(ascii_text)
        fields["acquiring_bank"] = draw(ascii_text)
        fields["account_information"] = None  # tag 30's 01 is the merchant id, never read as account information
    else:
        fields["account_information"] = draw(st.none() | ascii_text)
        fields["merchant_id"] = None
    if draw(st.booleans()):
        fields["language"] = draw(st.sampled_from(["km", "zh", "en"]))
        fields["alt_merchant_name"] = draw(st.text(st.sampled_from("ហាងកាហ្វេ 文山金边"), min_size=1, max_size=25))
    return fields


@given(khqr_fields())
def test_what_encode_builds_decode_reads_back_field_for_field(fields):
    text = encode_khqr(**fields)
    decoded = decode_khqr(text, now_ms=fields["created_ms"])
    for name, value in fields.items():
        assert getattr(decoded, name) == value, name
    assert decoded.dynamic is (fields["amount_minor"] is not None)
    assert decoded.decimals == {"KHR": 0, "USD": 2}[fields["currency"]]
    assert decoded.text == text and decoded.md5 == khqr_md5(text)
    assert encode_khqr(**fields) == text  # one encoding per value


def test_amounts_are_written_as_bakong_s_generators_write_them():
    usd = {"account_id": "a@b", "merchant_name": "A", "merchant_city": "PP", "currency": "USD"}
    assert "540410.5" in encode_khqr(**usd, amount_minor=1050, created_ms=NOW_MS, expires_ms=NOW_MS + 1)
    assert "54010" not in encode_khqr(**usd, amount_minor=1000, created_ms=NOW_MS, expires_ms=NOW_MS + 1)
    assert "540210" in encode_khqr(**usd, amount_minor=1000, created_ms=NOW_MS, expires_ms=NOW_MS + 1)
    assert k.parse_amount("100.00", "KHR") == 100 and k.parse_amount("0.01", "USD") == 1


# ---- each typed error names its tag ----

VALID = with_crc(body_of())


def refused(text: object, now_ms: int | None = None) -> tuple[str, str | None]:
    with pytest.raises(KhqrError) as caught:
        decode_khqr(text, now_ms=now_ms)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(caught.value.code + ": ")
    assert isinstance(caught.value, LedgerError) and caught.value.http_status == 400
    return caught.value.code, caught.value.tag


def test_the_hand_built_valid_khqr_is_valid():
    decoded = decode_khqr(VALID, now_ms=NOW_MS)
    assert isinstance(decoded, Khqr) and decoded.amount_minor == 1050 and decoded.currency == "USD"


@pytest.mark.parametrize(("text", "code", "tag"), [
    pytest.param(VALID[:-1] + ("0" if VALID[-1] != "0" else "1"), k.BAD_CRC, "63", id="crc-wrong"),
    pytest.param(VALID[:-4] + VALID[-4:].lower(), k.BAD_CRC, "63", id="crc-lower-case"),
    pytest.param(body_of(), k.MISSING_TAG, "63", id="crc-missing"),
    pytest.param(VALID + "6500", k.BAD_CRC, "63", id="crc-not-last"),
    pytest.param(VALID[:VALID.index("5910Alice") + 8], k.BAD_LENGTH, "59", id="truncated"),
    pytest.param(with_crc(body_of(**{"59": "N" * 26})), k.BAD_LENGTH, "59", id="name-over-25"),
    pytest.param(with_crc(body_of(**{"60": "C" * 16})), k.BAD_LENGTH, "60", id="city-over-15"),
    pytest.param(with_crc(body_of(**{"62": tlv("01", "B" * 26)})), k.BAD_LENGTH, "62.01", id="bill-over-25"),
    pytest.param(with_crc(body_of(**{"29": "0099alice@aclb"})), k.BAD_LENGTH, "29.00", id="sub-length-past-end"),
    pytest.param(with_crc(body_of(**{"59": None})), k.MISSING_TAG, "59", id="no-merchant-name"),
    pytest.param(with_crc(body_of(**{"60": None})), k.MISSING_TAG, "60", id="no-city"),
    pytest.param(with_crc(body_of(**{"53": None})), k.MISSING_TAG, "53", id="no-currency"),
    pytest.param(with_crc(body_of(**{"29": None})), k.MISSING_TAG, "29", id="no-account"),
    pytest.param(with_crc(body_of(**{"29": None, "30": tlv("00", "m@aclb") + tlv("02", "ACLEDA")})),
                 k.MISSING_TAG, "30.01", id="merchant-without-merchant-id"),
    pytest.param(with_crc(body_of(**{"54": None})), k.MISSING_TAG, "54", id="dynamic-without-amount"),
    pytest.param(with_crc(body_of(**{"99": tlv("00", str(NOW_MS))})), k.MISSING_TAG, "99.01",
                 id="dynamic-without-expiry"),
    pytest.param(with_crc(body_of(**{"53": "978"})), k.UNKNOWN_CURRENCY, "53", id="euro"),
    pytest.param(with_crc(body_of(**{"54": "1.005"})), k.TOO_MANY_DECIMALS, "54", id="usd-three-decimals"),
    pytest.param(with_crc(body_of(**{"53": "116", "54": "100.5"})), k.TOO_MANY_DECIMALS, "54", id="riel-fraction"),
    pytest.param(with_crc(body_of(**{"54": "1e3"})), k.BAD_AMOUNT, "54", id="amount-exponent"),
    pytest.param(with_crc(body_of(**{"54": "-5"})), k.BAD_AMOUNT, "54", id="amount-negative"),
    pytest.param(with_crc(body_of(**{"54": "0.00"})), k.BAD_AMOUNT, "54", id="amount-zero"),
    pytest.param(with_crc(body_of(**{"29": tlv("00", "alice")})), k.BAD_ACCOUNT_ID, "29.00", id="no-bank"),
    pytest.param(with_crc(body_of(**{"29": tlv("00", "a@b@c")})), k.BAD_ACCOUNT_ID, "29.00", id="two-ats"),
    pytest.param(with_crc(body_of(**{"29": tlv("00", "alice @aclb")})), k.BAD_ACCOUNT_ID, "29.00", id="space"),
    pytest.param(with_crc(body_of(**{"01": "13"})), k.BAD_VALUE, "01", id="initiation-13"),
    pytest.param(with_crc(body_of(**{"00": "02"})), k.BAD_VALUE, "00", id="format-02"),
    pytest.param(with_crc(body_of(**{"99": tlv("00", "17") + tlv("01", str(NOW_MS))})), k.BAD_VALUE, "99.00",
                 id="short-timestamp"),
    pytest.param(with_crc(body_of(**{"59": "Café"})), k.BAD_ENCODING, "59", id="non-ascii-name"),
    pytest.param(with_crc(body_of(**{"59": "A\tB"})), k.BAD_ENCODING, "59", id="control-character"),
    pytest.param(with_crc(body_of(**{"64": tlv("00", "km") + tlv("01", "\ud800")})), k.BAD_ENCODING, "64.01",
                 id="lone-surrogate"),
    pytest.param(with_crc(body_of() + tlv("59", "Again")), k.DUPLICATE_TAG, "59", id="duplicate"),
    pytest.param(with_crc(body_of(**{"30": tlv("00", "m@aclb")})), k.DUPLICATE_TAG, "30", id="both-29-and-30"),
    pytest.param(with_crc("0X" + body_of()[2:]), k.BAD_TLV, None, id="bad-tag"),
    pytest.param(with_crc("000A01" + body_of()[6:]), k.BAD_TLV, "00", id="bad-length-digits"),
    pytest.param(with_crc("00٠٢01" + body_of()[6:]), k.BAD_TLV, "00", id="arabic-indic-digits"),
    pytest.param("", k.MISSING_TAG, "00", id="empty"),
    pytest.param(VALID * 4, k.TOO_LONG, None, id="over-512"),
    pytest.param(b"000201", k.NOT_TEXT, None, id="bytes"),
    pytest.param(None, k.NOT_TEXT, None, id="none"),
])
def test_each_malformed_khqr_gets_a_typed_error_naming_its_tag(text, code, tag):
    assert refused(text, now_ms=NOW_MS) == (code, tag)


def test_an_expired_hand_built_khqr_names_tag_99():
    assert refused(VALID, now_ms=NOW_MS + 60_000) == (k.EXPIRED, "99")


def test_encode_refuses_what_decode_would_refuse():
    base = {"account_id": "a@b", "merchant_name": "A", "merchant_city": "PP", "created_ms": NOW_MS}
    with pytest.raises(KhqrError) as caught:
        encode_khqr(**base, currency="EUR")
    assert caught.value.tag == "53"
    with pytest.raises(KhqrError) as caught:
        encode_khqr(**{**base, "merchant_name": "N" * 26}, currency="USD")
    assert caught.value.tag == "59"
    with pytest.raises(KhqrError) as caught:
        encode_khqr(**base, currency="USD", amount_minor=0)
    assert caught.value.tag == "54"


# ---- hostile input: only KhqrError may escape ----

def only_khqr_error(text: object) -> None:
    try:
        decode_khqr(text, now_ms=NOW_MS)
    except KhqrError as exc:
        assert "\n" not in str(exc)


@given(st.text(max_size=600) | st.binary(max_size=64) | st.integers() | st.none())
def test_random_input_gets_a_khqr_error_or_a_khqr_and_nothing_else(text):
    only_khqr_error(text)


@given(st.data())
def test_mutations_of_valid_khqrs_get_a_khqr_error_or_a_khqr_and_nothing_else(data):
    base = data.draw(st.sampled_from([VALID, with_crc(body_of(**{"64": tlv("00", "km") + tlv("01", "ហាង")}))]))
    chars = list(base)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        at = data.draw(st.integers(0, max(len(chars) - 1, 0)))
        char = data.draw(st.characters())
        if action == "replace" and chars:
            chars[at] = char
        elif action == "delete" and chars:
            del chars[at]
        elif action == "insert":
            chars.insert(at, char)
        else:
            del chars[at:]
    mutated = "".join(chars)
    only_khqr_error(mutated)
    if data.draw(st.booleans()) and mutated.endswith(base[-8:-4]) is False and len(mutated) > 8:
        only_khqr_error(with_crc(mutated[:-8]))  # past the CRC check: the field checks themselves


# ---- limits, exactly at and one past ----

def padded_to(length: int) -> str:
    """A valid KHQR exactly ``length`` characters long: unknown tag 80 (EMVCo's unreserved templates, read
    past) fills the gap."""
    body = body_of(**{"15": "U" * 99})
    gap = length - len(body) - 8
    fillers = []
    while gap > 0:
        size = min(gap - 4, 99)
        fillers.append(tlv(str(80 + len(fillers)), "f" * size))
        gap -= size + 4
    assert gap == 0
    return with_crc(body + "".join(fillers))


def test_the_512_character_cap_is_emvco_s():
    assert len(padded_to(512)) == 512 and decode_khqr(padded_to(512)).upi_merchant == "U" * 99
    assert refused(padded_to(513)) == (k.TOO_LONG, None)


LIMITS = [("54", 13), ("59", 25), ("60", 15), ("29.00", 32), ("29.01", 32), ("29.02", 32),
          ("30.01", 32), ("30.02", 32), ("62.01", 25), ("62.02", 25), ("62.03", 25), ("62.07", 25), ("62.08", 25),
          ("64.01", 25), ("64.02", 15)]


def qr_with(field: str, length: int) -> str:
    """VALID with ``field`` (a tag or tag.sub) holding a well-formed value of ``length`` characters."""
    tag, _, sub = field.partition(".")
    if field == "54":
        value = "1" * (length - 3) + ".25"
    elif sub == "00":
        value = "a" * (length - 5) + "@aclb"
    else:
        value = "v" * length
    if not sub:
        return with_crc(body_of(**{tag: value}))
    if tag == "29":
        subs = {"00": "alice@aclb", sub: value}
    elif tag == "30":
        subs = {"00": "m@aclb", "01": "M1", "02": "BANK", sub: value}
    elif tag == "64":
        subs = {"00": "km", sub: value}
    else:
        subs = {sub: value}
    template = "".join(tlv(s, v) for s, v in sorted(subs.items()))
    overrides = {tag: template, "29": None} if tag == "30" else {tag: template}
    return with_crc(body_of(**overrides))


@pytest.mark.parametrize(("field", "limit"), LIMITS)
def test_each_field_holds_its_limit_and_one_more_is_a_bad_length_naming_it(field, limit):
    decode_khqr(qr_with(field, limit), now_ms=NOW_MS)
    assert refused(qr_with(field, limit + 1), now_ms=NOW_MS) == (k.BAD_LENGTH, field)


@pytest.mark.parametrize(("text", "code", "tag", "says"), [
    pytest.param(with_crc(body_of(**{"52": "59A9"})), k.BAD_VALUE, "52", "four digits", id="mcc-letter"),
    pytest.param(with_crc(body_of(**{"58": "kh"})), k.BAD_VALUE, "58", "upper-case", id="country-lower"),
    pytest.param(with_crc(body_of(**{"64": tlv("00", "k1")})), k.BAD_VALUE, "64.00", "two-letter", id="language"),
    pytest.param(with_crc(body_of(**{"64": tlv("01", "ហាង")})), k.MISSING_TAG, "64.00", "two-letter",
                 id="language-missing"),
    pytest.param(with_crc(body_of(**{"29": None, "30": tlv("00", "m@aclb") + tlv("01", "M1")})),
                 k.MISSING_TAG, "30.02", "mandatory", id="merchant-without-acquiring-bank"),
    pytest.param(with_crc(body_of(**{"99": tlv("00", str(NOW_MS)) + tlv("01", str(NOW_MS))})), k.BAD_VALUE,
                 "99.01", "not after", id="expiry-equals-creation"),
    pytest.param(with_crc(tlv("01", "12") + body_of(**{"01": None})), k.MISSING_TAG, "00", "first",
                 id="format-not-first"),
    pytest.param(VALID + "6500", k.BAD_CRC, "63", "last field", id="crc-not-last"),
    pytest.param(VALID[:-8] + "6303ABC", k.BAD_CRC, "63", "four characters", id="crc-three-digits"),
    pytest.param(VALID[:-4] + "abcd", k.BAD_CRC, "63", "upper-case hex", id="crc-lower-hex"),
])
def test_each_refusal_says_what_is_wrong(text, code, tag, says):
    assert refused(text, now_ms=NOW_MS) == (code, tag)
    with pytest.raises(KhqrError, match=says):
        decode_khqr(text, now_ms=NOW_MS)


def test_individual_and_merchant_fields_do_not_cross():
    individual = decode_khqr(with_crc(body_of(**{"29": tlv("00", "a@b") + tlv("01", "INFO") + tlv("02", "BANK")})))
    assert (individual.kind, individual.account_information, individual.merchant_id) == ("individual", "INFO", None)
    merchant = decode_khqr(with_crc(body_of(**{"29": None, "30": tlv("00", "m@b") + tlv("01", "M1") + tlv("02", "B")})))
    assert (merchant.kind, merchant.merchant_id, merchant.account_information, merchant.acquiring_bank) \
        == ("merchant", "M1", None, "B")


@pytest.mark.parametrize("fields", CORPUS[:1] + CORPUS[2:4])
def test_encode_writes_what_the_package_writes_for_the_same_fields(fields):
    qr = package_qr(**fields)
    d = decode_khqr(qr)
    again = encode_khqr(account_id=d.account_id, merchant_name=d.merchant_name, merchant_city=d.merchant_city,
                        currency=d.currency, amount_minor=d.amount_minor, bill_number=d.bill_number,
                        created_ms=d.created_ms, expires_ms=d.expires_ms)
    assert again == qr


def test_encode_refuses_a_bad_amount_kind_or_over_long_value():
    base = {"account_id": "a@b", "merchant_name": "A", "merchant_city": "PP", "currency": "USD",
            "created_ms": NOW_MS, "expires_ms": NOW_MS + 1}
    for amount in (0, -1, True, 1.5):
        with pytest.raises(KhqrError) as caught:
            encode_khqr(**base, amount_minor=amount)
        assert (caught.value.code, caught.value.tag) == (k.BAD_AMOUNT, "54")
    with pytest.raises(KhqrError) as caught:
        encode_khqr(**base, amount_minor=1, kind="bank")
    assert (caught.value.code, caught.value.tag) == (k.BAD_VALUE, "29")
    with pytest.raises(KhqrError) as caught:
        encode_khqr(**base, amount_minor=1, upi_merchant="U" * 100)
    assert (caught.value.code, caught.value.tag) == (k.BAD_LENGTH, "15")


def test_a_payer_s_amount_text_of_any_length_is_a_typed_error():
    assert k.parse_amount("1" * 40, "KHR") == int("1" * 40)
    for text in ("1" * 41, "1" * 5000, ""):
        with pytest.raises(KhqrError):
            k.parse_amount(text, "KHR")


def test_truncated_headers_empty_values_and_an_empty_string_each_say_so():
    cut = VALID[:VALID.index("5910Alice") + 3]  # "591": the length itself is cut
    assert refused(cut) == (k.BAD_LENGTH, "59")
    with pytest.raises(KhqrError, match="is mandatory and empty"):
        decode_khqr(with_crc(body_of(**{"59": ""})))
    with pytest.raises(KhqrError, match="the KHQR is empty"):
        decode_khqr("")


def test_encode_writes_only_the_fields_it_is_given():
    text = encode_khqr(account_id="a@b", merchant_name="A", merchant_city="PP", currency="KHR", upi_merchant="U" * 99)
    fields = [tlv("00", "01"), tlv("01", "11"), tlv("15", "U" * 99), tlv("29", tlv("00", "a@b")), tlv("52", "5999"),
              tlv("53", "116"), tlv("58", "KH"), tlv("59", "A"), tlv("60", "PP")]
    assert text == with_crc("".join(fields))
