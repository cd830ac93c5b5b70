"""The trainee's profile and phone change over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.models.profile import EDUCATION_LEVELS, ETHNICITIES, HONORS, POLITICAL_STATUSES
from tests import factories
from tests.client import ApiClient
from tests.factories import register_trainee, register_unit, sms_code

pytestmark = pytest.mark.usefixtures("db")


def full_profile(**overrides: Any) -> dict[str, Any]:
    """A complete PUT body for the factory's default trainee (male, born 1990-03-07)."""
    body: dict[str, Any] = {
        "name": "张三",
        "sex": "male",
        "birth_date": "1990-03-07",
        "email": "zhangsan@example.com",
        "work_start": "2012-07",
        "specialty": "岩土工程",
        "address": "上海市黄浦区某某路 100 号",
        "education": "大学本科",
        "ethnicity": "汉族",
        "political_status": "群众",
        "title": "高级工程师",
        "position": "项目负责人",
        "honor": "无",
        "postcode": "200001",
        "employer": "上海某某勘察设计有限公司",
        "remarks": "无",
    }
    body.update(overrides)
    return body


async def test_enumerations_are_the_standard_lists() -> None:
    assert len(ETHNICITIES) == len(set(ETHNICITIES)) == 56
    assert len(POLITICAL_STATUSES) == 13 and "群众" in POLITICAL_STATUSES
    assert EDUCATION_LEVELS[0] == "博士研究生" and HONORS[0] == "无"


async def test_new_trainee_profile_lists_what_is_missing(api: ApiClient, settings: Settings) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    r = await api.get("/api/v1/me/profile", token=token)
    assert r.status == 200, r.body
    profile = r.json
    assert profile["id_number"] == body["id_number"] and profile["phone"] == body["phone"]
    assert profile["sex"] == "male" and profile["birth_date"] == "1990-03-07"
    assert profile["profile_complete"] is False
    assert set(profile["missing_fields"]) == {"work_start", "specialty", "address"}
    assert profile["has_photo"] is False


async def test_put_profile_completes_it_and_is_audited(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    r = await api.put("/api/v1/me/profile", full_profile(name="张三丰", ethnicity="  回族 "), token=token)
    assert r.status == 200, r.body
    assert r.json["profile_complete"] is True and r.json["missing_fields"] == []
    assert r.json["name"] == "张三丰" and r.json["ethnicity"] == "回族"
    again = (await api.get("/api/v1/me/profile", token=token)).json
    assert again == r.json
    stored = await db["accounts"].find_one({"role": "trainee"})
    assert stored is not None and stored["name"] == "张三丰"
    assert stored["trainee"]["specialty"] == "岩土工程" and stored["trainee"]["postcode"] == "200001"
    assert body["id_number"] not in str(stored)  # still encrypted
    entry = await db["audit_log"].find_one({"action": "profile.update"})
    assert entry is not None and "specialty" in entry["details"]["fields"]
    assert body["id_number"] not in str(entry)
    # Birth date and e-mail are sealed (a fresh ciphertext at every write) and compared in clear:
    # the same form again changes nothing, and the audit says so.
    assert stored["trainee"]["email"].startswith("v1.") and stored["trainee"]["birth_date"].startswith("v1.")
    r = await api.put("/api/v1/me/profile", full_profile(name="张三丰", ethnicity="回族"), token=token)
    assert r.status == 200 and r.json["birth_date"] == again["birth_date"] and r.json["email"] == again["email"]
    last = await db["audit_log"].find_one({"action": "profile.update"}, sort=[("_id", -1)])
    assert last is not None and last["details"]["fields"] == []


async def test_optional_fields_are_cleared_by_put(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    await api.put("/api/v1/me/profile", full_profile(), token=token)
    minimal = {k: v for k, v in full_profile().items() if k in ("name", "email", "work_start", "specialty", "address")}
    r = await api.put("/api/v1/me/profile", minimal, token=token)
    assert r.status == 200, r.body
    assert r.json["ethnicity"] is None and r.json["postcode"] is None
    assert r.json["sex"] == "male" and r.json["birth_date"] == "1990-03-07"  # kept
    assert r.json["profile_complete"] is True


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"postcode": "20001"}, "postcode"),
        ({"postcode": "2000011"}, "postcode"),
        ({"postcode": "20000a"}, "postcode"),
        ({"ethnicity": "火星族"}, "ethnicity"),
        ({"education": "幼儿园"}, "education"),
        ({"political_status": "党员"}, "political_status"),
        ({"honor": "诺贝尔奖得主"}, "honor"),
        ({"birth_date": "1990-03-08"}, "birth_date"),  # contradicts the ID number
        ({"sex": "female"}, "sex"),  # the factory's ID number is a man's
        ({"name": "张\u0000三"}, "name"),
        ({"address": "上海\u202e市"}, "address"),
        ({"specialty": "岩土\x07"}, "specialty"),
        ({"remarks": "备注\u200b"}, "remarks"),
        ({"specialty": "   "}, "specialty"),
        ({"work_start": "2012-13"}, "work_start"),
        ({"work_start": "2999-01"}, "work_start"),
        ({"work_start": "1985-01"}, "work_start"),  # before the birth date
        ({"id_number": "11010519491231002X"}, "id_number"),
        ({"id_type": "passport"}, "id_type"),
        ({"phone": "13900001111"}, "phone"),
        ({"unknown": 1}, "unknown"),
        ({"address": 5}, "address"),
    ],
)
async def test_bad_profile_is_422_and_changes_nothing(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]], override: dict[str, Any], field: str
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    before = await db["accounts"].find_one({"role": "trainee"})
    r = await api.put("/api/v1/me/profile", full_profile(**override), token=token)
    assert r.status == 422, r.body
    assert field in r.json["error"]["details"]["fields"], r.json
    assert await db["accounts"].find_one({"role": "trainee"}) == before
    assert await db["audit_log"].count_documents({"action": "profile.update"}) == 0


async def test_work_start_before_stored_birth_date_is_refused(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    body = full_profile(work_start="1989-12")
    del body["birth_date"], body["sex"]
    r = await api.put("/api/v1/me/profile", body, token=token)
    assert r.status == 422 and "work_start" in r.json["error"]["details"]["fields"]


async def test_id_number_change_says_why(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await api.put("/api/v1/me/profile", full_profile(id_number="11010519491231002X"), token=token)
    assert "联系协会" in r.json["error"]["details"]["fields"]["id_number"]


async def test_profile_is_for_trainees_only(api: ApiClient, settings: Settings) -> None:
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    assert (await api.get("/api/v1/me/profile", token=unit_token)).status == 403
    assert (await api.get("/api/v1/me/profile")).status == 401


async def test_options_list_the_enumerations(api: ApiClient) -> None:
    r = await api.get("/api/v1/profile/options")
    assert r.status == 200
    assert r.json["ethnicity"] == list(ETHNICITIES)
    assert r.json["id_type"]["resident_id"] == "居民身份证"


# ---- phone change ------------------------------------------------------------------


async def test_phone_change_with_a_code_to_the_new_phone(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    new_phone = factories.phone()
    code = await sms_code(api, settings.sms_outbox, new_phone, purpose="change_phone")
    r = await api.put("/api/v1/me/phone", {"phone": new_phone, "sms_code": code}, token=token)
    assert r.status == 200, r.body
    assert r.json["phone"] == new_phone
    stored = await db["accounts"].find_one({"role": "trainee"})
    assert stored is not None and new_phone not in str(stored)
    entry = await db["audit_log"].find_one({"action": "profile.phone_change"})
    assert entry is not None and new_phone not in str(entry) and body["phone"] not in str(entry)
    # The code is single use.
    r = await api.put("/api/v1/me/phone", {"phone": new_phone, "sms_code": code}, token=token)
    assert r.status == 422


@pytest.mark.parametrize("how", ["wrong_code", "other_purpose", "code_of_other_phone"])
async def test_phone_change_without_a_valid_code_is_refused(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]], how: str
) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    new_phone = factories.phone()
    if how == "wrong_code":
        code = await sms_code(api, settings.sms_outbox, new_phone, purpose="change_phone")
        code = f"{(int(code) + 1) % 1000000:06d}"
    elif how == "other_purpose":
        code = await sms_code(api, settings.sms_outbox, new_phone, purpose="login")
    else:  # a code sent to the current phone does not prove the new one
        code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="change_phone")
    r = await api.put("/api/v1/me/phone", {"phone": new_phone, "sms_code": code}, token=token)
    assert r.status == 422 and r.error_code in ("sms_code_invalid", "sms_code_expired"), r.body
    profile = (await api.get("/api/v1/me/profile", token=token)).json
    assert profile["phone"] == body["phone"]
    assert await db["audit_log"].count_documents({"action": "profile.phone_change"}) == 0


async def test_phone_change_to_the_same_phone_is_422(api: ApiClient, settings: Settings) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="change_phone")
    r = await api.put("/api/v1/me/phone", {"phone": body["phone"], "sms_code": code}, token=token)
    assert r.status == 422 and "phone" in r.json["error"]["details"]["fields"]
