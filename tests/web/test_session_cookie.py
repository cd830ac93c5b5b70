
"""The web view's cookie session: the same token as the bearer, and an XSRF check on unsafe requests."""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import build_services
from tests.client import ApiClient, Response
from tests.conftest import serve_app
from tests.factories import STRONG_PASSWORD, register_unit, sms_code, trainee_body

COOKIE_LOGIN = {"X-Session": "cookie"}


def cookies_of(response: Response) -> dict[str, Any]:
    """The Set-Cookie headers of an answer, by name (morsels)."""
    jar: SimpleCookie = SimpleCookie()
    for line in response.headers.get_list("Set-Cookie"):
        jar.load(line)
    return dict(jar)


async def cookie_login(api: ApiClient, account: str, password: str) -> tuple[str, str, Response]:
    """Log in as the web view does: (session cookie, XSRF cookie, answer)."""
    r = await api.post("/api/v1/auth/login", {"account": account, "password": password}, headers=COOKIE_LOGIN)
    assert r.status == 200, r.body
    jar = cookies_of(r)
    return jar["session"].value, jar["XSRF-TOKEN"].value, r


def cookie_header(session: str, xsrf: str | None = None) -> dict[str, str]:
    value = f"session={session}" + (f"; XSRF-TOKEN={xsrf}" if xsrf else "")
    return {"Cookie": value}


async def test_cookie_login_sets_httponly_lax_cookie_and_hides_the_token(api: ApiClient, settings: Settings) -> None:
    _, unit = await register_unit(api, settings.sms_outbox)
    r = await api.post("/api/v1/auth/login", {"account": unit["uscc"], "password": STRONG_PASSWORD}, headers=COOKIE_LOGIN)
    assert r.status == 200
    assert r.json["token"] == "" and r.json["role"] == "unit"
    jar = cookies_of(r)
    session = jar["session"]
    assert session["httponly"] and session["samesite"] == "Lax" and session["path"] == "/"
    assert not session["secure"]  # dev over plain HTTP
    assert not jar["XSRF-TOKEN"]["httponly"]  # the page reads it
    me = await api.get("/api/v1/me", headers=cookie_header(session.value))
    assert me.status == 200 and me.json["uscc"] == unit["uscc"]


async def test_cookie_is_secure_in_production(make_settings: Any, db: AsyncDatabase[dict[str, Any]]) -> None:
    from server.models.accounts import StaffCreate
    from tests.test_config import production as production_values

    # Production settings (real backends named, never dialled here); a staff account logs in, so no SMS is sent.
    values = production_values(public_url="https://px.example.org", mongodb_url="mongodb://127.0.0.1:1/?replicaSet=rs0")
    production = make_settings(**values)
    built = build_services(production, db)
    try:
        await built.accounts.create_staff(StaffCreate(username="desk1", role="admin", name="协会管理员",
                                                      password=STRONG_PASSWORD))
        async with serve_app(production, built) as client:
            r = await client.post("/api/v1/auth/login", {"account": "desk1", "password": STRONG_PASSWORD},
                                  headers=COOKIE_LOGIN)
            assert r.status == 200, r.body
            jar = cookies_of(r)
            assert jar["session"]["secure"] and jar["XSRF-TOKEN"]["secure"]
    finally:
        await built.close()


async def test_bearer_login_unchanged(api: ApiClient, settings: Settings) -> None:
    _, unit = await register_unit(api, settings.sms_outbox)
    r = await api.post("/api/v1/auth/login", {"account": unit["uscc"], "password": STRONG_PASSWORD})
    assert r.status == 200 and len(r.json["token"]) > 20
    assert not r.headers.get_list("Set-Cookie")
    # A bearer request needs no XSRF header, also for unsafe methods.
    made = await api.post("/api/v1/addresses", {"recipient": "张三", "phone": "13800138000", "region": "上海市",
                                                "address": "浦东新区 1 号"}, token=r.json["token"])
    assert made.status == 201, made.body


async def test_unsafe_cookie_request_without_xsrf_is_refused_and_does_nothing(api: ApiClient, settings: Settings) -> None:
    _, unit = await register_unit(api, settings.sms_outbox)
    session, xsrf, _ = await cookie_login(api, unit["uscc"], STRONG_PASSWORD)
    address = {"recipient": "张三", "phone": "13800138000", "region": "上海市", "address": "浦东新区 1 号"}
    for headers in (cookie_header(session, xsrf),  # the cookie alone: what a cross-site post carries
                    {**cookie_header(session, xsrf), "X-XSRF-Token": "forged"},
                    {**cookie_header(session), "X-XSRF-Token": xsrf}):  # a header without its cookie
        r = await api.post("/api/v1/addresses", address, headers=headers)
        assert r.status == 403 and r.error_code == "xsrf_failed"
        assert "其他网站" in r.json["error"]["message"]
    listed = await api.get("/api/v1/addresses", headers=cookie_header(session))
    assert listed.status == 200 and listed.json["total"] == 0  # nothing was written
    ok = await api.post("/api/v1/addresses", address, headers={**cookie_header(session, xsrf), "X-XSRF-Token": xsrf})
    assert ok.status == 201, ok.body


async def test_cross_site_form_post_cannot_log_out_or_change_the_password(api: ApiClient, settings: Settings) -> None:
    """The classic attack: a form on another site posts urlencoded data with the victim's cookies."""
    _, unit = await register_unit(api, settings.sms_outbox)
    session, xsrf, _ = await cookie_login(api, unit["uscc"], STRONG_PASSWORD)
    form = {**cookie_header(session, xsrf), "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://evil.example", "Referer": "http://evil.example/page"}
    r = await api.request("POST", "/api/v1/auth/logout", body=b"", headers=form)
    assert r.status == 403 and r.error_code == "xsrf_failed"
    r = await api.request("POST", "/api/v1/auth/password", body=b"old_password=x&new_password=Aa123456789",
                          headers=form)
    assert r.status == 403 and r.error_code == "xsrf_failed"
    assert (await api.get("/api/v1/me", headers=cookie_header(session))).status == 200  # still logged in
    again = await api.post("/api/v1/auth/login", {"account": unit["uscc"], "password": STRONG_PASSWORD})
    assert again.status == 200  # the password is unchanged


async def test_logout_revokes_the_token_and_clears_the_cookies(api: ApiClient, settings: Settings) -> None:
    _, unit = await register_unit(api, settings.sms_outbox)
    session, xsrf, _ = await cookie_login(api, unit["uscc"], STRONG_PASSWORD)
    r = await api.post("/api/v1/auth/logout", headers={**cookie_header(session, xsrf), "X-XSRF-Token": xsrf})
    assert r.status == 200
    jar = cookies_of(r)
    assert jar["session"].value == "" and jar["XSRF-TOKEN"].value == ""
    gone = await api.get("/api/v1/me", headers=cookie_header(session))
    assert gone.status == 401 and gone.error_code == "invalid_token"
    assert cookies_of(gone)["session"].value == ""  # a dead cookie is cleared


async def test_cookie_follows_token_revocation(api: ApiClient, settings: Settings) -> None:
    """A password reset revokes every login: the cookie's token too (the same token, the same rules)."""
    _, unit = await register_unit(api, settings.sms_outbox)
    session, _, _ = await cookie_login(api, unit["uscc"], STRONG_PASSWORD)
    code = await sms_code(api, settings.sms_outbox, unit["phone"], "reset")
    r = await api.post("/api/v1/auth/password/reset",
                       {"account": unit["uscc"], "sms_code": code, "new_password": STRONG_PASSWORD + "x"})
    assert r.status == 200, r.body
    assert (await api.get("/api/v1/me", headers=cookie_header(session))).status == 401


async def test_registration_can_answer_with_the_cookie(api: ApiClient, settings: Settings) -> None:
    body = trainee_body()
    body["sms_code"] = await sms_code(api, Path(settings.sms_outbox), body["phone"])
    r = await api.post("/api/v1/auth/register/trainee", body, headers=COOKIE_LOGIN)
    assert r.status == 201 and r.json["token"] == ""
    session = cookies_of(r)["session"].value
    assert (await api.get("/api/v1/me", headers=cookie_header(session))).json["role"] == "trainee"


async def test_bearer_wins_over_a_cookie(api: ApiClient, settings: Settings) -> None:
    """With both, the Authorization header is used and no XSRF header is needed."""
    token, _ = await register_unit(api, settings.sms_outbox)
    r = await api.post("/api/v1/addresses", {"recipient": "张三", "phone": "13800138000", "region": "上海市",
                                             "address": "浦东新区 1 号"},
                       token=token, headers=cookie_header("not-a-live-token", "x"))
    assert r.status == 201
