"""Association administrators find an account as its owner logs in, disable it and re-enable it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.models.accounts import StaffCreate
from server.services import Principal
from server.services.accounts.accounts import NewPerson
from server.services.accounts.identity import IdType
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD, register_trainee, register_unit, staff_token

pytestmark = pytest.mark.usefixtures("db")

LOOKUP = "/api/v1/admin/accounts?account="


def _as_typed(number: str) -> str:
    """An ID number as a Chinese IME may type it: full-width characters, spaces between the groups."""
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    return f" {full_width[:6]} {full_width[6:14]}\u3000{full_width[14:]} "


async def _account_id(api: ApiClient, token: str) -> str:
    return str((await api.get("/api/v1/me", token=token)).json["id"])


async def _audit(db: AsyncDatabase[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return await db["audit_log"].find({"action": action}).to_list()


async def _login(api: ApiClient, account: str, password: str = STRONG_PASSWORD) -> Any:
    return await api.post("/api/v1/auth/login", {"account": account, "password": password})


# ---- lookup -------------------------------------------------------------------------------


async def test_lookup_by_id_number_as_typed_finds_the_account_masked(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    admin = await staff_token(services, "admin")
    number, phone = body["id_number"], body["phone"]
    r = await api.get(LOOKUP + quote(_as_typed(number)), token=admin)
    assert r.status == 200, r.body
    assert r.json["total"] == 1 and len(r.json["items"]) == 1
    item = r.json["items"][0]
    assert item["id"] == await _account_id(api, token)
    assert (item["role"], item["role_label"], item["status"], item["status_label"]) == ("trainee", "学员", "active", "正常")
    assert item["name"] == body["name"] and item["created_at"]
    assert item["account_masked"] == number[:4] + "*" * 10 + number[-4:]
    assert item["phone_masked"] == phone[:3] + "****" + phone[-4:]
    assert number not in r.body.decode() and phone not in r.body.decode()
    [entry] = await _audit(db, "account.lookup")
    # The trail names the account by reference; the mask is computed for display only, never stored.
    assert entry["subject"] == f"trainee:{item['id']}" and str(entry["subject_id"]) == item["id"]
    assert entry["actor_role"] == "admin" and entry["actor_id"] == ObjectId(await _account_id(api, admin))


async def test_lookup_finds_units_staff_and_pending_accounts(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    admin = await staff_token(services, "admin")
    _, unit = await register_unit(api, settings.sms_outbox)
    await services.accounts.create_staff(StaffCreate(username="li.si", role="reviewer", name="李四", password="Chief#Desk-2026"))
    person = NewPerson("王五", "male", IdType.resident, factories.resident_id(), factories.resident_id_birth(),
                       factories.phone())
    await services.accounts.create_pending_trainee(person, created_by=Principal(ObjectId(), "unit"))

    [item] = (await api.get(LOOKUP + unit["uscc"].lower(), token=admin)).json["items"]
    assert (item["role"], item["account_masked"], item["name"]) == ("unit", unit["uscc"], unit["name"])
    [item] = (await api.get(LOOKUP + "Li.Si", token=admin)).json["items"]
    assert (item["role"], item["account_masked"], item["phone_masked"]) == ("reviewer", "li.si", None)
    [item] = (await api.get(LOOKUP + person.id_number.lower(), token=admin)).json["items"]
    assert (item["status"], item["status_label"]) == ("pending", "未激活")


async def test_unknown_account_is_an_empty_page_and_audited_without_a_subject(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    number = factories.resident_id()
    r = await api.get(LOOKUP + number, token=admin)
    assert r.status == 200 and r.json == {"items": [], "total": 0}
    [entry] = await _audit(db, "account.lookup")
    assert entry["subject"] is None and entry["details"] == {"found": False}
    assert number not in repr(entry)


async def test_lookup_without_an_account_is_422(api: ApiClient, services: Services) -> None:
    admin = await staff_token(services, "admin")
    for path in ("/api/v1/admin/accounts", LOOKUP, LOOKUP + "x" * 65):
        assert (await api.get(path, token=admin)).status == 422


async def test_only_admins_may_look_up_disable_or_enable(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    trainee, body = await register_trainee(api, settings.sms_outbox)
    unit, _ = await register_unit(api, settings.sms_outbox)
    target = await _account_id(api, trainee)
    callers = {"trainee": trainee, "unit": unit, "reviewer": await staff_token(services, "reviewer"),
               "scanner": await staff_token(services, "scanner")}
    for who, token in callers.items():
        for method, path in (("GET", LOOKUP + body["id_number"]),
                             ("POST", f"/api/v1/admin/accounts/{target}/disable"),
                             ("POST", f"/api/v1/admin/accounts/{target}/enable")):
            r = await api.request(method, path, token=token)
            assert r.status == 403 and r.error_code == "forbidden", (who, method, path)
    assert (await api.get(LOOKUP + body["id_number"])).status == 401
    assert (await api.get("/api/v1/me", token=trainee)).status == 200  # nothing was disabled


# ---- disable and enable -----------------------------------------------------------------------


async def test_disable_revokes_logins_at_once_and_enable_restores_login(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    admin = await staff_token(services, "admin")
    target = await _account_id(api, token)

    r = await api.post(f"/api/v1/admin/accounts/{target}/disable", token=admin)
    assert r.status == 200, r.body
    assert (r.json["id"], r.json["status"], r.json["status_label"]) == (target, "disabled", "已停用")
    assert (await api.get("/api/v1/me", token=token)).status == 401
    login = await _login(api, body["id_number"])
    assert login.status == 403 and login.error_code == "account_disabled"
    [item] = (await api.get(LOOKUP + body["id_number"], token=admin)).json["items"]
    assert item["status"] == "disabled"

    r = await api.post(f"/api/v1/admin/accounts/{target}/enable", token=admin)
    assert r.status == 200 and r.json["status"] == "active" and r.json["status_label"] == "正常"
    login = await _login(api, body["id_number"])
    assert login.status == 200, login.body
    assert (await api.get("/api/v1/me", token=login.json["token"])).status == 200

    admin_id = ObjectId(await _account_id(api, admin))
    for action in ("account.disable", "account.enable"):
        [entry] = await _audit(db, action)
        assert (entry["actor_id"], entry["actor_role"], str(entry["subject_id"])) == (admin_id, "admin", target)
        assert entry["subject"] == f"trainee:{target}"


async def test_an_admin_cannot_disable_their_own_account(api: ApiClient, services: Services) -> None:
    admin = await staff_token(services, "admin")
    r = await api.post(f"/api/v1/admin/accounts/{await _account_id(api, admin)}/disable", token=admin)
    assert r.status == 409 and r.error_code == "cannot_disable_self"
    assert (await api.get("/api/v1/me", token=admin)).json["status"] == "active"


async def test_an_admin_may_disable_another_admin(api: ApiClient, services: Services) -> None:
    admin, other = await staff_token(services, "admin"), await staff_token(services, "admin")
    r = await api.post(f"/api/v1/admin/accounts/{await _account_id(api, other)}/disable", token=admin)
    assert r.status == 200 and r.json["role"] == "admin"
    assert (await api.get("/api/v1/me", token=other)).status == 401


async def test_unchanged_status_is_409_and_writes_nothing(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    admin = await staff_token(services, "admin")
    target = await _account_id(api, token)
    r = await api.post(f"/api/v1/admin/accounts/{target}/enable", token=admin)
    assert r.status == 409 and r.error_code == "account_status_unchanged"
    assert await _audit(db, "account.enable") == []
    assert (await api.post(f"/api/v1/admin/accounts/{target}/disable", token=admin)).status == 200
    r = await api.post(f"/api/v1/admin/accounts/{target}/disable", token=admin)
    assert r.status == 409 and r.error_code == "account_status_unchanged" and r.json["error"]["message"]
    assert len(await _audit(db, "account.disable")) == 1


async def test_a_pending_account_is_activated_by_its_owner_not_enabled(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    person = NewPerson("王五", "male", IdType.resident, factories.resident_id(), factories.resident_id_birth(),
                       factories.phone())
    created = await services.accounts.create_pending_trainee(person, created_by=Principal(ObjectId(), "unit"))
    for action in ("enable", "disable"):
        r = await api.post(f"/api/v1/admin/accounts/{created.account_id}/{action}", token=admin)
        assert r.status == 409 and r.error_code == "account_not_activated", action
    assert (await db["accounts"].find_one({"_id": created.account_id}))["status"] == "pending"
    # Its one-time secret still works.
    assert (await _login(api, person.id_number, created.one_time_secret)).status == 200


@pytest.mark.parametrize("account_id", ["not-an-id", "0" * 23, "6b10a15c5ea3633c4f5c6a39"])
async def test_malformed_or_unknown_id_is_404(api: ApiClient, services: Services, account_id: str) -> None:
    admin = await staff_token(services, "admin")
    for action in ("disable", "enable"):
        r = await api.post(f"/api/v1/admin/accounts/{account_id}/{action}", token=admin)
        assert r.status == 404 and r.error_code == "not_found", (account_id, action)
