"""WeChat login and binding over real HTTP, with a local stub of the WeChat server API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import build_services
from tests import factories
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.factories import STRONG_PASSWORD, register_trainee, sms_code
from tests.wechat_stub import WeChatStub


@pytest.fixture
async def wx(
    make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]], wechat_stub: WeChatStub
) -> AsyncIterator[tuple[ApiClient, Settings]]:
    """The app with its WeChat adapter pointed at the stub."""
    settings = make_settings(**wechat_stub.settings_overrides())
    services = build_services(settings, db)
    try:
        async with serve_app(settings, services) as api:
            yield api, settings
    finally:
        await services.close()


async def _ticket(api: ApiClient, stub: WeChatStub, code: str, openid: str, session_key: str = "SK-secret-1") -> str:
    stub.add_code(code, openid, session_key=session_key)
    r = await api.post("/api/v1/auth/wechat", {"code": code})
    assert r.status == 409 and r.error_code == "wechat_not_bound", r.body
    return r.json["error"]["details"]["bind_ticket"]


async def test_unbound_wechat_binds_with_password_then_logs_in_silently(
    wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub, db: AsyncDatabase[dict[str, Any]]
) -> None:
    api, settings = wx
    _, body = await register_trainee(api, settings.sms_outbox)
    ticket = await _ticket(api, wechat_stub, "code-1", "openid-A", session_key="SK-very-secret")
    r = await api.post("/api/v1/auth/wechat/bind",
                       {"bind_ticket": ticket, "account": body["id_number"], "password": STRONG_PASSWORD})
    assert r.status == 200 and r.json["role"] == "trainee"
    assert (await api.get("/api/v1/me", token=r.json["token"])).json["wechat_bound"] is True

    wechat_stub.add_code("code-2", "openid-A", session_key="SK-new-secret")
    again = await api.post("/api/v1/auth/wechat", {"code": "code-2"})
    assert again.status == 200 and again.json["token"]
    # The session_key stays on the server, encrypted: in no answer, in no stored field.
    stored = repr([doc async for doc in db["accounts"].find({})])
    for secret in ("SK-very-secret", "SK-new-secret"):
        assert secret not in stored and secret.encode() not in r.body + again.body


async def test_bind_with_an_sms_code(wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub) -> None:
    api, settings = wx
    _, body = await register_trainee(api, settings.sms_outbox)
    ticket = await _ticket(api, wechat_stub, "code-3", "openid-B")
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="bind")
    r = await api.post("/api/v1/auth/wechat/bind",
                       {"bind_ticket": ticket, "account": body["id_number"], "sms_code": code})
    assert r.status == 200, r.body


async def test_forged_or_reused_ticket_is_refused(wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub) -> None:
    api, settings = wx
    _, body = await register_trainee(api, settings.sms_outbox)
    forged = {"bind_ticket": "x" * 43, "account": body["id_number"], "password": STRONG_PASSWORD}
    r = await api.post("/api/v1/auth/wechat/bind", forged)
    assert r.status == 401 and r.error_code == "bind_ticket_invalid"
    ticket = await _ticket(api, wechat_stub, "code-4", "openid-C")
    used = {**forged, "bind_ticket": ticket}
    assert (await api.post("/api/v1/auth/wechat/bind", used)).status == 200
    assert (await api.post("/api/v1/auth/wechat/bind", used)).error_code == "bind_ticket_invalid"


async def test_one_wechat_one_account(wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub) -> None:
    api, settings = wx
    _, first = await register_trainee(api, settings.sms_outbox)
    _, second = await register_trainee(api, settings.sms_outbox)
    # Two tickets for the same WeChat user, raced onto two accounts: one binding wins.
    t1 = await _ticket(api, wechat_stub, "code-5", "openid-D")
    t2 = await _ticket(api, wechat_stub, "code-6", "openid-D")
    answers = await asyncio.gather(
        api.post("/api/v1/auth/wechat/bind", {"bind_ticket": t1, "account": first["id_number"],
                                              "password": STRONG_PASSWORD}),
        api.post("/api/v1/auth/wechat/bind", {"bind_ticket": t2, "account": second["id_number"],
                                              "password": STRONG_PASSWORD}),
    )
    assert sorted(a.status for a in answers) == [200, 409]
    assert next(a for a in answers if a.status == 409).error_code == "wechat_bound_elsewhere"
    # And an account already bound refuses a second WeChat.
    t3 = await _ticket(api, wechat_stub, "code-7", "openid-E")
    winner = first if answers[0].status == 200 else second
    r = await api.post("/api/v1/auth/wechat/bind", {"bind_ticket": t3, "account": winner["id_number"],
                                                    "password": STRONG_PASSWORD})
    assert r.status == 409 and r.error_code == "account_wechat_bound"


async def test_wrong_password_does_not_bind(wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub) -> None:
    api, settings = wx
    _, body = await register_trainee(api, settings.sms_outbox)
    ticket = await _ticket(api, wechat_stub, "code-8", "openid-F")
    r = await api.post("/api/v1/auth/wechat/bind",
                       {"bind_ticket": ticket, "account": body["id_number"], "password": "Wrong-pass-123"})
    assert r.status == 401
    # The ticket survives a typo.
    r = await api.post("/api/v1/auth/wechat/bind",
                       {"bind_ticket": ticket, "account": body["id_number"], "password": STRONG_PASSWORD})
    assert r.status == 200


async def test_invalid_code_and_wechat_down(wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub) -> None:
    api, _ = wx
    r = await api.post("/api/v1/auth/wechat", {"code": "never-issued"})
    assert r.status == 401 and r.error_code == "wechat_code_invalid"
    wechat_stub.mode = "busy"
    r = await api.post("/api/v1/auth/wechat", {"code": "anything"})
    assert r.status == 503 and r.error_code == "wechat_unavailable"


async def test_binding_by_sms_code_is_throttled_like_password_login(
    wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub
) -> None:
    api, settings = wx
    _, body = await register_trainee(api, settings.sms_outbox)
    ticket = await _ticket(api, wechat_stub, "code-9", "openid-G")
    probe = {"bind_ticket": ticket, "account": body["id_number"], "sms_code": "123456"}
    answers = [await api.post("/api/v1/auth/wechat/bind", probe) for _ in range(6)]
    assert [a.status for a in answers] == [422] * 5 + [429]
    # Unknown accounts too: from one address, the 31st probe of any account is refused.
    # (The sixth attempt above stopped at the per-account-and-address window: five counted so far.)
    unknown = [await api.post("/api/v1/auth/wechat/bind", {**probe, "account": factories.resident_id()})
               for _ in range(26)]
    assert [a.status for a in unknown] == [401] * 25 + [429]
    assert unknown[0].error_code == "account_not_found"


async def test_binding_by_sms_checks_the_status_before_the_code_is_used(
    wx: tuple[ApiClient, Settings], wechat_stub: WeChatStub, db: AsyncDatabase[dict[str, Any]]
) -> None:
    api, settings = wx
    _, body = await register_trainee(api, settings.sms_outbox)
    ticket = await _ticket(api, wechat_stub, "code-10", "openid-H")
    code = await sms_code(api, settings.sms_outbox, body["phone"], purpose="bind")
    bind = {"bind_ticket": ticket, "account": body["id_number"], "sms_code": code}
    # A disabled account is refused on its status; the code stays usable once it is enabled again.
    await db["accounts"].update_one({"role": "trainee"}, {"$set": {"status": "disabled"}})
    r = await api.post("/api/v1/auth/wechat/bind", bind)
    assert r.status == 403 and r.error_code == "account_not_active"
    await db["accounts"].update_one({"role": "trainee"}, {"$set": {"status": "active"}})
    r = await api.post("/api/v1/auth/wechat/bind", bind)
    assert r.status == 200, r.body
