"""Unit staff: add one, bind, list/search, edit, unbind, export; other units' staff are 404."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from urllib.parse import quote

from bson import ObjectId

from server.config import Settings
from server.services import Principal
from server.services.staff.staff import StaffService
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.factories import register_trainee, resident_id
from tests.staff_helpers import form_body, multipart, staff_service_like, unit_client, verified_unit_client

PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()


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


async def test_bind_list_search_edit_unbind(api: ApiClient, settings: Settings, services) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    token, person = await register_trainee(api, settings.sms_outbox, name="孙七")
    r = await unit.post("/api/v1/unit/staff/bind", {"name": "孙七", "id_number": person["id_number"]})
    assert r.status == 200, r.body
    tid = r.json["id"]
    r = await unit.post("/api/v1/unit/staff/bind", {"name": "孙七", "id_number": person["id_number"]})
    assert r.status == 409 and r.error_code == "already_bound"
    # the person consents (test_binding.py covers the limited view before)
    unit_id = (await unit.get("/api/v1/me")).json["id"]
    assert (await api.post(f"/api/v1/me/units/{unit_id}/consent", token=token)).status == 200
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
    detail = (await unit.get(f"/api/v1/unit/staff/{tid}")).json  # masked, computed from the sealed values
    assert (detail["email"], detail["id_number"]) == ("s***@example.com", item["id_masked"])
    r = await unit.put(f"/api/v1/unit/staff/{tid}", {**edit, "id_number": resident_id()})
    assert r.status == 422
    assert (await unit.delete(f"/api/v1/unit/staff/{tid}")).status == 200
    assert (await unit.get("/api/v1/unit/staff")).json["total"] == 0
    assert (await unit.delete(f"/api/v1/unit/staff/{tid}")).status == 404
    # the trainee keeps the account
    r = await api.post("/api/v1/auth/login", {"account": person["id_number"], "password": person["password"]})
    assert r.status == 200


async def test_bind_name_mismatch_is_not_found(api: ApiClient, settings: Settings, services) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    _, person = await register_trainee(api, settings.sms_outbox, name="周八")
    wrong = await unit.post("/api/v1/unit/staff/bind", {"name": "周九", "id_number": person["id_number"]})
    unknown = await unit.post("/api/v1/unit/staff/bind", {"name": "周八", "id_number": resident_id()})
    assert wrong.status == unknown.status == 404
    assert wrong.json == unknown.json and wrong.error_code == "trainee_not_found"


async def test_bound_elsewhere_and_concurrent_binds(api: ApiClient, settings: Settings, services) -> None:
    units = [await verified_unit_client(api, settings.sms_outbox, services) for _ in range(4)]
    _, person = await register_trainee(api, settings.sms_outbox, name="吴九")
    body = {"name": "吴九", "id_number": person["id_number"]}
    answers = await asyncio.gather(*(u.post("/api/v1/unit/staff/bind", body) for u in units))
    assert sorted(a.status for a in answers) == [200, 404, 404, 404]
    # bound elsewhere answers like an unknown pair: a stranger does not learn where the person works
    assert {a.error_code for a in answers if a.status == 404} == {"trainee_not_found"}
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
    # sealed at rest, in full in the unit's export (it manages its staff)
    assert "zhaoliu@example.com" in values and any(str(v).startswith("1990-03-07") for v in values)
    assert await services.db["audit_log"].count_documents({"action": "staff.export"}) == 1


async def _audited_fields(services, subject_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    entry = await services.db["audit_log"].find_one({"action": "staff.update", "subject_id": ObjectId(subject_id)},
                                                    sort=[("_id", -1)])
    return entry["details"]["fields"]


async def test_unit_edits_identity_only_of_its_own_pending_accounts(
    api: ApiClient, settings: Settings, services
) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    # a registered trainee bound by the unit, who consented: the name is still theirs
    token, person = await register_trainee(api, settings.sms_outbox, name="钱十一")
    bound = (await unit.post("/api/v1/unit/staff/bind", {"name": "钱十一", "id_number": person["id_number"]})).json["id"]
    unit_id = (await unit.get("/api/v1/me")).json["id"]
    assert (await api.post(f"/api/v1/me/units/{unit_id}/consent", token=token)).status == 200
    edit = {"email": "q@example.com", "work_start": "2010-01", "specialty": "测绘", "address": "上海", "position": "总工"}
    for change in ({"name": "钱十二"}, {"sex": "female"}, {"birth_date": "1990-03-08"}):
        r = await unit.put(f"/api/v1/unit/staff/{bound}", {**edit, **change})
        assert r.status == 422 and r.error_code == "staff_identity_locked", r.body
        assert set(r.json["error"]["details"]["fields"]) == set(change)
    # the same name (typed in full width) or none at all keeps it, and the edit goes through
    r = await unit.put(f"/api/v1/unit/staff/{bound}", {**edit, "name": "钱十一 "})
    assert r.status == 200 and r.json["name"] == "钱十一" and r.json["position"] == "总工", r.body
    assert "name" not in await _audited_fields(services, bound) and "position" in await _audited_fields(services, bound)
    r = await unit.put(f"/api/v1/unit/staff/{bound}", {**edit, "position": "院长"})
    assert r.status == 200 and await _audited_fields(services, bound) == ["position"]
    # an account the unit created, still pending: the unit fixes its own typing
    created = (await unit.post("/api/v1/unit/staff", form_body(name="赵陆"))).json["id"]
    r = await unit.put(f"/api/v1/unit/staff/{created}", {**edit, "name": "赵六"})
    assert r.status == 200 and r.json["name"] == "赵六", r.body
    assert "name" in await _audited_fields(services, created)
    # once the person activated it, no more
    await services.db["accounts"].update_one({"_id": ObjectId(created)}, {"$set": {"status": "active"}})
    r = await unit.put(f"/api/v1/unit/staff/{created}", {**edit, "name": "赵七"})
    assert r.status == 422 and r.error_code == "staff_identity_locked"
    assert (await services.db["accounts"].find_one({"_id": ObjectId(created)}))["name"] == "赵六"


async def test_unit_uploads_a_staff_photo(api: ApiClient, settings: Settings, services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    tid = (await unit.post("/api/v1/unit/staff", form_body())).json["id"]
    path = f"/api/v1/unit/staff/{tid}/photo"
    r = await unit.request("PUT", path, body=PORTRAIT, headers={"Content-Type": "image/jpeg"})
    assert r.status == 422 and r.error_code == "consent_required"
    body, content_type = multipart([("photo", "me.jpg", PORTRAIT)], {"consent": "true"})
    r = await unit.request("PUT", path, body=body, headers={"Content-Type": content_type})
    assert r.status == 200 and (r.json["width"], r.json["height"]) == (295, 413), r.body
    assert (await unit.get("/api/v1/unit/staff")).json["items"][0]["has_photo"] is True
    r = await unit.get(f"/api/v1/trainees/{tid}/photo")
    assert r.status == 200 and r.body[:3] == b"\xff\xd8\xff"
    # the consent record says who confirmed it: the unit
    unit_doc = await services.db["accounts"].find_one({"role": "unit"})
    consent = (await services.db["accounts"].find_one({"_id": ObjectId(tid)}))["trainee"]["consents"]["photo"]
    assert consent["by"] == unit_doc["_id"] and consent["by_role"] == "unit"


async def test_id_search_folds_full_width(api: ApiClient, settings: Settings) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    number = resident_id()
    await unit.post("/api/v1/unit/staff", form_body(id_number=number))
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in number)  # １１０１…
    for typed in (number, wide, f" {number[:6]} {number[6:]} ", number.lower()):
        r = await unit.get(f"/api/v1/unit/staff?id_number={quote(typed)}")
        assert r.json["total"] == 1, typed


async def _activated_midway(api: ApiClient, settings: Settings, services, *, guard: bool):  # type: ignore[no-untyped-def]
    unit = await unit_client(api, settings.sms_outbox)
    tid = (await unit.post("/api/v1/unit/staff", form_body(name="孙拾"))).json["id"]

    class ActivatedMidway(StaffService):
        async def own_in_full(self, unit: Principal, trainee_id: str) -> dict:  # type: ignore[type-arg]
            account = await super().own_in_full(unit, trainee_id)
            # the person activates the account between the unit's check and its write
            await services.db["accounts"].update_one({"_id": account["_id"]}, {"$set": {"status": "active"}})
            return account

    class Unguarded(ActivatedMidway):  # the control: the write does not re-check "still pending, still ours"
        @staticmethod
        def _identity_write_guard(unit: Principal) -> dict:  # type: ignore[type-arg]
            return {}

    racing = staff_service_like(services, ActivatedMidway if guard else Unguarded)
    edit = {"name": "孙十", "email": "s@example.com", "work_start": "2015-07", "specialty": "x", "address": "y"}
    async with serve_app(settings, dataclasses.replace(services, staff=racing)) as other:
        r = await other.with_token(unit.token).put(f"/api/v1/unit/staff/{tid}", edit)
    return r, (await services.db["accounts"].find_one({"_id": ObjectId(tid)}))["name"]


async def test_identity_edit_racing_an_activation_is_refused(api: ApiClient, settings: Settings, services) -> None:
    r, name = await _activated_midway(api, settings, services, guard=True)
    assert r.status == 422 and r.error_code == "staff_identity_locked" and name == "孙拾"


async def test_control_without_the_identity_guard_renames_an_active_account(
    api: ApiClient, settings: Settings, services
) -> None:
    r, name = await _activated_midway(api, settings, services, guard=False)
    assert r.status == 200 and name == "孙十"  # the bug the guard prevents
