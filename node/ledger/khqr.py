"""KHQR: Cambodia's profile of the EMVCo merchant-presented QR code, parsed, checked and built.

A KHQR is a flat string of TLV fields: a two-digit tag, a two-digit length (in characters) and the
value; tags 29, 30, 62, 64 and 99 hold templates of sub-fields in the same shape. The last field is
63, the CRC-16/CCITT-FALSE of everything before its four hex digits (so ``...6304`` is included).
Bakong keys a payment by the md5 of the exact QR string (``khqr_md5``).

Pure: no I/O and no clock (an expiry check is given ``now_ms``). Whatever it is given, the only
exception that leaves ``decode_khqr`` and ``encode_khqr`` is ``KhqrError``, which names the tag at
fault ("29.00" for a sub-field). Money is integers of minor units: KHR has no decimals and USD two,
as Bakong's SDK has it (docs/khqr.md says why and what it means for a KHR "100.5").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from node.ledger.errors import LedgerError

# Stable codes (docs/khqr.md lists them with their meaning).
NOT_TEXT = "khqr_not_text"
TOO_LONG = "khqr_too_long"
BAD_ENCODING = "khqr_bad_encoding"
BAD_TLV = "khqr_bad_tlv"
BAD_LENGTH = "khqr_bad_length"
DUPLICATE_TAG = "khqr_duplicate_tag"
MISSING_TAG = "khqr_missing_tag"
BAD_VALUE = "khqr_bad_value"
BAD_CRC = "khqr_bad_crc"
UNKNOWN_CURRENCY = "khqr_unknown_currency"
BAD_AMOUNT = "khqr_bad_amount"
TOO_MANY_DECIMALS = "khqr_too_many_decimals"
EXPIRED = "khqr_expired"
BAD_ACCOUNT_ID = "khqr_bad_account_id"

# EMVCo caps a merchant-presented payload at 512 characters; checked before any parsing, so a
# hostile megabyte costs one len().
MAX_LENGTH = 512

INDIVIDUAL, MERCHANT = "individual", "merchant"
# ISO 4217 numeric code -> (alphabetic code, decimals Bakong accepts for it).
CURRENCIES: Mapping[str, tuple[str, int]] = {"116": ("KHR", 0), "840": ("USD", 2)}
CURRENCY_CODES: Mapping[str, str] = {name: code for code, (name, _) in CURRENCIES.items()}
DECIMALS: Mapping[str, int] = {name: decimals for _, (name, decimals) in CURRENCIES.items()}

_DIGITS2 = re.compile(r"[0-9]{2}\Z")
_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?\Z")
_TIMESTAMP = re.compile(r"[0-9]{13}\Z")
_MCC = re.compile(r"[0-9]{4}\Z")
_COUNTRY = re.compile(r"[A-Z]{2}\Z")
_LANGUAGE = re.compile(r"[A-Za-z]{2}\Z")
_CRC_HEX = re.compile(r"[0-9A-F]{4}\Z")
# Bakong account ids: one "@" between a name and a bank code, nothing a QR reader would trim.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9._-]{1,32}@[A-Za-z0-9._-]{1,32}\Z")

# Maximum value lengths per field (Bakong's limits); a longer value is BAD_LENGTH naming the tag. (Tag 15's
# 99 is the TLV format's own cap.)
_ROOT_LIMITS = {"00": 2, "01": 2, "52": 4, "53": 3, "54": 13, "58": 2, "59": 25, "60": 15, "63": 4}
_ACCOUNT_LIMITS = {"00": 32, "01": 32, "02": 32}
_ADDITIONAL = {"01": "bill_number", "02": "mobile", "03": "store_label", "07": "terminal_label", "08": "purpose"}
_ADDITIONAL_LIMIT = 25
_LANGUAGE_LIMITS = {"00": 2, "01": 25, "02": 15}
# Alternate-language values (tag 64's 01 and 02) are the only place a KHQR carries non-ASCII text
# (Khmer, Chinese): everywhere else a value is printable ASCII.
_UNICODE_FIELDS = frozenset({"64.01", "64.02"})


class KhqrError(LedgerError):
    """A KHQR string that is not a valid, payable code; ``tag`` names the field ("63", "29.00"), or is
    None when the string as a whole is unusable (not text, too long)."""

    def __init__(self, code: str, tag: str | None, message: str) -> None:
        where = f"tag {tag}: " if tag is not None else ""
        super().__init__(code, where + message)
        self.tag = tag


@dataclass(frozen=True)
class Khqr:
    """A decoded KHQR. ``amount_minor`` is None when the code carries no amount (a static QR: the
    payer chooses it); ``decimals`` is the currency's (0 for KHR, 2 for USD)."""

    kind: str
    account_id: str
    merchant_name: str
    merchant_city: str
    currency: str
    amount_minor: int | None
    decimals: int
    dynamic: bool
    text: str
    merchant_id: str | None = None
    acquiring_bank: str | None = None
    account_information: str | None = None
    bill_number: str | None = None
    mobile: str | None = None
    store_label: str | None = None
    terminal_label: str | None = None
    purpose: str | None = None
    created_ms: int | None = None
    expires_ms: int | None = None
    mcc: str = "5999"
    country: str = "KH"
    upi_merchant: str | None = None
    language: str | None = None
    alt_merchant_name: str | None = None
    alt_merchant_city: str | None = None

    @property
    def md5(self) -> str:
        return khqr_md5(self.text)


def khqr_md5(text: str) -> str:
    """The hex md5 of the exact QR string (UTF-8), the key Bakong's Open API looks payments up by."""
    # surrogatepass: a lone surrogate (refused by decode_khqr) must not make a hash raise
    return hashlib.md5(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final xor."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


def khqr_crc(body: str) -> str:
    """The four upper-case hex digits of tag 63 for ``body`` (everything up to and including "6304")."""
    return f"{crc16_ccitt_false(body.encode('utf-8', 'surrogatepass')):04X}"


def _fields(text: str, prefix: str) -> dict[str, str]:
    """Split a TLV run into {tag: value}; lengths count characters. ``prefix`` names the template."""
    fields: dict[str, str] = {}
    at, end = 0, len(text)
    while at < end:
        tag = text[at:at + 2]
        name = prefix + tag if _DIGITS2.match(tag) else (prefix.rstrip(".") or None)
        if not _DIGITS2.match(tag):
            raise KhqrError(BAD_TLV, name, f"expected a two-digit tag at offset {at}")
        length = text[at + 2:at + 4]
        if not _DIGITS2.match(length):
            raise KhqrError(BAD_TLV if at + 4 <= end else BAD_LENGTH, name,
                            f"expected a two-digit length at offset {at + 2}")
        start = at + 4
        stop = start + int(length)
        if stop > end:
            raise KhqrError(BAD_LENGTH, name, f"length {length} runs past the end ({end - start} characters left)")
        if tag in fields:
            raise KhqrError(DUPLICATE_TAG, name, "appears twice")
        fields[tag] = text[start:stop]
        at = stop
    return fields


def _check_text(name: str, value: str) -> None:
    if name in _UNICODE_FIELDS:
        if not value.isprintable():
            raise KhqrError(BAD_ENCODING, name, "holds a control character")
    elif not (value.isascii() and value.isprintable()):
        raise KhqrError(BAD_ENCODING, name, "holds a character outside printable ASCII")


def _limit(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise KhqrError(BAD_LENGTH, name, f"is {len(value)} characters long; at most {limit} allowed")


def _required(fields: Mapping[str, str], tag: str, name: str) -> str:
    value = fields.get(tag)
    if value is None or value == "":
        raise KhqrError(MISSING_TAG, name, "is mandatory and missing" if value is None else "is mandatory and empty")
    return value


def _template(fields: Mapping[str, str], tag: str, limits: Mapping[str, int] | None) -> dict[str, str]:
    value = fields.get(tag)
    if value is None:
        return {}
    subfields = _fields(value, tag + ".")
    for sub, sub_value in subfields.items():
        name = f"{tag}.{sub}"
        _check_text(name, sub_value)
        if limits is not None and sub in limits:
            _limit(name, sub_value, limits[sub])
    return subfields


def parse_amount(text: str, currency: str, tag: str = "54") -> int:
    """``"10.5"`` in USD -> 1050. Trailing zeros past the currency's decimals are allowed
    (``"100.00"`` KHR is 100 riel); a significant digit past them is TOO_MANY_DECIMALS."""
    match = _AMOUNT.match(text) if len(text) <= 40 else None
    if match is None:
        raise KhqrError(BAD_AMOUNT, tag, f"{text[:20]!r} is not a plain decimal amount")
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    decimals = DECIMALS[currency]
    if len(fraction) > decimals:
        raise KhqrError(TOO_MANY_DECIMALS, tag,
                        f"{text} {currency} has {len(fraction)} decimals; {currency} allows {decimals}")
    scale: int = 10**decimals
    minor = int(whole) * scale + int(fraction.ljust(decimals, "0") or "0")
    if minor <= 0:
        raise KhqrError(BAD_AMOUNT, tag, "the amount must be positive")
    return minor


def format_amount(amount_minor: int, decimals: int) -> str:
    """1050, 2 -> ``"10.5"``: no trailing zeros, as Bakong's generators write tag 54."""
    if decimals == 0:
        return str(amount_minor)
    scale: int = 10**decimals
    whole, fraction = divmod(amount_minor, scale)
    digits = f"{fraction:0{decimals}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def decode_khqr(text: object, now_ms: int | None = None) -> Khqr:
    """Parse and check a KHQR string; ``now_ms`` given, a dynamic QR past its expiry is EXPIRED."""
    if not isinstance(text, str):
        raise KhqrError(NOT_TEXT, None, f"a KHQR is text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise KhqrError(TOO_LONG, None, f"{len(text)} characters; a KHQR has at most {MAX_LENGTH}")
    if not text:
        raise KhqrError(MISSING_TAG, "00", "the KHQR is empty")
    fields = _fields(text, "")
    for tag, value in fields.items():
        if tag not in ("29", "30", "62", "64", "99"):
            _check_text(tag, value)
        if tag in _ROOT_LIMITS:
            _limit(tag, value, _ROOT_LIMITS[tag])
    _check_frame(text, fields)

    dynamic = _required(fields, "01", "01") == "12"
    if fields["01"] not in ("11", "12"):
        raise KhqrError(BAD_VALUE, "01", f"point of initiation {fields['01']!r}: 11 (static) or 12 (dynamic)")
    kind, account = _account(fields)
    currency_code = _required(fields, "53", "53")
    if currency_code not in CURRENCIES:
        raise KhqrError(UNKNOWN_CURRENCY, "53", f"currency {currency_code!r}: 116 (KHR) or 840 (USD)")
    currency, decimals = CURRENCIES[currency_code]
    amount_text = fields.get("54")
    amount_minor = parse_amount(amount_text, currency) if amount_text is not None else None
    if dynamic and amount_minor is None:
        raise KhqrError(MISSING_TAG, "54", "a dynamic KHQR carries its amount")
    mcc = _required(fields, "52", "52")
    if not _MCC.match(mcc):
        raise KhqrError(BAD_VALUE, "52", "the merchant category code is four digits")
    country = _required(fields, "58", "58")
    if not _COUNTRY.match(country):
        raise KhqrError(BAD_VALUE, "58", "the country code is two upper-case letters")
    additional = _template(fields, "62", dict.fromkeys(_ADDITIONAL, _ADDITIONAL_LIMIT))
    language = _template(fields, "64", _LANGUAGE_LIMITS)
    if language and not _LANGUAGE.match(language.get("00", "")):
        raise KhqrError(BAD_VALUE if "00" in language else MISSING_TAG, "64.00",
                        "the alternate language template starts with a two-letter language")
    created_ms, expires_ms = _timestamps(fields, dynamic)
    if dynamic and now_ms is not None and expires_ms is not None and expires_ms <= now_ms:
        raise KhqrError(EXPIRED, "99", f"this dynamic KHQR expired at {expires_ms} ms (now {now_ms} ms)")
    return Khqr(
        kind=kind, account_id=account["00"], merchant_name=_required(fields, "59", "59"),
        merchant_city=_required(fields, "60", "60"), currency=currency, amount_minor=amount_minor,
        decimals=decimals, dynamic=dynamic, text=text,
        merchant_id=account.get("01") if kind == MERCHANT else None,
        account_information=account.get("01") if kind == INDIVIDUAL else None,
        acquiring_bank=account.get("02"),
        bill_number=additional.get("01"), mobile=additional.get("02"), store_label=additional.get("03"),
        terminal_label=additional.get("07"), purpose=additional.get("08"),
        created_ms=created_ms, expires_ms=expires_ms, mcc=mcc, country=country, upi_merchant=fields.get("15"),
        language=language.get("00"), alt_merchant_name=language.get("01"), alt_merchant_city=language.get("02"),
    )


def _check_frame(text: str, fields: Mapping[str, str]) -> None:
    """Tag 00 first and "01", tag 63 last with the CRC of everything before its digits."""
    if not text.startswith("00"):
        raise KhqrError(MISSING_TAG, "00", "the payload format indicator must come first")
    if fields["00"] != "01":
        raise KhqrError(BAD_VALUE, "00", f"payload format indicator {fields['00']!r}; expected '01'")
    crc = fields.get("63")
    if crc is None:
        raise KhqrError(MISSING_TAG, "63", "the CRC is missing")
    if not text.endswith("6304" + crc) or len(crc) != 4:
        raise KhqrError(BAD_CRC, "63", "the CRC must be the last field, four characters long")
    if not _CRC_HEX.match(crc):
        raise KhqrError(BAD_CRC, "63", "the CRC is four upper-case hex digits")
    expected = khqr_crc(text[:-4])
    if crc != expected:
        raise KhqrError(BAD_CRC, "63", f"CRC {crc} does not match the content ({expected})")


def _account(fields: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Tag 29 (an individual's account) or 30 (a merchant's), exactly one of them."""
    if "29" in fields and "30" in fields:
        raise KhqrError(DUPLICATE_TAG, "30", "a KHQR names one account: tag 29 (individual) or 30 (merchant)")
    tag = "29" if "29" in fields else "30"
    if tag not in fields:
        raise KhqrError(MISSING_TAG, "29", "no account: tag 29 (individual) or 30 (merchant)")
    account = _template(fields, tag, _ACCOUNT_LIMITS)
    account_id = _required(account, "00", f"{tag}.00")
    if not _ACCOUNT_ID.match(account_id):
        raise KhqrError(BAD_ACCOUNT_ID, f"{tag}.00", "the Bakong account id is name@bank")
    if tag == "30":
        _required(account, "01", "30.01")
        _required(account, "02", "30.02")
        return MERCHANT, account
    return INDIVIDUAL, account


def _timestamps(fields: Mapping[str, str], dynamic: bool) -> tuple[int | None, int | None]:
    stamps = _template(fields, "99", None)
    for sub, value in stamps.items():
        if sub in ("00", "01") and not _TIMESTAMP.match(value):
            raise KhqrError(BAD_VALUE, f"99.{sub}", "a timestamp is 13 digits of milliseconds")
    created = int(stamps["00"]) if "00" in stamps else None
    expires = int(stamps["01"]) if "01" in stamps else None
    if dynamic and expires is None:
        raise KhqrError(MISSING_TAG, "99.01", "a dynamic KHQR carries its expiration time")
    if created is not None and expires is not None and expires <= created:
        raise KhqrError(BAD_VALUE, "99.01", "the expiration time is not after the creation time")
    return created, expires


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise KhqrError(BAD_LENGTH, tag, f"is {len(value)} characters long; a TLV value has at most 99")
    return f"{tag}{len(value):02d}{value}"


def encode_khqr(
    *, account_id: str, merchant_name: str, merchant_city: str, currency: str,
    amount_minor: int | None = None, dynamic: bool | None = None, kind: str = INDIVIDUAL,
    merchant_id: str | None = None, acquiring_bank: str | None = None, account_information: str | None = None,
    bill_number: str | None = None, mobile: str | None = None, store_label: str | None = None,
    terminal_label: str | None = None, purpose: str | None = None,
    created_ms: int | None = None, expires_ms: int | None = None, mcc: str = "5999", country: str = "KH",
    upi_merchant: str | None = None, language: str | None = None,
    alt_merchant_name: str | None = None, alt_merchant_city: str | None = None,
) -> str:
    """Build a KHQR string; dynamic (tag 01 = 12) by default when it carries an amount. The result is
    decoded before it is returned, so what this builds, ``decode_khqr`` accepts (or KhqrError)."""
    if currency not in CURRENCY_CODES:
        raise KhqrError(UNKNOWN_CURRENCY, "53", f"currency {currency!r}: KHR or USD")
    if amount_minor is not None and (type(amount_minor) is not int or amount_minor <= 0):
        raise KhqrError(BAD_AMOUNT, "54", "the amount is a positive integer of minor units")
    if kind not in (INDIVIDUAL, MERCHANT):
        raise KhqrError(BAD_VALUE, "29", f"kind {kind!r}: individual or merchant")
    is_dynamic = amount_minor is not None if dynamic is None else dynamic
    account = _tlv("00", account_id)
    second = merchant_id if kind == MERCHANT else account_information
    if second is not None:
        account += _tlv("01", second)
    if acquiring_bank is not None:
        account += _tlv("02", acquiring_bank)
    parts = [_tlv("00", "01"), _tlv("01", "12" if is_dynamic else "11")]
    if upi_merchant is not None:
        parts.append(_tlv("15", upi_merchant))
    parts += [_tlv("29" if kind == INDIVIDUAL else "30", account), _tlv("52", mcc),
              _tlv("53", CURRENCY_CODES[currency])]
    if amount_minor is not None:
        parts.append(_tlv("54", format_amount(amount_minor, DECIMALS[currency])))
    parts += [_tlv("58", country), _tlv("59", merchant_name), _tlv("60", merchant_city)]
    extra = {"01": bill_number, "02": mobile, "03": store_label, "07": terminal_label, "08": purpose}
    additional = "".join(_tlv(sub, value) for sub, value in extra.items() if value is not None)
    if additional:
        parts.append(_tlv("62", additional))
    alternate = {"00": language, "01": alt_merchant_name, "02": alt_merchant_city}
    template = "".join(_tlv(sub, value) for sub, value in alternate.items() if value is not None)
    if template:
        parts.append(_tlv("64", template))
    stamps = {"00": created_ms, "01": expires_ms}
    timestamps = "".join(_tlv(sub, str(value)) for sub, value in stamps.items() if value is not None)
    if timestamps:
        parts.append(_tlv("99", timestamps))
    body = "".join(parts) + "6304"
    text = body + khqr_crc(body)
    decode_khqr(text)
    return text
