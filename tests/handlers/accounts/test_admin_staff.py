"""Administrators create staff accounts (activated by the member with an SMS code) and send SMS password resets."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD, register_trainee, sms_code, staff_token
from tests.outbox import read_outbox

pytestmark = pytest.mark.usefixtures("db")

STAFF = "/api/v1/admin/staff"


def _reset(account_id: str) -> str:
    return f"/api/v1/admin/accounts/{account_id}/password-reset"


def _staff_body(**overrides: Any) -> dict[str, Any]:
    return {"username": f"rev{ObjectId()}"[:20], "role": "reviewer", "name": "赵审核", "phone": factories.phone(),
            **overrides}


async def _me(api: ApiClient, token: str) -> dict[str, Any]:
    return (await api.get("/api/v1/me", token=token)).json  # type: ignore[no-any-return]


# ---- staff accounts ---------------------------------------------------------------------------------


async def test_created_staff_is_pending_without_a_password_and_activates_with_an_sms_code(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    body = _staff_body()
    r = await api.post(STAFF, body, token=admin)
    assert r.status == 201, r.body
    item = r.json
    assert (item["username"], item["role"], item["status"], item["status_label"]) == (
        body["username"], "reviewer", "pending", "未激活")
    assert item["phone_masked"] == body["phone"][:3] + "****" + body["phone"][-4:]
    assert body["phone"] not in r.body.decode() and "password" not in r.body.decode()
    stored = await db["accounts"].find_one({"_id": ObjectId(item["id"])})
    assert stored is not None and stored["password_hash"] is None and "activation" not in stored
    [entry] = await db["audit_log"].find({"action": "account.create_staff", "actor_id": {"$ne": None}}).to_list()
    assert entry["subject"] == body["username"] and entry["actor_role"] == "admin"
    # No password works before activation; the member activates with a code to their own phone.
    r = await api.post("/api/v1/auth/login", {"account": body["username"], "password": STRONG_PASSWORD})
    assert r.status in (401, 403), r.body
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="activate")
    r = await api.post("/api/v1/auth/activate", {"account": body["username"], "sms_code": code,
                                                  "new_password": STRONG_PASSWORD})
    assert r.status == 200, r.body
    assert r.json["role"] == "reviewer"
    listed = (await api.get(STAFF + "?role=reviewer", token=admin)).json
    assert [i["status"] for i in listed["items"] if i["id"] == item["id"]] == ["active"]


async def test_staff_list_filters_by_role_and_never_shows_trainees(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    admin = await staff_token(services, "admin")
    await register_trainee(api, settings.sms_outbox)
    await api.post(STAFF, _staff_body(role="scanner"), token=admin)
    everyone = (await api.get(STAFF, token=admin)).json
    assert everyone["total"] == 2 and {i["role"] for i in everyone["items"]} == {"admin", "scanner"}
    scanners = (await api.get(STAFF + "?role=scanner", token=admin)).json
    assert [i["role"] for i in scanners["items"]] == ["scanner"]
    assert (await api.get(STAFF + "?status=pending&role=admin", token=admin)).json["total"] == 0


async def test_a_taken_username_is_409_and_nothing_is_written(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    body = _staff_body()
    assert (await api.post(STAFF, body, token=admin)).status == 201
    before = await db["accounts"].count_documents({})
    r = await api.post(STAFF, _staff_body(username=body["username"]), token=admin)
    assert (r.status, r.json["error"]["code"]) == (409, "account_exists")
    assert await db["accounts"].count_documents({}) == before
    assert await db["audit_log"].count_documents({"action": "account.create_staff", "actor_id": {"$ne": None}}) == 1


@pytest.mark.parametrize("change", [
    {"role": "trainee"}, {"role": "unit"}, {"phone": "12345"}, {"username": "Bad Name"}, {"password": "x" * 12},
    {"name": ""},
])
async def test_bad_staff_bodies_are_422_in_chinese(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], change: dict[str, Any]
) -> None:
    admin = await staff_token(services, "admin")
    before = await db["accounts"].count_documents({})
    r = await api.post(STAFF, _staff_body(**change), token=admin)
    assert r.status == 422, r.body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json["error"]["message"])
    assert await db["accounts"].count_documents({}) == before


@pytest.mark.parametrize("role", ["reviewer", "scanner", "unit", "trainee"])
async def test_only_admins_create_or_list_staff_or_send_resets(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]], role: str
) -> None:
    if role in ("unit", "trainee"):
        register = factories.register_unit if role == "unit" else register_trainee
        token, _ = await register(api, settings.sms_outbox)
    else:
        token = await staff_token(services, role)
    victim, _ = await register_trainee(api, settings.sms_outbox)
    victim_id = (await _me(api, victim))["id"]
    before = await db["accounts"].count_documents({})
    assert (await api.post(STAFF, _staff_body(), token=token)).status == 403
    assert (await api.get(STAFF, token=token)).status == 403
    sent = len(read_outbox(settings.sms_outbox))
    assert (await api.post(_reset(victim_id), token=token)).status == 403
    assert len(read_outbox(settings.sms_outbox)) == sent
    assert await db["accounts"].count_documents({}) == before
    assert (await api.get(STAFF)).status == 401


# ---- password reset by SMS -----------------------------------------------------------------------


async def test_reset_sends_a_reset_code_the_person_uses_in_forgot_password(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    token, body = await register_trainee(api, settings.sms_outbox)
    trainee_id = (await _me(api, token))["id"]
    r = await api.post(_reset(trainee_id), token=admin)
    assert r.status == 200, r.body
    phone = body["phone"]
    assert r.json["phone_masked"] == phone[:3] + "****" + phone[-4:] and phone not in r.body.decode()
    message = read_outbox(settings.sms_outbox)[-1]
    assert message["phone"] == phone and message["purpose"] == "reset"
    new_password = "Fresh#Start-2027"
    r = await api.post("/api/v1/auth/password/reset", {"account": body["id_number"], "sms_code": message["code"],
                                                        "new_password": new_password})
    assert r.status in (200, 204), r.body
    assert (await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": new_password})).status == 200
    [entry] = await db["audit_log"].find({"action": "account.password_reset_sent"}).to_list()
    assert str(entry["subject_id"]) == trainee_id and entry["actor_role"] == "admin"


async def test_reset_refusals_send_nothing(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    admin_id = (await _me(api, admin))["id"]
    token, _ = await register_trainee(api, settings.sms_outbox)
    trainee_id = (await _me(api, token))["id"]
    pending = (await api.post(STAFF, _staff_body(), token=admin)).json["id"]
    no_phone = (await _me(api, await staff_token(services, "scanner")))["id"]
    assert (await api.post(f"/api/v1/admin/accounts/{trainee_id}/disable", token=admin)).status == 200
    sent = len(read_outbox(settings.sms_outbox))
    for target, status, code in [
        (trainee_id, 409, "account_disabled"), (pending, 409, "account_pending"), (no_phone, 409, "no_phone"),
        (admin_id, 409, "cannot_reset_self"), (str(ObjectId()), 404, "not_found"), ("not-an-id", 404, "not_found"),
    ]:
        r = await api.post(_reset(target), token=admin)
        assert (r.status, r.json["error"]["code"]) == (status, code), (target, r.body)
    assert len(read_outbox(settings.sms_outbox)) == sent
    assert await db["audit_log"].count_documents({"action": "account.password_reset_sent"}) == 0


async def test_reset_is_throttled_by_the_sms_cooldown(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    admin = await staff_token(services, "admin")
    token, _ = await register_unit_or_trainee(api, settings)
    account_id = (await _me(api, token))["id"]
    assert (await api.post(_reset(account_id), token=admin)).status == 200
    r = await api.post(_reset(account_id), token=admin)
    assert r.status == 429 and "秒" in r.json["error"]["message"]


async def register_unit_or_trainee(api: ApiClient, settings: Settings) -> tuple[str, dict[str, Any]]:
    """A unit account (resets work for units too: the contact phone)."""
    return await factories.register_unit(api, settings.sms_outbox)
