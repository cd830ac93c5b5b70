"""Tests of identifier validation, normalization and masking."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from server.services.accounts.identity import (
    ID_TYPE_LABELS,
    IdType,
    ProfileMismatch,
    ResidentId,
    check_profile_consistency,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
    parse_resident_id,
    today_shanghai,
    validate_birth_date,
    validate_cn_mobile,
    validate_id_number,
    validate_uscc,
)

# --- resident ID --------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "birth", "sex"),
    [
        ("11010519491231002X", date(1949, 12, 31), "female"),
        ("440524188001010014", date(1880, 1, 1), "male"),
        ("110105199003071239", date(1990, 3, 7), "male"),
        ("440304200002294568", date(2000, 2, 29), "female"),  # leap day
    ],
)
def test_valid_resident_ids_decode(number: str, birth: date, sex: str) -> None:
    assert parse_resident_id(number) == ResidentId(number=number, birth_date=birth, sex=sex)


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        " 110105 19491231 002X ",
        "\u3000１１０１０５１９４９１２３１００２ｘ",  # full-width input from a Chinese IME
    ],
)
def test_resident_id_is_normalized(raw: str) -> None:
    assert validate_id_number(IdType.resident, raw) == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "校验位"),
        ("11010519491231002", "18位"),
        ("11010519491231002X1", "18位"),
        ("", "18位"),
        ("1101051949123100X2", "格式"),
        ("11010519491231002A", "格式"),
        ("11010519A912310021", "格式"),
        ("010105194912310026", "地区码"),  # correct check char, region starts with 0
        ("910105194912310029", "地区码"),
        ("110105194902310026", "出生日期无效"),  # 1949-02-31, correct check char
        ("110105179912310016", "出生日期无效"),  # 1799
        ("310115209912310010", "晚于今天"),  # 2099
    ],
)
def test_invalid_resident_ids(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_resident_id(number)


def test_future_birth_date_depends_on_today() -> None:
    number = "110105202401010014"
    with pytest.raises(ValueError, match="晚于今天"):
        parse_resident_id(number, today=date(2023, 12, 31))
    assert parse_resident_id(number, today=date(2024, 1, 1)).birth_date == date(2024, 1, 1)


def test_non_string_is_refused_with_message() -> None:
    with pytest.raises(ValueError, match="文本"):
        parse_resident_id(110105194912310021)  # type: ignore[arg-type]


# --- other documents ----------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "raw", "normalized"),
    [
        (IdType.hk_macao, "H12345678", "H12345678"),
        (IdType.hk_macao, "m1234567890", "M1234567890"),
        (IdType.hk_macao, " H 1234 5678 ", "H12345678"),
        (IdType.taiwan, "12345678", "12345678"),
        (IdType.taiwan, "1234567890", "1234567890"),
        (IdType.taiwan, "12345678b1", "12345678B1"),
        (IdType.passport, "e12345678", "E12345678"),
        (IdType.passport, "AB123", "AB123"),
        (IdType.passport, "X" * 17, "X" * 17),
        ("passport", "G1234567", "G1234567"),  # plain strings are accepted too
    ],
)
def test_valid_other_documents(id_type: IdType | str, raw: str, normalized: str) -> None:
    assert validate_id_number(id_type, raw) == normalized


@pytest.mark.parametrize(
    ("id_type", "raw"),
    [
        (IdType.hk_macao, "A12345678"),
        (IdType.hk_macao, "H1234567"),
        (IdType.hk_macao, "H123456789"),
        (IdType.hk_macao, "H12345678901"),
        (IdType.hk_macao, "HA2345678"),
        (IdType.taiwan, "1234567"),
        (IdType.taiwan, "123456789"),
        (IdType.taiwan, "A1234567"),
        (IdType.taiwan, "12345678901"),
        (IdType.passport, "AB12"),
        (IdType.passport, "X" * 18),
        (IdType.passport, "E1234-5678"),
        (IdType.passport, "护照12345"),
    ],
)
def test_invalid_other_documents(id_type: IdType, raw: str) -> None:
    with pytest.raises(ValueError, match=ID_TYPE_LABELS[id_type] + "号码格式不正确"):
        validate_id_number(id_type, raw)


def test_unknown_id_type() -> None:
    with pytest.raises(ValueError, match="不支持的证件类型"):
        validate_id_number("driver_license", "12345678")


def test_id_type_values_and_labels() -> None:
    assert [t.value for t in IdType] == ["resident_id", "hk_macao_permit", "taiwan_permit", "passport"]
    assert IdType.resident.label == "居民身份证"
    assert IdType.hk_macao.label == "港澳居民来往内地通行证"
    assert IdType.taiwan.label == "台湾居民来往大陆通行证"
    assert IdType.passport.label == "护照"


# --- USCC ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("91350100M000100Y43", "91350100M000100Y43"),
        ("91110000600037341L", "91110000600037341L"),
        ("91110000600037341l", "91110000600037341L"),
        (" 91350100m000100y43 ", "91350100M000100Y43"),
    ],
)
def test_valid_uscc(raw: str, normalized: str) -> None:
    assert validate_uscc(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("91350100M000100Y4Z", "无效字符：Z"),
        ("91350100M000100Y44", "校验位"),
        ("91350100M000100Y4", "18位"),
        ("91350100M000100Y431", "18位"),
        ("91350100I000100Y43", "无效字符：I"),
        ("91350100O000100Y43", "无效字符：O"),
        ("91350100S000100Y43", "无效字符：S"),
        ("91350100V000100Y43", "无效字符：V"),
        ("91350100-000100Y43", "无效字符：-"),
    ],
)
def test_invalid_uscc(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_uscc(raw)


# --- mobile phone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "86 138-1234-5678",
        "008613812345678",
        "138-1234-5678",
        "１３８１２３４５６７８",
    ],
)
def test_mobile_variants(raw: str) -> None:
    assert validate_cn_mobile(raw) == "13812345678"


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_mobile_prefixes(prefix: str) -> None:
    assert validate_cn_mobile(prefix + "012345678") == prefix + "012345678"


@pytest.mark.parametrize(
    "raw",
    ["12812345678", "10012345678", "1381234567", "138123456789", "1381234567a", "", "+85213812345678", "02112345678"],
)
def test_invalid_mobiles(raw: str) -> None:
    with pytest.raises(ValueError, match="手机号码格式不正确"):
        validate_cn_mobile(raw)


# --- masking --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("11010519491231002X", "1101**********002X"),
        ("H1234567890", "H1*******90"),
        ("E12345678", "E1*****78"),
        ("12345678", "12****78"),  # exactly half revealed
        ("1234567", "1*****7"),
        ("12345", "1***5"),
        ("1234", "1**4"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_id_number(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked
    revealed = sum(1 for c in masked if c != "*")
    assert revealed * 2 <= len(value)


def test_mask_email() -> None:
    assert mask_email("zhangsan@example.com") == "z***@example.com"
    assert mask_email("13912345678@139.com") == "1***@139.com"  # the phone is not narrowed
    assert mask_email("@example.com") == "***@example.com" and mask_email("noat") == "****"


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("12345678") == "12****78"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三丰", "张**"), ("张三", "张*"), ("欧阳娜娜", "欧***"), ("张", "*"), (" 李四 ", "李*"), ("", "")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# --- profile consistency ----------------------------------------------------------------


def test_consistent_profile_passes() -> None:
    check_profile_consistency(IdType.resident, "11010519491231002X", date(1949, 12, 31), "female")
    check_profile_consistency("resident_id", "11010519491231002x", None, None)


@pytest.mark.parametrize(
    ("birth", "sex", "field", "message"),
    [
        (date(1949, 12, 30), "female", "birth_date", "出生日期与居民身份证号码不一致"),
        (date(1949, 12, 31), "male", "sex", "性别与居民身份证号码不一致"),
        (None, "male", "sex", "性别"),
    ],
)
def test_inconsistent_profile_names_the_field(birth: date | None, sex: str | None, field: str, message: str) -> None:
    with pytest.raises(ProfileMismatch, match=message) as info:
        check_profile_consistency(IdType.resident, "11010519491231002X", birth, sex)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_invalid_number_in_consistency_check_names_id_number() -> None:
    with pytest.raises(ProfileMismatch, match="校验位") as info:
        check_profile_consistency(IdType.resident, "110105194912310021", None, None)
    assert info.value.field == "id_number"


def test_other_documents_skip_consistency() -> None:
    check_profile_consistency(IdType.passport, "E12345678", date(2000, 1, 1), "male")


# --- birth dates of every document type -------------------------------------------


def test_birth_date_bounds() -> None:
    today = date(2026, 3, 1)
    assert validate_birth_date(today, today) == today
    assert validate_birth_date(date(1900, 1, 1), today) == date(1900, 1, 1)
    with pytest.raises(ValueError, match="不能晚于今天"):
        validate_birth_date(date(2026, 3, 2), today)
    with pytest.raises(ValueError, match="不能早于1900年"):
        validate_birth_date(date(1899, 12, 31), today)


def test_today_is_the_beijing_calendar_day() -> None:
    assert today_shanghai() == datetime.now(ZoneInfo("Asia/Shanghai")).date()
