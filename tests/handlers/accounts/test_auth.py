"""Accounts over real HTTP: registration, login, throttling, tokens, activation, roles."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services import Principal
from server.services.accounts.accounts import NewPerson
from server.services.accounts.identity import IdType, today_shanghai
from server.services.container import Services, build_services
from tests import factories
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.factories import STRONG_PASSWORD, register_trainee, register_unit, sms_code
from tests.totp import enrolled_staff, staff_login

pytestmark = pytest.mark.usefixtures("db")


# ---- registration ------------------------------------------------------------------


async def test_trainee_registers_and_sees_own_data_in_full(api: ApiClient, settings: Settings) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    r = await api.get("/api/v1/me", token=token)
    assert r.status == 200
    me = r.json
    assert me["role"] == "trainee" and me["status"] == "active"
    assert me["id_number"] == body["id_number"] and me["phone"] == body["phone"]
    assert me["must_change_password"] is False


async def test_unit_registers_with_its_uscc_and_logs_in(api: ApiClient, settings: Settings) -> None:
    _, body = await register_unit(api, settings.sms_outbox)
    r = await api.post("/api/v1/auth/login", {"account": body["uscc"].lower(), "password": STRONG_PASSWORD})
    assert r.status == 200 and r.json["role"] == "unit"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"id_number": "110105194912310021"}, "id_number"),  # wrong check character
        ({"id_number": "11010520991231002X"[:17] + "0"}, "id_number"),  # future birth date
        ({"birth_date": "1980-01-01"}, "birth_date"),  # contradicts the ID number
        ({"sex": "female"}, "sex"),  # the factory makes a male ID number
        ({"name": "张\u202e三"}, "name"),  # invisible direction override
        ({"name": "x" * 51}, "name"),
        ({"phone": "12345"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"id_type": "driving_licence"}, "id_type"),
        ({"password": "123456"}, "password"),
        ({"password": "password1"}, "password"),
    ],
)
async def test_bad_registration_is_422_and_writes_nothing(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]], override: dict[str, Any], field: str
) -> None:
    body = factories.trainee_body(**override)
    body["sms_code"] = await sms_code(api, settings.sms_outbox, factories.phone())
    r = await api.post("/api/v1/auth/register/trainee", body)
    assert r.status == 422, r.body
    assert field in r.json["error"]["details"]["fields"], r.json
    assert await db["accounts"].count_documents({}) == 0


async def test_password_equal_to_birth_date_or_phone_is_refused(api: ApiClient, settings: Settings) -> None:
    number = factories.phone()
    for password in ("19900307", number):
        body = factories.trainee_body(phone=number, password=password)
        body["sms_code"] = await sms_code(api, settings.sms_outbox, number) if password == "19900307" else "000000"
        r = await api.post("/api/v1/auth/register/trainee", body)
        assert r.status == 422 and "password" in r.json["error"]["details"]["fields"]


async def test_wrong_sms_code_is_refused(api: ApiClient, db: AsyncDatabase[dict[str, Any]]) -> None:
    body = factories.trainee_body(sms_code="123456")
    r = await api.post("/api/v1/auth/register/trainee", body)
    assert r.status == 422 and "sms_code" in r.json["error"]["details"]["fields"]
    assert await db["accounts"].count_documents({}) == 0


async def test_concurrent_registrations_with_one_id_number_make_one_account(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    id_number = factories.resident_id()
    bodies = []
    for _ in range(20):
        body = factories.trainee_body(id_number=id_number)
        body["sms_code"] = await sms_code(api, settings.sms_outbox, body["phone"])
        bodies.append(body)
    answers = await asyncio.gather(*(api.post("/api/v1/auth/register/trainee", b) for b in bodies))
    statuses = sorted(a.status for a in answers)
    assert statuses == [201] + [409] * 19
    assert {a.error_code for a in answers if a.status == 409} == {"account_exists"}
    assert await db["accounts"].count_documents({"role": "trainee"}) == 1


# ---- login and throttling ------------------------------------------------------------


async def test_unknown_account_says_register_first(api: ApiClient) -> None:
    r = await api.post("/api/v1/auth/login", {"account": factories.resident_id(), "password": "whatever-pass"})
    assert r.status == 401 and r.error_code == "account_not_found"
    assert r.json["error"]["message"] == "无效账号，请先注册"


async def test_wrong_password(api: ApiClient, settings: Settings) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    r = await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": "Wrong-pass-123"})
    assert r.status == 401 and r.error_code == "wrong_password"


@pytest.mark.parametrize("account", [{"$ne": None}, ["a"], 12345678, None])
async def test_operator_injection_in_login_is_422(api: ApiClient, account: Any) -> None:
    r = await api.post("/api/v1/auth/login", {"account": account, "password": {"$gt": ""}})
    assert r.status == 422
    assert set(r.json["error"]["details"]["fields"]) >= {"account", "password"}


async def test_concurrent_failures_are_cut_at_the_limit(api: ApiClient, settings: Settings) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    wrong = {"account": body["id_number"], "password": "Wrong-pass-123"}
    answers = await asyncio.gather(*(api.post("/api/v1/auth/login", wrong) for _ in range(12)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [401] * 5 + [429] * 7
    throttled = next(a for a in answers if a.status == 429)
    assert int(throttled.headers["Retry-After"]) > 0
    # Even the right password is refused while locked.
    r = await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": STRONG_PASSWORD})
    assert r.status == 429


async def test_repeated_failures_slow_down_before_the_lock(
    make_settings: Any, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    settings = make_settings(login_slowdown_seconds=0.5)
    slow = build_services(settings, db)
    try:
        async with serve_app(settings, slow) as api:
            wrong = {"account": factories.resident_id(), "password": "whatever-pass"}
            times = []
            for _ in range(5):
                started = time.perf_counter()
                assert (await api.post("/api/v1/auth/login", wrong)).status == 401
                times.append(time.perf_counter() - started)
    finally:
        await slow.close()
    # Delays of 0, 0, 0.5, 1.0 and 1.5 s come on top of the request's own time: the lower
    # bounds are exact, the upper one leaves a loaded machine half a second of slack.
    assert max(times[:2]) < 0.5 <= times[2] and times[3] >= 1.0 and times[4] >= 1.5


async def test_unknown_accounts_are_throttled_like_failures(api: ApiClient) -> None:
    unknown = {"account": factories.resident_id(), "password": "whatever-pass"}
    answers = [await api.post("/api/v1/auth/login", unknown) for _ in range(6)]
    assert [a.status for a in answers] == [401] * 5 + [429]


async def test_successful_logins_do_not_use_up_the_limit(api: ApiClient, settings: Settings) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    good = {"account": body["id_number"], "password": STRONG_PASSWORD}
    for _ in range(8):
        assert (await api.post("/api/v1/auth/login", good)).status == 200


# ---- tokens ---------------------------------------------------------------------------


async def test_logout_revokes_the_token(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    assert (await api.post("/api/v1/auth/logout", token=token)).status == 200
    r = await api.get("/api/v1/me", token=token)
    assert r.status == 401 and r.error_code == "invalid_token"


async def test_password_change_revokes_other_tokens(api: ApiClient, settings: Settings) -> None:
    first, body = await register_trainee(api, settings.sms_outbox)
    login = {"account": body["id_number"], "password": STRONG_PASSWORD}
    second = (await api.post("/api/v1/auth/login", login)).json["token"]
    r = await api.post("/api/v1/auth/password",
                       {"old_password": STRONG_PASSWORD, "new_password": "Another#Secret-42"}, token=second)
    assert r.status == 200
    assert (await api.get("/api/v1/me", token=first)).status == 401
    assert (await api.get("/api/v1/me", token=second)).status == 200
    assert (await api.post("/api/v1/auth/login", login)).status == 401
    login["password"] = "Another#Secret-42"
    assert (await api.post("/api/v1/auth/login", login)).status == 200


async def test_password_change_needs_the_old_password(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await api.post("/api/v1/auth/password",
                       {"old_password": "not-it-at-all", "new_password": "Another#Secret-42"}, token=token)
    assert r.status == 422 and "old_password" in r.json["error"]["details"]["fields"]


async def test_disabling_an_account_refuses_it_at_once(api: ApiClient, settings: Settings, services: Services) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    me = (await api.get("/api/v1/me", token=token)).json
    admin = Principal(ObjectId(), "admin")
    await services.accounts.set_disabled(ObjectId(me["id"]), True, by=admin)
    assert (await api.get("/api/v1/me", token=token)).status == 401
    r = await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": STRONG_PASSWORD})
    assert r.status == 403 and r.error_code == "account_disabled"


async def test_forged_and_oversized_tokens_are_401(api: ApiClient) -> None:
    for token in ("forged", "A" * 5000, "Bearer-ish ; DROP"):
        assert (await api.get("/api/v1/me", token=token)).status == 401
    assert (await api.get("/api/v1/me", headers={"Authorization": "Basic abc"})).status == 401


# ---- accounts created by someone else --------------------------------------------------


async def _pending(services: Services) -> tuple[NewPerson, str]:
    person = NewPerson("王五", "male", IdType.resident, factories.resident_id(), factories.resident_id_birth(),
                       factories.phone())
    created = await services.accounts.create_pending_trainee(person, created_by=Principal(ObjectId(), "unit"))
    return person, created.one_time_secret


async def test_pending_account_logs_in_with_its_secret_only_to_change_password(
    api: ApiClient, services: Services
) -> None:
    person, secret = await _pending(services)
    r = await api.post("/api/v1/auth/login", {"account": person.id_number, "password": secret})
    assert r.status == 200 and r.json["must_change_password"] is True
    token = r.json["token"]
    assert (await api.get("/api/v1/admin/audit", token=token)).error_code == "password_change_required"
    assert (await api.get("/api/v1/me", token=token)).json["must_change_password"] is True
    r = await api.post("/api/v1/auth/password", {"old_password": secret, "new_password": "Mine#Own-Pass9"},
                       token=token)
    assert r.status == 200
    me = (await api.get("/api/v1/me", token=token)).json
    assert me["status"] == "active" and me["must_change_password"] is False
    # The secret is spent.
    assert (await api.post("/api/v1/auth/login", {"account": person.id_number, "password": secret})).status == 401


async def test_activation_with_the_secret(api: ApiClient, services: Services) -> None:
    person, secret = await _pending(services)
    r = await api.post("/api/v1/auth/activate",
                       {"account": person.id_number, "secret": secret.lower(), "new_password": "Mine#Own-Pass9"})
    assert r.status == 200, r.body
    again = await api.post("/api/v1/auth/activate",
                           {"account": person.id_number, "secret": secret, "new_password": "Mine#Own-Pass9"})
    assert again.status == 404 and again.error_code == "activation_not_found"


async def test_activation_with_an_sms_code_to_the_phone_on_record(
    api: ApiClient, services: Services, settings: Settings
) -> None:
    person, _ = await _pending(services)
    code = await sms_code(api, settings.sms_outbox, person.phone, purpose="activate")
    r = await api.post("/api/v1/auth/activate",
                       {"account": person.id_number, "sms_code": code, "new_password": "Mine#Own-Pass9"})
    assert r.status == 200, r.body
    assert (await api.post("/api/v1/auth/login",
                           {"account": person.id_number, "password": "Mine#Own-Pass9"})).status == 200


async def test_wrong_secret_does_not_activate(api: ApiClient, services: Services) -> None:
    person, _ = await _pending(services)
    r = await api.post("/api/v1/auth/activate",
                       {"account": person.id_number, "secret": "AAAA-BBBB-CCCC-DDDD-EEEE", "new_password": "Mine#Own-Pass9"})
    assert r.status == 422


async def test_pending_account_for_an_existing_id_number_is_409(api: ApiClient, settings: Settings,
                                                               services: Services) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    person = NewPerson("张三", "male", IdType.resident, body["id_number"], factories.resident_id_birth(),
                       body["phone"])
    with pytest.raises(Exception) as caught:
        await services.accounts.create_pending_trainee(person, created_by=Principal(ObjectId(), "unit"))
    assert getattr(caught.value, "code", None) == "account_exists"


# ---- staff and roles ----------------------------------------------------------------------


async def test_staff_logs_in_with_username_and_roles_are_enforced(api: ApiClient, settings: Settings,
                                                                  services: Services) -> None:
    checker = await enrolled_staff(services, "scanner", "checker", "Scan#Gate-2026")
    boss = await enrolled_staff(services, "admin", "boss", "Chief#Desk-2026")
    scanner = (await staff_login(api, "Checker", checker[1], checker[2])).json
    admin = (await staff_login(api, "boss", boss[1], boss[2])).json
    trainee, _ = await register_trainee(api, settings.sms_outbox)
    assert (await api.get("/api/v1/admin/audit", token=scanner["token"])).status == 403
    assert (await api.get("/api/v1/admin/audit", token=trainee)).status == 403
    r = await api.get("/api/v1/admin/audit?action=account.login", token=admin["token"])
    assert r.status == 200 and r.json["total"] >= 2
    assert all(item["action"] == "account.login" for item in r.json["items"])


# ---- personal data ---------------------------------------------------------------------------


async def test_no_plain_id_number_or_phone_in_database_logs_or_lists(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]], services: Services,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auditor = await enrolled_staff(services, "admin", "auditor", "Chief#Desk-2026")
    with caplog.at_level(logging.DEBUG):
        token, body = await register_trainee(api, settings.sms_outbox)
        await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": "Wrong-pass-123"})
        await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": STRONG_PASSWORD})
        admin = (await staff_login(api, "auditor", auditor[1], auditor[2])).json
        audit = await api.get("/api/v1/admin/audit?page_size=100", token=admin["token"])
    # Not even the list mask: beside a birth date it leaves about 9 candidates (issue 10).
    mask = body["id_number"][:4] + "*" * 10 + body["id_number"][-4:]
    secrets_in_clear = [body["id_number"], body["phone"], mask]
    everything = "".join(caplog.text) + audit.body.decode()
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            everything += repr(doc)
    for value in secrets_in_clear:
        assert value not in everything
    me = (await api.get("/api/v1/me", token=token)).json
    assert f"trainee:{me['id']}" in audit.body.decode()


# ---- one budget per account, whatever its spelling ----------------------------------------


async def test_spelling_variants_of_one_account_share_one_budget(api: ApiClient, settings: Settings) -> None:
    _, body = await register_trainee(api, settings.sms_outbox, id_number=factories.resident_id(male=False))
    number = body["id_number"]
    assert number.endswith(tuple("0123456789X"))
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)  # what a Chinese IME types
    variants = [f"{number[:6]} {number[6:14]} {number[14:]}", full_width, f" {number.lower()}\t",
                f"{number[:6]}\u3000{number[6:]}", number]
    for variant in variants:  # each finds the account: a wrong password, not an unknown account
        r = await api.post("/api/v1/auth/login", {"account": variant, "password": "Wrong-pass-123"})
        assert r.status == 401 and r.error_code == "wrong_password", (variant, r.body)
    r = await api.post("/api/v1/auth/login", {"account": f"{number[:10]} {number[10:]}", "password": STRONG_PASSWORD})
    assert r.status == 429, r.body


# ---- locked out by a stranger: the SMS-code login and the password reset ----------------------


def _from(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}


async def _lock_account_from_many_addresses(api: ApiClient, account: str) -> None:
    """A stranger spends the account-wide window (50 an hour) from ten addresses, 5 each."""
    wrong = {"account": account, "password": "Wrong-pass-123"}
    for n in range(10):
        for _ in range(5):
            r = await api.request("POST", "/api/v1/auth/login", json=wrong, headers=_from(f"198.51.100.{n}"))
            assert r.status == 401, r.body


async def test_a_stranger_locks_password_login_yet_the_owner_gets_in_by_sms_and_resets(
    make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]]
) -> None:
    # The addresses come from X-Real-IP, as behind nginx: the test client is the trusted proxy.
    settings = make_settings(trusted_proxies="127.0.0.1")
    services = build_services(settings, db)
    try:
        async with serve_app(settings, services) as api:
            await _stranger_locks_owner_gets_in(api, settings, db)
    finally:
        await services.close()


async def _stranger_locks_owner_gets_in(api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]) -> None:
    old_token, body = await register_trainee(api, settings.sms_outbox)
    await _lock_account_from_many_addresses(api, body["id_number"])
    owner = _from("203.0.113.9")
    good = {"account": body["id_number"], "password": STRONG_PASSWORD}
    locked = await api.request("POST", "/api/v1/auth/login", json=good, headers=owner)
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    assert "短信验证码登录" in locked.json["error"]["message"]
    assert locked.json["error"]["details"]["sms_login"] is True

    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="login")
    r = await api.request("POST", "/api/v1/auth/login/sms", json={"account": body["id_number"], "sms_code": code},
                          headers=owner)
    assert r.status == 200, r.body
    assert set(r.json) == {"token", "role", "must_change_password", "totp_setup_required", "expires_at"}
    assert r.json["role"] == "trainee" and r.json["must_change_password"] is False
    sms_token = r.json["token"]
    assert (await api.get("/api/v1/me", token=sms_token)).json["id_number"] == body["id_number"]

    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="reset")
    r = await api.request("POST", "/api/v1/auth/password/reset", headers=owner, json={
        "account": body["id_number"], "sms_code": code, "new_password": "Fresh#Start-2026"})
    assert r.status == 200, r.body
    # Every earlier login is revoked, the one made by SMS code too.
    for token in (old_token, sms_token):
        assert (await api.get("/api/v1/me", token=token)).status == 401
    assert await db["audit_log"].count_documents({"action": "account.password_reset"}) == 1
    assert await db["audit_log"].count_documents({"action": "account.login_sms"}) == 1
    # The new password works once the stranger's window has passed; the old one never again.
    await db["rate_limits"].delete_many({})
    assert (await api.post("/api/v1/auth/login", good)).status == 401
    good["password"] = "Fresh#Start-2026"
    assert (await api.post("/api/v1/auth/login", good)).status == 200


async def test_sms_login_wants_the_code_sent_to_the_phone_on_record(api: ApiClient, settings: Settings) -> None:
    _, owner = await register_trainee(api, settings.sms_outbox)
    _, other = await register_trainee(api, settings.sms_outbox)
    # A login code sent to another person's phone (the stranger's own) proves nothing.
    stranger_code = await sms_code(api, settings.sms_outbox, other["phone"], purpose="login")
    r = await api.post("/api/v1/auth/login/sms", {"account": owner["id_number"], "sms_code": stranger_code})
    assert r.status == 422 and r.error_code == "sms_proof_invalid"
    # A code of another purpose to the right phone, and a wrong code, neither.
    register_code = await sms_code(api, settings.sms_outbox, owner["phone"], purpose="bind")
    r = await api.post("/api/v1/auth/login/sms", {"account": owner["id_number"], "sms_code": register_code})
    assert r.status == 422 and r.error_code == "sms_proof_invalid"
    code = await sms_code(api, settings.sms_outbox, owner["phone"], purpose="login")
    wrong = "000000" if code != "000000" else "111111"
    r = await api.post("/api/v1/auth/login/sms", {"account": owner["id_number"], "sms_code": wrong})
    assert r.status == 422 and r.error_code == "sms_proof_invalid"
    # An unknown account answers exactly like a wrong code: the endpoint tells nothing about accounts.
    unknown = await api.post("/api/v1/auth/login/sms", {"account": factories.resident_id(), "sms_code": wrong})
    assert unknown.status == 422 and unknown.json == r.json
    # The wrong code cost one of the code's own tries, not a password failure: the right one still works.
    r = await api.post("/api/v1/auth/login/sms", {"account": owner["id_number"], "sms_code": code})
    assert r.status == 200, r.body
    again = await api.post("/api/v1/auth/login/sms", {"account": owner["id_number"], "sms_code": code})
    assert again.error_code == "sms_proof_invalid"  # single use


async def test_wrong_sms_codes_are_not_password_failures(api: ApiClient, settings: Settings) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    for n in range(8):  # past 5 wrong proofs from one address, the SMS proof windows refuse it (429)
        r = await api.post("/api/v1/auth/login/sms", {"account": body["id_number"], "sms_code": "123456"})
        assert r.status == (422 if n < 5 else 429)
    r = await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": STRONG_PASSWORD})
    assert r.status == 200


async def test_weak_new_password_is_refused_without_using_up_the_reset_code(
    api: ApiClient, settings: Settings
) -> None:
    _, body = await register_trainee(api, settings.sms_outbox)
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="reset")
    for weak in ("123456", "password1", body["phone"] + "-Aa", "Pw#19900307x"):  # general, then personal rules
        r = await api.post("/api/v1/auth/password/reset",
                           {"account": body["id_number"], "sms_code": code, "new_password": weak})
        assert r.status == 422 and "password" in r.json["error"]["details"]["fields"], (weak, r.body)
    r = await api.post("/api/v1/auth/password/reset",
                       {"account": body["id_number"], "sms_code": code, "new_password": "Fresh#Start-2026"})
    assert r.status == 200, r.body
    r = await api.post("/api/v1/auth/password/reset",
                       {"account": body["id_number"], "sms_code": code, "new_password": "Other#Start-2026"})
    assert r.status == 422 and r.error_code == "sms_proof_invalid"


async def test_reset_and_sms_login_of_a_pending_account_say_activate_first(
    api: ApiClient, services: Services, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    person, _ = await _pending(services)
    code = await sms_code(api, settings.sms_outbox, person.phone, purpose="reset")
    r = await api.post("/api/v1/auth/password/reset",
                       {"account": person.id_number, "sms_code": code, "new_password": "Fresh#Start-2026"})
    assert r.status == 403 and r.error_code == "account_pending"
    code = await sms_code(api, settings.sms_outbox, person.phone, purpose="login")
    r = await api.post("/api/v1/auth/login/sms", {"account": person.id_number, "sms_code": code})
    assert r.status == 403 and r.error_code == "account_pending"
    account = await db["accounts"].find_one({"status": "pending"})
    assert account is not None and account["password_hash"] is None
    assert await db["tokens"].count_documents({}) == 0


async def test_disabled_account_cannot_reset_or_log_in_by_sms(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    me = (await api.get("/api/v1/me", token=token)).json
    await services.accounts.set_disabled(ObjectId(me["id"]), True, by=Principal(ObjectId(), "admin"))
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="login")
    r = await api.post("/api/v1/auth/login/sms", {"account": body["id_number"], "sms_code": code})
    assert r.status == 403 and r.error_code == "account_disabled"
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="reset")
    r = await api.post("/api/v1/auth/password/reset",
                       {"account": body["id_number"], "sms_code": code, "new_password": "Fresh#Start-2026"})
    assert r.status == 403 and r.error_code == "account_disabled"


# ---- activation: throttled, and the code survives a refused password --------------------------


async def test_activation_probes_from_one_address_are_throttled(api: ApiClient, services: Services) -> None:
    person, _ = await _pending(services)
    answers = []
    for account in [factories.resident_id() for _ in range(30)] + [person.id_number]:
        answers.append(await api.post("/api/v1/auth/activate", {
            "account": account, "secret": "AAAA-BBBB-CCCC-DDDD-EEEE", "new_password": "Mine#Own-Pass9"}))
    # Probing many accounts from one address: past 30 in 15 minutes, even a real one is refused.
    assert [a.status for a in answers] == [404] * 30 + [429]
    assert answers[-1].error_code == "too_many_requests"
    assert "sms_login" not in answers[-1].json["error"]["details"]


async def test_activation_attempts_on_one_account_are_throttled(api: ApiClient, services: Services) -> None:
    person, _ = await _pending(services)
    wrong = {"account": person.id_number, "secret": "AAAA-BBBB-CCCC-DDDD-EEEE", "new_password": "Mine#Own-Pass9"}
    answers = [await api.post("/api/v1/auth/activate", wrong) for _ in range(6)]
    assert [a.status for a in answers] == [422] * 5 + [429]


async def test_weak_password_at_activation_leaves_the_sms_code_usable(
    api: ApiClient, services: Services, settings: Settings
) -> None:
    person, _ = await _pending(services)
    code = await sms_code(api, settings.sms_outbox, person.phone, purpose="activate")
    for weak in ("123456", person.phone + "-Aa"):  # a general rule, then a personal one (the phone)
        r = await api.post("/api/v1/auth/activate",
                           {"account": person.id_number, "sms_code": code, "new_password": weak})
        assert r.status == 422 and "password" in r.json["error"]["details"]["fields"], r.body
    r = await api.post("/api/v1/auth/activate",
                       {"account": person.id_number, "sms_code": code, "new_password": "Mine#Own-Pass9"})
    assert r.status == 200, r.body


async def test_successful_activations_do_not_use_up_the_limit(api: ApiClient, services: Services) -> None:
    for _ in range(7):
        person, secret = await _pending(services)
        r = await api.post("/api/v1/auth/activate",
                           {"account": person.id_number, "secret": secret, "new_password": "Mine#Own-Pass9"})
        assert r.status == 200, r.body


# ---- birth dates ----------------------------------------------------------------------------


def _foreign_body(birth_date: str, id_type: str = "passport", id_number: str = "E12345678") -> dict[str, Any]:
    return factories.trainee_body(id_type=id_type, id_number=id_number, sex="female", birth_date=birth_date)


@pytest.mark.parametrize(
    ("id_type", "id_number"), [("passport", "E12345678"), ("hk_macao_permit", "H12345678"), ("taiwan_permit", "12345678")]
)
@pytest.mark.parametrize("when", ["tomorrow", "2999-01-01", "1899-12-31", "0001-01-01"])
async def test_implausible_birth_date_is_refused_for_every_id_type(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]], id_type: str, id_number: str, when: str
) -> None:
    birth = (today_shanghai() + timedelta(days=1)).isoformat() if when == "tomorrow" else when
    body = _foreign_body(birth, id_type, id_number)
    body["sms_code"] = await sms_code(api, settings.sms_outbox, body["phone"])
    r = await api.post("/api/v1/auth/register/trainee", body)
    assert r.status == 422, r.body
    message = r.json["error"]["details"]["fields"]["birth_date"]
    assert message in ("出生日期不能晚于今天", "出生日期不能早于1900年1月1日")
    assert await db["accounts"].count_documents({}) == 0


async def test_birth_date_today_and_in_1900_are_accepted(api: ApiClient, settings: Settings) -> None:
    await register_trainee(api, settings.sms_outbox, **_foreign_body(today_shanghai().isoformat(), "passport", "E12345670"))
    await register_trainee(api, settings.sms_outbox, **_foreign_body("1900-01-01", "passport", "E22345678"))


async def test_resident_id_born_before_1900_is_refused(api: ApiClient, settings: Settings) -> None:
    body = factories.trainee_body(id_number=factories.resident_id("18991231"))
    body["sms_code"] = await sms_code(api, settings.sms_outbox, body["phone"])
    r = await api.post("/api/v1/auth/register/trainee", body)
    assert r.status == 422 and "id_number" in r.json["error"]["details"]["fields"], r.body


async def test_profile_update_refuses_a_future_birth_date(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox, **_foreign_body("1985-05-05"))
    profile = {"name": "张三", "sex": "female", "email": "z@example.com", "work_start": "2010-07",
               "specialty": "岩土工程", "address": "上海市黄浦区某某路 100 号"}
    tomorrow = (today_shanghai() + timedelta(days=1)).isoformat()
    r = await api.put("/api/v1/me/profile", {**profile, "birth_date": tomorrow}, token=token)
    assert r.status == 422 and r.json["error"]["details"]["fields"]["birth_date"] == "出生日期不能晚于今天"
    r = await api.put("/api/v1/me/profile", {**profile, "birth_date": "1986-06-06"}, token=token)
    assert r.status == 200, r.body
