"""``/api/v1/me/subscriptions`` over real HTTP: the mini-program reports consent, the person sees it;
the consent is part of the person's data (export) and goes with the account (deletion)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId

from server.config import Settings
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD, register_trainee

TEMPLATES = {"wechat_template_payment_approved": "tmpl-APPROVED-0001",
             "wechat_template_payment_rejected": "tmpl-REJECTED-0002",
             "wechat_template_invoice_ready": "tmpl-INVOICE-0003"}  # deadline_near: none configured
PATH = "/api/v1/me/subscriptions"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Three templates configured (the deadline reminder goes by SMS)."""
    return make_settings(**TEMPLATES)


def items(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["kind"]: item for item in body["items"]}


async def test_the_answers_of_the_prompt_are_counted_per_kind(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    me = api.with_token(token)
    shown = items((await me.get(PATH)).json)
    assert shown["payment_approved"] == {"kind": "payment_approved", "label": "缴费审核通过", "available": True,
                                         "template_id": "tmpl-APPROVED-0001", "remaining": 0, "banned": False,
                                         "last_result": None, "updated_at": None}
    assert shown["payment_deadline_near"]["available"] is False
    # wx.requestSubscribeMessage's answer, as it comes (errMsg included)
    prompt = {"results": {"tmpl-APPROVED-0001": "accept", "tmpl-REJECTED-0002": "reject",
                          "tmpl-INVOICE-0003": "accept", "errMsg": "requestSubscribeMessage:ok"}}
    r = await me.post(PATH, prompt)
    assert r.status == 200, r.body
    assert (await me.post(PATH, {"kinds": ["payment_approved"]})).status == 200
    shown = items((await me.get(PATH)).json)
    assert (shown["payment_approved"]["remaining"], shown["invoice_ready"]["remaining"]) == (2, 1)
    assert shown["payment_rejected"]["remaining"] == 0 and shown["payment_rejected"]["last_result"] == "reject"
    assert (await me.get(PATH)).json["wechat_bound"] is False
    # "always decline" in WeChat: the credits are gone and the switch is shown
    r = await me.post(PATH, {"results": {"tmpl-APPROVED-0001": "ban"}})
    assert items(r.json)["payment_approved"]["remaining"] == 0 and items(r.json)["payment_approved"]["banned"]


@pytest.mark.parametrize("body", [
    {"results": {"tmpl-UNKNOWN": "accept"}},
    {"results": {"tmpl-APPROVED-0001": "accept", "tmpl-INVOICE-0003": "maybe"}},
    {"kinds": ["waitlist_offer"]},
    {},
    {"results": {"errMsg": "requestSubscribeMessage:fail cancel"}},
    {"kinds": ["payment_approved"], "amount": 1},
])
async def test_bad_reports_are_refused_and_change_nothing(api: ApiClient, settings: Settings, services: Services,
                                                          body: dict[str, Any]) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await api.post(PATH, body, token=token)
    assert r.status == 422, r.body
    assert r.json["error"]["message"]
    assert await services.db["notify_subscriptions"].count_documents({}) == 0


async def test_only_the_person_reports_their_consent(api: ApiClient, services: Services) -> None:
    assert (await api.get(PATH)).status == 401
    assert (await api.post(PATH, {"kinds": ["payment_approved"]})).status == 401
    admin = await factories.staff_token(services)
    assert (await api.post(PATH, {"kinds": ["payment_approved"]}, token=admin)).status == 403
    assert await services.db["notify_subscriptions"].count_documents({}) == 0


async def test_consent_is_exported_and_deleted_with_the_account(api: ApiClient, settings: Settings,
                                                               services: Services) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    me = api.with_token(token)
    assert (await me.post(PATH, {"kinds": ["invoice_ready"]})).status == 200
    r = await me.get("/api/v1/me/data-export")
    assert r.status == 200
    data = json.loads(zipfile.ZipFile(io.BytesIO(r.body)).read("data.json"))
    assert data["notify_subscriptions"]["counts"] == {"invoice_ready": 1}
    me_id = ObjectId((await me.get("/api/v1/me")).json["id"])
    r = await me.post("/api/v1/me/deletion", {"password": STRONG_PASSWORD, "confirm": True})
    assert r.status == 200, r.body
    assert await services.db["notify_subscriptions"].find_one({"_id": me_id}) is None
