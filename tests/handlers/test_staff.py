"""Unit staff: add one, bind, list/search, edit, unbind, export; other units' staff are 404."""

from __future__ import annotations

import asyncio

from server.config import Settings
from tests.client import ApiClient
from tests.factories import register_trainee, resident_id
from tests.staff_helpers import form_body, unit_client


async def test_add_one_creates_pending_bound_account(api: ApiClient, settings: Settings, services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    body = form_body()
    r = await unit.post("/api/v1/unit/staff", body)
    assert r.status == 201, r.body
    created = r.json
    assert created["status"] == "pending" and len(created["one_time_secret"]) == 24
    doc = await services.db["accounts"].find_one({"name": "赵六"})
    assert doc["trainee"]["unit_id"] is not None and doc["trainee"]["specialty"] == "工程测量"
    assert body["id_number"] not in str(doc) and body["phone"] not in str(doc)  # encrypted at rest
    # logging in with the one-time secret works (restricted token)
    r = await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": created["one_time_secret"]})
    assert r.status == 200 and r.json["must_change_password"] is True
    # the same ID again → 409 pointing to bind
    r = await unit.post("/api/v1/unit/staff", form_body(id_number=body["id_number"]))
    assert r.status == 409 and r.error_code == "account_exists" and "bind" in r.json["error"]["details"]


async def test_add_one_refuses_birth_date_against_id(api: ApiClient, settings: Settings) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    r = await unit.post("/api/v1/unit/staff", form_body(birth_date="1980-01-01"))
    assert r.status == 422 and "birth_date" in r.json["error"]["details"]["fields"]


async def test_bind_list_search_edit_unbind(api: ApiClient, settings: Settings) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    _, person = await register_trainee(api, settings.sms_outbox, name="孙七")
    r = await unit.post("/api/v1/unit/staff/bind", {"name": "孙七", "id_number": person["id_number"]})
    assert r.status == 200, r.body
    tid = r.json["id"]
    r = await unit.post("/api/v1/unit/staff/bind", {"name": "孙七", "id_number": person["id_number"]})
    assert r.status == 409 and r.error_code == "already_bound"
    r = await unit.get("/api/v1/unit/staff")
    assert r.json["total"] == 1
    item = r.json["items"][0]
    assert item["id_masked"].count("*") == 10 and "****" in item["phone_masked"] and item["has_photo"] is False
    for query, total in ((f"id_number={person['id_number']}", 1), (f"id_number={resident_id()}", 0),
                         (f"phone={person['phone']}", 1), ("name=%E5%AD%99", 1), ("name=%E6%9D%8E", 0)):
        assert (await unit.get(f"/api/v1/unit/staff?{query}")).json["total"] == total, query
    edit = {"name": "孙七", "email": "s@example.com", "work_start": "2010-01", "specialty": "测绘",
            "address": "上海", "position": "总工"}
    r = await unit.put(f"/api/v1/unit/staff/{tid}", edit)
    assert r.status == 200 and r.json["position"] == "总工"
    r = await unit.put(f"/api/v1/unit/staff/{tid}", {**edit, "id_number": resident_id()})
    assert r.status == 422
    assert (await unit.delete(f"/api/v1/unit/staff/{tid}")).status == 200
    assert (await unit.get("/api/v1/unit/staff")).json["total"] == 0
    assert (await unit.delete(f"/api/v1/unit/staff/{tid}")).status == 404
    # the trainee keeps the account
    r = await api.post("/api/v1/auth/login", {"account": person["id_number"], "password": person["password"]})
    assert r.status == 200


async def test_bind_name_mismatch_is_not_found(api: ApiClient, settings: Settings) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    _, person = await register_trainee(api, settings.sms_outbox, name="周八")
    wrong = await unit.post("/api/v1/unit/staff/bind", {"name": "周九", "id_number": person["id_number"]})
    unknown = await unit.post("/api/v1/unit/staff/bind", {"name": "周八", "id_number": resident_id()})
    assert wrong.status == unknown.status == 404
    assert wrong.json == unknown.json and wrong.error_code == "trainee_not_found"


async def test_bound_elsewhere_and_concurrent_binds(api: ApiClient, settings: Settings) -> None:
    units = [await unit_client(api, settings.sms_outbox) for _ in range(4)]
    _, person = await register_trainee(api, settings.sms_outbox, name="吴九")
    body = {"name": "吴九", "id_number": person["id_number"]}
    answers = await asyncio.gather(*(u.post("/api/v1/unit/staff/bind", body) for u in units))
    assert sorted(a.status for a in answers) == [200, 409, 409, 409]
    assert {a.error_code for a in answers if a.status == 409} == {"bound_elsewhere"}
    assert sum([(await u.get("/api/v1/unit/staff")).json["total"] for u in units]) == 1


async def test_other_units_staff_is_404_everywhere(api: ApiClient, settings: Settings) -> None:
    mine, other = await unit_client(api, settings.sms_outbox), await unit_client(api, settings.sms_outbox)
    tid = (await mine.post("/api/v1/unit/staff", form_body())).json["id"]
    edit = {"name": "赵六", "email": "z@example.com", "work_start": "2015-07", "specialty": "x", "address": "y"}
    for r in (await other.get(f"/api/v1/unit/staff/{tid}"), await other.put(f"/api/v1/unit/staff/{tid}", edit),
              await other.delete(f"/api/v1/unit/staff/{tid}"),
              await other.request("PUT", f"/api/v1/unit/staff/{tid}/photo?consent=true", body=b"\xff\xd8\xff",
                                  headers={"Content-Type": "image/jpeg"}),
              await mine.get("/api/v1/unit/staff/not-an-id")):
        assert r.status == 404, r.body
    assert (await mine.get(f"/api/v1/unit/staff/{tid}")).status == 200
    assert (await other.get("/api/v1/unit/staff")).json["total"] == 0


async def test_trainee_cannot_use_unit_paths(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    assert (await api.with_token(token).get("/api/v1/unit/staff")).status == 403


async def test_export_full_values_and_audited(api: ApiClient, settings: Settings, services) -> None:
    import io

    from openpyxl import load_workbook

    unit = await unit_client(api, settings.sms_outbox)
    body = form_body(name="=HYPERLINK(1)")
    r = await unit.post("/api/v1/unit/staff", body)
    assert r.status == 422 or r.status == 201
    await unit.post("/api/v1/unit/staff", form_body(remarks="=cmd|x", name="郑十", id_number=(n := resident_id())))
    r = await unit.get("/api/v1/unit/staff/export.xlsx")
    assert r.status == 200
    sheet = load_workbook(io.BytesIO(r.body)).active
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert n in values and "'=cmd|x" in values and "=cmd|x" not in values
    assert await services.db["audit_log"].count_documents({"action": "staff.export"}) == 1
