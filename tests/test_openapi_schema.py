"""The JSON Schema of the request bodies says what the validators check.

A generated client validates with the schema; the server with pydantic and its own
validators. For sampled values around every rule that can be said in a schema (blank
and control characters, lengths, phone, USCC and ID number shapes, "password or SMS
code", the invoice rules), both must give the same verdict. A few rules cannot be said
in JSON Schema (check digits, dates in the future): those samples are marked and must
be refused by the server while the schema lets them through — never the other way.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from server.models.accounts import ActivateIn, TraineeRegister, WeChatBindIn
from server.models.catalog import CourseCreate
from server.models.profile import ProfileUpdate
from server.models.templates import AddressIn, InvoiceTemplateIn
from server.services.accounts.passwords import check_password_policy
from tests import factories

EXACT, BEYOND_SCHEMA = "exact", "beyond"  # BEYOND_SCHEMA: the schema accepts, the validator refuses


def schema_ok(model: type[BaseModel], data: dict[str, Any]) -> bool:
    validator = jsonschema.Draft202012Validator(model.model_json_schema(), format_checker=None)
    return validator.is_valid(data)


def model_ok(model: type[BaseModel], data: dict[str, Any]) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def trainee(**changes: Any) -> dict[str, Any]:
    body = factories.trainee_body(sms_code="123456")
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def invoice(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "normal", "medium": "paper", "title_type": "personal", "title": "张三"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def company(**changes: Any) -> dict[str, Any]:
    return invoice(**{"title_type": "company", "title": "上海某某公司", "tax_id": factories.uscc(), **changes})


def profile(**changes: Any) -> dict[str, Any]:
    body = {"name": "张三", "email": "a@example.com", "work_start": "2010-07", "specialty": "岩土", "address": "上海"}
    body.update(changes)
    return body


CASES: list[tuple[str, type[BaseModel], dict[str, Any], bool, str]] = [
    # (label, model, body, valid, kind)
    ("name ok", TraineeRegister, trainee(name="张三"), True, EXACT),
    ("name padded", TraineeRegister, trainee(name="  张三 "), True, EXACT),
    ("name empty", TraineeRegister, trainee(name=""), False, EXACT),
    ("name blank", TraineeRegister, trainee(name="   "), False, EXACT),
    ("name NUL", TraineeRegister, trainee(name="张\x00三"), False, EXACT),
    ("name tab inside", TraineeRegister, trainee(name="张\t三"), False, EXACT),
    ("name zero-width", TraineeRegister, trainee(name="张\u200b三"), False, EXACT),
    ("name RTL override", TraineeRegister, trainee(name="\u202e张三"), False, EXACT),
    ("name 50", TraineeRegister, trainee(name="张" * 50), True, EXACT),
    ("name 51", TraineeRegister, trainee(name="张" * 51), False, EXACT),
    ("phone ok", TraineeRegister, trainee(phone="13912345678"), True, EXACT),
    ("phone +86", TraineeRegister, trainee(phone="+8613912345678"), True, EXACT),
    ("phone 0086", TraineeRegister, trainee(phone="008613912345678"), True, EXACT),
    ("phone spaced", TraineeRegister, trainee(phone="139 1234-5678"), True, EXACT),
    ("phone 12x", TraineeRegister, trainee(phone="12912345678"), False, EXACT),
    ("phone short", TraineeRegister, trainee(phone="1391234567"), False, EXACT),
    ("phone long", TraineeRegister, trainee(phone="139123456789"), False, EXACT),
    ("phone letters", TraineeRegister, trainee(phone="139abcd5678"), False, EXACT),
    ("phone empty", TraineeRegister, trainee(phone=""), False, EXACT),
    ("phone padded past 20 as sent", TraineeRegister, trainee(phone="13912345678" + "\x85" * 10), False, EXACT),
    ("name padded past 50 as sent", TraineeRegister, trainee(name=" " + "张" * 50), False, EXACT),
    ("sms code 5", TraineeRegister, trainee(sms_code="12345"), False, EXACT),
    ("id shape", TraineeRegister, trainee(id_number="11010519491231002x"), True, EXACT),
    ("id punctuation", TraineeRegister, trainee(id_number="110105-1949-1231-002X"), False, EXACT),
    ("id check digit", TraineeRegister, trainee(id_number="110105194912310021"), False, BEYOND_SCHEMA),
    ("bind password", WeChatBindIn, {"bind_ticket": "t" * 20, "account": "a", "password": "x"}, True, EXACT),
    ("bind sms", WeChatBindIn, {"bind_ticket": "t" * 20, "account": "a", "sms_code": "123456"}, True, EXACT),
    ("bind sms, null password", WeChatBindIn,
     {"bind_ticket": "t" * 20, "account": "a", "password": None, "sms_code": "123456"}, True, EXACT),
    ("bind both", WeChatBindIn,
     {"bind_ticket": "t" * 20, "account": "a", "password": "x", "sms_code": "123456"}, False, EXACT),
    ("bind neither", WeChatBindIn, {"bind_ticket": "t" * 20, "account": "a"}, False, EXACT),
    ("bind nulls", WeChatBindIn,
     {"bind_ticket": "t" * 20, "account": "a", "password": None, "sms_code": None}, False, EXACT),
    ("activate secret", ActivateIn, {"account": "a", "secret": "s", "new_password": "Kx9#travel-Lamp"}, True, EXACT),
    ("activate both", ActivateIn,
     {"account": "a", "secret": "s", "sms_code": "123456", "new_password": "Kx9#travel-Lamp"}, False, EXACT),
    ("activate neither", ActivateIn, {"account": "a", "new_password": "Kx9#travel-Lamp"}, False, EXACT),
    ("electronic + email", InvoiceTemplateIn, invoice(medium="electronic", email="a@example.com"), True, EXACT),
    ("electronic, no email", InvoiceTemplateIn, invoice(medium="electronic"), False, EXACT),
    ("electronic, null email", InvoiceTemplateIn, invoice(medium="electronic", email=None), False, EXACT),
    ("paper, no email", InvoiceTemplateIn, invoice(), True, EXACT),
    ("personal with tax id", InvoiceTemplateIn, invoice(tax_id=factories.uscc()), False, EXACT),
    ("company", InvoiceTemplateIn, company(), True, EXACT),
    ("company, no tax id", InvoiceTemplateIn, invoice(title_type="company", title="某公司"), False, EXACT),
    ("company, tax id shape", InvoiceTemplateIn, company(tax_id="91110000MA01ABCDI0"), False, EXACT),
    ("company, tax id check", InvoiceTemplateIn, company(tax_id="911100000000000000"), False, BEYOND_SCHEMA),
    ("special personal", InvoiceTemplateIn, invoice(kind="special", address_phone="x", bank_account="y"), False,
     EXACT),
    ("special, no bank", InvoiceTemplateIn, company(kind="special", address_phone="上海 021-1234"), False, EXACT),
    ("special, blank bank", InvoiceTemplateIn, company(kind="special", address_phone="上海", bank_account=" "), False,
     EXACT),
    ("special", InvoiceTemplateIn, company(kind="special", address_phone="上海", bank_account="工行 1234"), True, EXACT),
    ("address blank region", AddressIn,
     {"recipient": "张三", "phone": "13912345678", "region": " ", "address": "宜山路"}, False, EXACT),
    ("course label control", CourseCreate,
     {"name": "课", "course_type": "继续\x1b教育", "activity_type": "培训", "specialty": "岩土", "hours": 1}, False, EXACT),
    ("course ok", CourseCreate,
     {"name": "课", "course_type": "继续教育", "activity_type": "培训", "specialty": "岩土", "hours": 1}, True, EXACT),
    ("work start month 13", ProfileUpdate, profile(work_start="2010-13"), False, EXACT),
    ("work start text", ProfileUpdate, profile(work_start="2010/07"), False, EXACT),
    ("work start future", ProfileUpdate, profile(work_start="2099-01"), False, BEYOND_SCHEMA),
    ("postcode blank", ProfileUpdate, profile(postcode=""), True, EXACT),
    ("postcode 5", ProfileUpdate, profile(postcode="20000"), False, EXACT),
    ("specialty blank", ProfileUpdate, profile(specialty="  "), False, EXACT),
    ("remarks control", ProfileUpdate, profile(remarks="a\x07b"), False, EXACT),
]


@pytest.mark.parametrize(("label", "model", "body", "valid", "kind"), CASES, ids=[c[0] for c in CASES])
def test_schema_and_validators_agree(label: str, model: type[BaseModel], body: dict[str, Any], valid: bool,
                                     kind: str) -> None:
    assert model_ok(model, body) is valid, label
    assert schema_ok(model, body) is (valid if kind == EXACT else True), label


@pytest.mark.parametrize(("password", "ok"), [
    ("Kx9#tra", False), ("Kx9#trav", True), ("Kx9#" + "travel-" * 17 + "La", True), ("Kx9#" + "travel-" * 18, False),
])
def test_new_password_length_in_the_schema_is_the_policy(password: str, ok: bool) -> None:
    try:
        check_password_policy(password)
        policy_ok = True
    except ValueError:
        policy_ok = False
    assert policy_ok is ok
    assert schema_ok(TraineeRegister, trainee(password=password)) is ok
