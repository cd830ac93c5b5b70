"""Shipping-address and invoice templates of trainees and units, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services
from tests.client import ApiClient
from tests.factories import phone, register_trainee, register_unit, staff_token, uscc

pytestmark = pytest.mark.usefixtures("db")


def address_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"recipient": "王五", "phone": phone(), "region": "上海市 徐汇区",
                            "address": "宜山路 700 号 1 号楼", "postcode": "200233"}
    body.update(overrides)
    return body


def invoice_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "normal", "medium": "electronic", "title_type": "company",
                            "title": "上海某某勘察设计有限公司", "tax_id": uscc(), "email": "finance@example.com"}
    body.update(overrides)
    return body


@pytest.fixture
async def trainee(api: ApiClient, settings: Settings) -> str:
    token, _ = await register_trainee(api, settings.sms_outbox)
    return token


async def test_address_crud_phone_encrypted_at_rest(
    api: ApiClient, trainee: str, db: AsyncDatabase[dict[str, Any]]
) -> None:
    body = address_body()
    r = await api.post("/api/v1/addresses", body, token=trainee)
    assert r.status == 201, r.body
    created = r.json
    assert created["phone"] == body["phone"] and created["is_default"] is True  # the first one is the default
    stored = await db["addresses"].find_one({"_id": ObjectId(created["id"])})
    assert stored is not None and body["phone"] not in str(stored)
    r = await api.put(f"/api/v1/addresses/{created['id']}", address_body(recipient="赵六"), token=trainee)
    assert r.status == 200 and r.json["recipient"] == "赵六" and r.json["is_default"] is False
    listed = (await api.get("/api/v1/addresses", token=trainee)).json
    assert listed["total"] == 1 and listed["items"][0]["recipient"] == "赵六"
    assert (await api.delete(f"/api/v1/addresses/{created['id']}", token=trainee)).status == 200
    assert (await api.get("/api/v1/addresses", token=trainee)).json["total"] == 0
    actions = {e["action"] async for e in db["audit_log"].find({"subject_id": ObjectId(created["id"])})}
    assert actions == {"address.create", "address.update", "address.delete"}


@pytest.mark.parametrize(
    ("override", "field"),
    [({"phone": "12345"}, "phone"), ({"postcode": "20023"}, "postcode"), ({"recipient": ""}, "recipient"),
     ({"region": " "}, "region"), ({"address": "x" * 201}, "address")],
)
async def test_bad_address_is_422(api: ApiClient, trainee: str, override: dict[str, Any], field: str) -> None:
    r = await api.post("/api/v1/addresses", address_body(**override), token=trainee)
    assert r.status == 422 and field in r.json["error"]["details"]["fields"], r.body


async def test_other_owners_template_is_404(api: ApiClient, settings: Settings, trainee: str) -> None:
    unit, _ = await register_unit(api, settings.sms_outbox)
    mine = (await api.post("/api/v1/addresses", address_body(), token=trainee)).json
    invoice = (await api.post("/api/v1/invoice-templates", invoice_body(), token=trainee)).json
    for path, body in ((f"/api/v1/addresses/{mine['id']}", address_body()),
                       (f"/api/v1/invoice-templates/{invoice['id']}", invoice_body())):
        assert (await api.put(path, body, token=unit)).status == 404
        assert (await api.delete(path, token=unit)).status == 404
    assert (await api.get("/api/v1/addresses", token=unit)).json["total"] == 0
    assert (await api.delete("/api/v1/addresses/garbage", token=trainee)).status == 404


async def test_staff_and_anonymous_have_no_templates(api: ApiClient, services: Services) -> None:
    admin = await staff_token(services, "admin")
    assert (await api.get("/api/v1/addresses", token=admin)).status == 403
    assert (await api.post("/api/v1/invoice-templates", invoice_body())).status == 401


async def test_setting_a_default_clears_the_other(api: ApiClient, trainee: str) -> None:
    first = (await api.post("/api/v1/addresses", address_body(), token=trainee)).json
    second = (await api.post("/api/v1/addresses", address_body(is_default=True), token=trainee)).json
    items = (await api.get("/api/v1/addresses", token=trainee)).json["items"]
    assert [(i["id"], i["is_default"]) for i in items] == [(second["id"], True), (first["id"], False)]


async def test_two_concurrent_defaults_leave_exactly_one(
    api: ApiClient, trainee: str, db: AsyncDatabase[dict[str, Any]]
) -> None:
    for collection, path, make in (("addresses", "/api/v1/addresses", address_body),
                                   ("invoice_templates", "/api/v1/invoice-templates", invoice_body)):
        ids = [(await api.post(path, make(), token=trainee)).json["id"] for _ in range(4)]
        for _ in range(5):
            answers = await asyncio.gather(
                *(api.put(f"{path}/{i}", make(is_default=True), token=trainee) for i in ids)
            )
            assert {a.status for a in answers} == {200}, [a.body for a in answers]
            assert await db[collection].count_documents({"is_default": True}) == 1


async def test_limit_per_owner(api: ApiClient, trainee: str) -> None:
    for _ in range(20):
        assert (await api.post("/api/v1/addresses", address_body(), token=trainee)).status == 201
    r = await api.post("/api/v1/addresses", address_body(), token=trainee)
    assert r.status == 409 and r.error_code == "too_many_templates"
    # Deleting one frees a slot.
    first = (await api.get("/api/v1/addresses", token=trainee)).json["items"][0]["id"]
    assert (await api.delete(f"/api/v1/addresses/{first}", token=trainee)).status == 200
    assert (await api.post("/api/v1/addresses", address_body(), token=trainee)).status == 201


async def test_limit_holds_under_concurrent_creates(api: ApiClient, trainee: str,
                                                    db: AsyncDatabase[dict[str, Any]]) -> None:
    answers = await asyncio.gather(*(api.post("/api/v1/addresses", address_body(), token=trainee)
                                     for _ in range(30)))
    assert sorted(a.status for a in answers) == [201] * 20 + [409] * 10
    assert await db["addresses"].count_documents({}) == 20


async def test_invoice_templates_crud(api: ApiClient, settings: Settings) -> None:
    unit, _ = await register_unit(api, settings.sms_outbox)
    body = invoice_body(kind="special", medium="paper", email=None, address_phone="上海市徐汇区 021-64000000",
                        bank_account="中国银行上海分行 4500 0000 0000", tax_id=uscc().lower())
    r = await api.post("/api/v1/invoice-templates", body, token=unit)
    assert r.status == 201, r.body
    assert r.json["tax_id"] == body["tax_id"].upper() and r.json["is_default"] is True
    personal = invoice_body(title_type="personal", title="张三", tax_id="")
    r2 = await api.put(f"/api/v1/invoice-templates/{r.json['id']}", personal, token=unit)
    assert r2.status == 200 and r2.json["title_type"] == "personal" and r2.json["tax_id"] == ""
    assert (await api.get("/api/v1/invoice-templates", token=unit)).json["total"] == 1


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"tax_id": ""}, "tax_id"),  # a company needs its taxpayer number
        ({"tax_id": "91310000000000000X"}, "tax_id"),  # wrong check character
        ({"title_type": "personal", "tax_id": "110105199003070011"}, "tax_id"),  # no ID numbers in clear
        ({"kind": "special", "address_phone": "上海 021-1", "bank_account": ""}, "bank_account"),
        ({"kind": "special", "bank_account": "中国银行 1"}, "address_phone"),
        ({"kind": "special", "title_type": "personal", "tax_id": "", "address_phone": "a", "bank_account": "b"},
         "kind"),
        ({"email": None}, "email"),  # an electronic invoice is sent by e-mail
        ({"medium": "fax"}, "medium"),
    ],
)
async def test_invoice_rules(api: ApiClient, trainee: str, override: dict[str, Any], field: str,
                             db: AsyncDatabase[dict[str, Any]]) -> None:
    r = await api.post("/api/v1/invoice-templates", invoice_body(**override), token=trainee)
    assert r.status == 422 and field in r.json["error"]["details"]["fields"], r.body
    assert await db["invoice_templates"].count_documents({}) == 0


async def test_service_lookups_for_enrollment(api: ApiClient, trainee: str, services: Services) -> None:
    me = ObjectId((await api.get("/api/v1/me", token=trainee)).json["id"])
    assert await services.templates.address_copy(me, None) is None  # no default yet
    body = address_body()
    created = (await api.post("/api/v1/addresses", body, token=trainee)).json
    copy = await services.templates.address_copy(me, created["id"])
    assert copy is not None and copy["id"] == created["id"] and copy["postcode"] == "200233"
    assert set(copy) == {"id", "recipient", "phone", "region", "address", "postcode"}
    assert copy["phone"] != body["phone"]  # the copy keeps the phone encrypted
    default = await services.templates.address_copy(me, None)
    assert default is not None and default["id"] == created["id"]
    assert services.templates.shown_address(copy)["phone"] == body["phone"]
    assert await services.templates.address_copy(ObjectId(), created["id"]) is None  # someone else's
    assert await services.templates.address_copy(me, "garbage") is None
