"""Validators, normalizers and maskers for personal and organisation identifiers.

Every validator returns the normalized value or raises ``ValueError`` with a
Chinese message, so a pydantic field validator can call it directly and the
message ends up in the 422 per-field details. Nothing here touches a database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

Sex = Literal["male", "female"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
# No living trainee was born before 1900; earlier dates are typos (1090 for 1990).
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def today_shanghai() -> date:
    """Today's date in Asia/Shanghai: the association's calendar day, whatever the server's zone."""
    return datetime.now(SHANGHAI).date()


class IdType(StrEnum):
    """Kinds of personal identity documents accepted for registration."""

    resident = "resident_id"
    hk_macao = "hk_macao_permit"
    taiwan = "taiwan_permit"
    passport = "passport"

    @property
    def label(self) -> str:
        """The Chinese name of the document type."""
        return ID_TYPE_LABELS[self]


ID_TYPE_LABELS: dict[IdType, str] = {
    IdType.resident: "居民身份证",
    IdType.hk_macao: "港澳居民来往内地通行证",
    IdType.taiwan: "台湾居民来往大陆通行证",
    IdType.passport: "护照",
}


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated resident ID number and what it encodes."""

    number: str
    birth_date: date
    sex: Sex


class ProfileMismatch(ValueError):
    """A profile field contradicts the ID number; ``field`` names that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- normalization ----------------------------------------------------------

# Chinese IMEs often produce full-width digits and letters (１２３Ｘ) and the
# ideographic space; NFKC folds them to ASCII before any pattern is applied.
_SEPARATORS = re.compile(r"[\s\-]+")


def _compact(value: object, what: str) -> str:
    """NFKC-fold, drop spaces, upper-case; refuse non-strings."""
    if not isinstance(value, str):
        raise ValueError(f"{what}必须是文本")
    folded = unicodedata.normalize("NFKC", value)
    return re.sub(r"\s+", "", folded).upper()


# --- resident ID (GB 11643-1999) ---------------------------------------------

_RESIDENT_PATTERN = re.compile(r"[0-9]{17}[0-9X]")
# ISO 7064 MOD 11-2: weight of position i (0-based) is 2^(17-i) mod 11.
_RESIDENT_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_RESIDENT_CHECK_CHARS = "10X98765432"
# Birth years before 1900 do occur in published sample numbers (e.g. 1880);
# 1800 only rules out obvious typos.
_EARLIEST_BIRTH_YEAR = 1800


def resident_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECK_CHARS[total % 11]


def parse_resident_id(value: str, today: date | None = None) -> ResidentId:
    """Validate an 18-character resident ID number and decode birth date and sex."""
    number = _compact(value, "居民身份证号码")
    if len(number) != 18:
        raise ValueError("居民身份证号码应为18位")
    if not _RESIDENT_PATTERN.fullmatch(number):
        raise ValueError("居民身份证号码格式不正确：前17位应为数字，末位应为数字或X")
    # Administrative division codes start with 1-8; 0 and 9 are unassigned.
    if number[0] in "09":
        raise ValueError("居民身份证号码的地区码无效")
    birth = _resident_birth_date(number[6:14], today or today_shanghai())
    if resident_check_char(number[:17]) != number[17]:
        raise ValueError("居民身份证号码校验位不正确，请核对")
    sex: Sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number=number, birth_date=birth, sex=sex)


def _resident_birth_date(digits: str, today: date) -> date:
    """Decode YYYYMMDD and check it is a plausible birth date."""
    try:
        birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ValueError("居民身份证号码中的出生日期无效") from None
    if birth > today:
        raise ValueError("居民身份证号码中的出生日期不能晚于今天")
    if birth.year < _EARLIEST_BIRTH_YEAR:
        raise ValueError("居民身份证号码中的出生日期无效")
    return birth


def validate_resident_id(value: str) -> str:
    """Validate a resident ID number and return it normalized."""
    return parse_resident_id(value).number


def validate_birth_date(value: date, today: date | None = None) -> date:
    """A plausible birth date for any document type: not after today (Beijing time), not before 1900."""
    if value > (today or today_shanghai()):
        raise ValueError("出生日期不能晚于今天")
    if value < EARLIEST_BIRTH_DATE:
        raise ValueError("出生日期不能早于1900年1月1日")
    return value


# --- other personal documents ------------------------------------------------

# 港澳居民来往内地通行证: H (Hong Kong) or M (Macao) + 8 digits (older
# permits) or + 10 digits (the card issued since 2013: 8 + 2 issue digits).
_HK_MACAO_PATTERN = re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})")
# 台湾居民来往大陆通行证: the card issued since 2015 carries 8 digits; the
# older booklet numbers had 10 characters (8 digits + 2 issue characters).
_TAIWAN_PATTERN = re.compile(r"[0-9]{8}|[0-9]{8}[0-9A-Z]{2}")
# Foreign passports vary too much for more than a generic shape.
_PASSPORT_PATTERN = re.compile(r"[A-Z0-9]{5,17}")


def validate_hk_macao_permit(value: str) -> str:
    """Validate a Mainland Travel Permit for Hong Kong and Macao Residents number."""
    number = _compact(value, "港澳居民来往内地通行证号码")
    if not _HK_MACAO_PATTERN.fullmatch(number):
        raise ValueError("港澳居民来往内地通行证号码格式不正确：应为H或M开头，后接8位或10位数字")
    return number


def validate_taiwan_permit(value: str) -> str:
    """Validate a Mainland Travel Permit for Taiwan Residents number."""
    number = _compact(value, "台湾居民来往大陆通行证号码")
    if not _TAIWAN_PATTERN.fullmatch(number):
        raise ValueError("台湾居民来往大陆通行证号码格式不正确：应为8位数字")
    return number


def validate_passport(value: str) -> str:
    """Validate a passport number generically (5-17 letters or digits)."""
    number = _compact(value, "护照号码")
    if not _PASSPORT_PATTERN.fullmatch(number):
        raise ValueError("护照号码格式不正确：应为5至17位字母或数字")
    return number


_ID_VALIDATORS = {
    IdType.resident: validate_resident_id,
    IdType.hk_macao: validate_hk_macao_permit,
    IdType.taiwan: validate_taiwan_permit,
    IdType.passport: validate_passport,
}


def coerce_id_type(id_type: IdType | str) -> IdType:
    """Turn a stored or submitted id type value into an ``IdType``."""
    try:
        return IdType(id_type)
    except ValueError:
        raise ValueError("不支持的证件类型") from None


def validate_id_number(id_type: IdType | str, value: str) -> str:
    """Validate an ID number for its document type and return it normalized."""
    return _ID_VALIDATORS[coerce_id_type(id_type)](value)


# --- unified social credit code (GB 32100-2015) -------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_VALUES = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    total = sum(_USCC_VALUES[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Validate a unified social credit code and return it upper-cased."""
    code = _compact(value, "统一社会信用代码")
    if len(code) != 18:
        raise ValueError("统一社会信用代码应为18位")
    bad = sorted({c for c in code if c not in _USCC_VALUES})
    if bad:
        raise ValueError(f"统一社会信用代码含有无效字符：{''.join(bad)}")
    if uscc_check_char(code[:17]) != code[17]:
        raise ValueError("统一社会信用代码校验位不正确，请核对")
    return code


# --- mobile phone ---------------------------------------------------------------

_MOBILE_PATTERN = re.compile(r"1[3-9][0-9]{9}")


def validate_cn_mobile(value: str) -> str:
    """Validate a mainland mobile number; return the bare 11 digits."""
    if not isinstance(value, str):
        raise ValueError("手机号码必须是文本")
    phone = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    phone = _strip_country_code(phone)
    if not _MOBILE_PATTERN.fullmatch(phone):
        raise ValueError("手机号码格式不正确：应为以13至19开头的11位数字")
    return phone


def _strip_country_code(phone: str) -> str:
    """Drop a leading +86, 0086 or 86 (the last only when 13 digits remain)."""
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            return phone[len(prefix) :]
    # A bare "86" prefix is ambiguous only for shorter numbers; 13 digits is unambiguous.
    if len(phone) == 13 and phone.startswith("86"):
        return phone[2:]
    return phone


# --- masking for lists -----------------------------------------------------------


def _mask_middle(value: str, keep: int) -> str:
    """Keep ``keep`` characters at each end and star the rest."""
    if keep <= 0:
        return "*" * len(value)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def mask_id_number(value: str) -> str:
    """Mask an ID number for display in lists: ``1101**********002X``."""
    if len(value) >= 18:
        return _mask_middle(value, 4)
    # Two at each end, but never reveal more than half of a short number.
    return _mask_middle(value, min(2, len(value) // 4))


def mask_phone(value: str) -> str:
    """Mask a mobile number for display in lists: ``138****5678``."""
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    return mask_id_number(value)


def mask_email(value: str) -> str:
    """Mask an e-mail address for lists: ``z***@example.com``.

    Only the first character of the mailbox stays: many Chinese mailboxes are the
    phone number (``139…@139.com``), so more would narrow the phone.
    """
    local, at, domain = value.partition("@")
    if not at:
        return "*" * len(value)
    return (local[:1] + "***" if local else "***") + "@" + domain


def mask_name(value: str) -> str:
    """Mask a personal name for display in lists: keep the first character."""
    name = value.strip()
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


# --- profile consistency ---------------------------------------------------------


def check_profile_consistency(
    id_type: IdType | str,
    id_number: str,
    birth_date: date | None,
    sex: str | None,
    *,
    today: date | None = None,
) -> None:
    """Refuse a birth date or sex that contradicts a resident ID number."""
    if coerce_id_type(id_type) is not IdType.resident:
        return  # other documents do not encode birth date or sex
    try:
        parsed = parse_resident_id(id_number, today)
    except ValueError as exc:
        raise ProfileMismatch("id_number", str(exc)) from None
    if birth_date is not None and birth_date != parsed.birth_date:
        raise ProfileMismatch("birth_date", "出生日期与居民身份证号码不一致")
    if sex is not None and sex != parsed.sex:
        raise ProfileMismatch("sex", "性别与居民身份证号码不一致")
