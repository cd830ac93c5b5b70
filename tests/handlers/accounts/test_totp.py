"""The staff second factor (TOTP): enrolment, login with it, replay, throttling, and fresh logins for admin actions."""

from __future__ import annotations

import asyncio
import inspect
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pyotp
import pytest
from bson import ObjectId

from server.app import all_routes
from server.models.accounts import StaffCreate
from server.services.container import Services
from tests.client import ApiClient
from tests.clock import Clock
from tests.factories import course_body
from tests.totp import STAFF_PASSWORD, enrolled_staff, next_code, staff_login
from tests.web.test_session_cookie import COOKIE_LOGIN, cookies_of


async def _new_staff(services: Services, role: str = "admin", username: str = "clerk") -> str:
    await services.accounts.create_staff(StaffCreate(username=username, role=role, name="工作人员", password=STAFF_PASSWORD))
    return username


# ---- enrolment ------------------------------------------------------------------------------


async def test_first_login_without_totp_can_only_enrol(api: ApiClient, services: Services) -> None:
    username = await _new_staff(services)
    r = await api.post("/api/v1/auth/login", {"account": username, "password": STAFF_PASSWORD})
    assert r.status == 200, r.body
    assert r.json["totp_setup_required"] is True and r.json["must_change_password"] is False
    restricted = api.with_token(r.json["token"])
    me = (await restricted.get("/api/v1/me")).json
    assert me["totp_setup_required"] is True and me["totp_enrolled"] is False
    # Nothing else is reachable with it: not the admin screens, not even a password change.
    for method, path, body in (("GET", "/api/v1/admin/audit", None), ("POST", "/api/v1/admin/courses", course_body()),
                               ("POST", "/api/v1/auth/password", {"old_password": STAFF_PASSWORD,
                                                                  "new_password": "Other#Desk-2027"})):
        answer = await restricted.request(method, path, json=body)
        assert answer.status == 403 and answer.error_code == "totp_setup_required", (path, answer.body)

    setup = (await restricted.get("/api/v1/auth/totp")).json
    secret = setup["secret"]
    assert setup["secret_groups"].replace(" ", "") == secret and len(secret) == 32
    uri = unquote(setup["otpauth_uri"])
    assert uri.startswith("otpauth://totp/") and "培训考试报名系统" in uri and f"secret={secret}" in uri
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 1_000_000:06d}"
    bad = await restricted.post("/api/v1/auth/totp", {"code": wrong})
    assert bad.status == 422 and bad.error_code == "totp_invalid"

    done = await restricted.post("/api/v1/auth/totp", {"code": await next_code(secret)})
    assert done.status == 200, done.body
    assert done.json["totp_setup_required"] is False and done.json["role"] == "admin"
    assert (await restricted.get("/api/v1/me")).status == 401  # the restricted login is gone
    full = api.with_token(done.json["token"])
    me = (await full.get("/api/v1/me")).json
    assert me["totp_enrolled"] is True and me["totp_setup_required"] is False
    assert (await full.get("/api/v1/admin/audit")).status == 200
    # Enrolled: no second secret is handed out, and the stored one is sealed.
    assert (await full.get("/api/v1/auth/totp")).status == 409
    stored = await services.db["accounts"].find_one({"staff.username": username})
    assert secret not in json.dumps(stored, default=str)
    audit = [e async for e in services.db["audit_log"].find({})]
    assert secret not in json.dumps(audit, default=str)
    assert any(e["action"] == "account.totp_enrol" for e in audit)


async def test_enrolment_answers_the_session_cookies_like_a_login(api: ApiClient, services: Services) -> None:
    username = await _new_staff(services)
    r = await api.post("/api/v1/auth/login", {"account": username, "password": STAFF_PASSWORD}, headers=COOKIE_LOGIN)
    jar = cookies_of(r)
    cookie = {"Cookie": f"session={jar['session'].value}; XSRF-TOKEN={jar['XSRF-TOKEN'].value}",
              "X-XSRF-Token": jar["XSRF-TOKEN"].value}
    setup = (await api.get("/api/v1/auth/totp", headers=cookie)).json
    done = await api.post("/api/v1/auth/totp", {"code": await next_code(setup["secret"])},
                          headers={**cookie, **COOKIE_LOGIN})
    assert done.status == 200 and done.json["token"] == ""
    fresh = cookies_of(done)["session"].value
    assert fresh != jar["session"].value
    assert (await api.get("/api/v1/admin/audit", headers={"Cookie": f"session={fresh}"})).status == 200


async def test_only_staff_enrol(api: ApiClient, services: Services) -> None:
    from tests.factories import register_trainee

    token, _ = await register_trainee(api, services.settings.sms_outbox)
    assert (await api.get("/api/v1/auth/totp", token=token)).status == 403


# ---- login with the second factor -------------------------------------------------------------


async def test_login_needs_the_code_once_enrolled(api: ApiClient, services: Services) -> None:
    username, password, secret = await enrolled_staff(services, "reviewer")
    r = await api.post("/api/v1/auth/login", {"account": username, "password": password})
    assert r.status == 401 and r.error_code == "totp_required" and r.json["error"]["message"] == "请输入动态验证码"
    code = await next_code(secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    r = await api.post("/api/v1/auth/login", {"account": username, "password": password, "totp_code": wrong})
    assert r.status == 401 and r.error_code == "totp_invalid"
    # A wrong password with a right code is still a wrong password (the code is not spent).
    r = await api.post("/api/v1/auth/login", {"account": username, "password": "Wrong#Pass-999", "totp_code": code})
    assert r.status == 401 and r.error_code == "wrong_password"
    r = await api.post("/api/v1/auth/login", {"account": username, "password": password, "totp_code": code})
    assert r.status == 200 and r.json["role"] == "reviewer" and r.json["totp_setup_required"] is False
    # The same code again: a replay, refused.
    again = await api.post("/api/v1/auth/login", {"account": username, "password": password, "totp_code": code})
    assert again.status == 401 and again.error_code == "totp_invalid"
    assert again.json["error"]["details"]["replayed"] is True
    reasons = [e["details"]["reason"] async for e in services.db["audit_log"].find({"action": "account.login_failed"})]
    assert reasons.count("wrong_totp") == 2 and "wrong_password" in reasons


async def test_two_logins_with_the_same_code_at_once_only_one_wins(api: ApiClient, services: Services) -> None:
    username, password, secret = await enrolled_staff(services, "admin")
    body = {"account": username, "password": password, "totp_code": await next_code(secret)}
    answers = await asyncio.gather(*(api.post("/api/v1/auth/login", body) for _ in range(4)))
    assert sorted(a.status for a in answers) == [200, 401, 401, 401]


async def test_wrong_codes_are_throttled_like_wrong_passwords(api: ApiClient, services: Services) -> None:
    username, password, secret = await enrolled_staff(services, "scanner")
    # Asking for the code is not a failed attempt: the two-step form may do it any number of times.
    for _ in range(7):
        r = await api.post("/api/v1/auth/login", {"account": username, "password": password})
        assert r.status == 401 and r.error_code == "totp_required"
    code = pyotp.TOTP(secret).now()
    wrong = {"account": username, "password": password, "totp_code": f"{(int(code) + 7) % 1_000_000:06d}"}
    statuses = [(await api.post("/api/v1/auth/login", wrong)).status for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # Locked: even the right code is refused now.
    r = await api.post("/api/v1/auth/login", {**wrong, "totp_code": await next_code(secret)})
    assert r.status == 429


async def test_sms_login_of_staff_needs_the_code_before_the_sms_code_is_spent(api: ApiClient,
                                                                               services: Services) -> None:
    from tests.factories import phone, sms_code

    username, password, secret = await enrolled_staff(services, "admin")
    number = phone()
    await services.db["accounts"].update_one(
        {"staff.username": username},
        {"$set": {"phone": services.cipher.encrypt(number, context="phone"),
                  "phone_index": services.cipher.blind_index(number, context="phone")}})
    code = await sms_code(api, services.settings.sms_outbox, number, "login")
    r = await api.post("/api/v1/auth/login/sms", {"account": username, "sms_code": code})
    assert r.status == 401 and r.error_code == "totp_required"
    r = await api.post("/api/v1/auth/login/sms", {"account": username, "sms_code": code,
                                                 "totp_code": await next_code(secret)})
    assert r.status == 200, r.body


async def test_wechat_is_no_way_in_for_staff(api: ApiClient, services: Services, wechat_stub: Any,
                                             make_settings: Any) -> None:
    """A staff account with a WeChat identity (bound before this rule) is refused at WeChat login."""
    username, _, _ = await enrolled_staff(services, "scanner")
    await services.db["accounts"].update_one({"staff.username": username},
                                             {"$set": {"wechat": {"openid": "o-staff-1"}}})

    class Session:
        openid, unionid, session_key = "o-staff-1", None, "k"

    async def code2session(code: str) -> Session:
        return Session()

    services.login.wechat = type("W", (), {"code2session": staticmethod(code2session)})()
    r = await api.post("/api/v1/auth/wechat", {"code": "any-code"})
    assert r.status == 403 and r.error_code == "staff_wechat_refused"


# ---- fresh login for admin actions ------------------------------------------------------------


async def test_admin_actions_need_a_fresh_login_and_reauth_refreshes_it(api: ApiClient, services: Services) -> None:
    clock = Clock(datetime.now(UTC))
    services.tokens.now = clock  # the test's own services: tokens live on its clock
    username, password, secret = await enrolled_staff(services, "admin")
    r = await staff_login(api, username, password, secret)
    admin = api.with_token(r.json["token"])
    assert (await admin.post("/api/v1/admin/courses", course_body(name="课程甲"))).status == 201
    clock.advance(15 * 60 + 1)
    refused = await admin.post("/api/v1/admin/courses", course_body(name="课程乙"))
    assert refused.status == 403 and refused.error_code == "reauth_required"
    assert refused.json["error"]["message"] == "此操作需要重新验证身份"
    assert (await admin.get("/api/v1/admin/audit")).status == 200  # reading needs no fresh login

    wrong = await admin.post("/api/v1/auth/reauth", {"password": "Wrong#Pass-999", "totp_code": "000000"})
    assert wrong.status == 422 and wrong.error_code == "wrong_password"
    no_code = await admin.post("/api/v1/auth/reauth", {"password": password})
    assert no_code.status == 422 and no_code.error_code == "totp_required"
    ok = await admin.post("/api/v1/auth/reauth", {"password": password, "totp_code": await next_code(secret)})
    assert ok.status == 200, ok.body
    # Seen at once (the token cache of this process is evicted and refilled).
    assert (await admin.post("/api/v1/admin/courses", course_body(name="课程乙"))).status == 201
    clock.advance(14 * 60)
    assert (await admin.post("/api/v1/admin/courses", course_body(name="课程丙"))).status == 201
    clock.advance(2 * 60)
    assert (await admin.post("/api/v1/admin/courses", course_body(name="课程丁"))).error_code == "reauth_required"
    assert await services.db["audit_log"].count_documents({"action": "account.reauth"}) == 1


async def test_issued_tokens_count_as_fresh_and_reauth_needs_the_second_factor(api: ApiClient,
                                                                             services: Services) -> None:
    from tests.factories import staff_token

    token = await staff_token(services, "admin")
    admin = api.with_token(token)
    assert (await admin.post("/api/v1/admin/courses", course_body())).status == 201
    r = await admin.post("/api/v1/auth/reauth", {"password": "Chief#Desk-2026"})
    assert r.status == 403 and r.error_code == "totp_setup_required"


def test_every_admin_only_change_is_declared_fresh() -> None:
    """Enumerated from the endpoint specs: an admin-only endpoint that changes something needs a fresh login."""
    missing, seen = [], 0
    for route in all_routes():
        handler = route[1]
        for method in ("post", "put", "patch", "delete"):
            spec = getattr(getattr(handler, method, None), "__endpoint__", None)
            if spec is None or spec.roles != frozenset({"admin"}):
                continue
            seen += 1
            if not spec.fresh:
                missing.append(f"{method.upper()} {route[0]} ({inspect.getsourcefile(handler)})")
    assert seen >= 10 and not missing, missing


async def test_reset_totp_lets_the_staff_member_enrol_again(api: ApiClient, services: Services) -> None:
    username, password, secret = await enrolled_staff(services, "reviewer")
    token = (await staff_login(api, username, password, secret)).json["token"]
    account = await services.accounts.find_by_login(username)
    await services.totp.reset(account, by="test")
    assert (await api.get("/api/v1/me", token=token)).status == 200  # reset alone keeps logins (the CLI revokes)
    r = await api.post("/api/v1/auth/login", {"account": username, "password": password})
    assert r.status == 200 and r.json["totp_setup_required"] is True
    entry = await services.db["audit_log"].find_one({"action": "account.totp_reset"})
    assert entry is not None and entry["subject_id"] == account["_id"]
    with pytest.raises(Exception, match="协会工作人员账号不存在"):
        await services.totp.reset({"_id": ObjectId(), "role": "trainee"}, by="test")
