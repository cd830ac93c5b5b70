"""Binding a stranger (issue 10): unit verification, the uniform bind answer, limited access, consent.

Two units and several trainees over real HTTP. Each guard has a control run that
removes it in the test (a subclass or a patched rule) and shows the attack succeeding.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from openpyxl import load_workbook

from server.config import Settings
from server.services.container import Services
from server.services.staff import staff as staff_module
from server.services.staff.verification import UnitVerificationService
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.factories import register_trainee, resident_id, staff_token
from tests.outbox import wait_for_notes
from tests.staff_helpers import (
    LICENCE,
    form_body,
    multipart,
    staff_service_like,
    unit_client,
    verified_unit_client,
    verify_unit,
)

PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()
BIND = "/api/v1/unit/staff/bind"
EDIT = {"email": "attacker@example.com", "work_start": "2010-01", "specialty": "测绘", "address": "上海",
        "position": "总工"}


async def _id_of(client: ApiClient) -> str:
    return str((await client.get("/api/v1/me")).json["id"])


async def _notes(settings: Settings, account_id: str, kind: str) -> list[dict[str, Any]]:
    return await wait_for_notes(settings.notify_outbox, account_id, kind)


# ---- unit verification ---------------------------------------------------------------------------


async def test_verification_lifecycle(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    unit_id = await _id_of(unit)
    admin = await staff_token(services)
    r = await unit.get("/api/v1/unit/licence")
    assert r.json["status"] == "unverified" and r.json["can_bind"] is False
    # not an image → 415, nothing stored
    r = await unit.request("PUT", "/api/v1/unit/licence", body=b"%PDF-1.4", headers={"Content-Type": "image/jpeg"})
    assert r.status == 415 and r.json["error"]["message"]
    assert await services.db["unit_licences.files"].count_documents({}) == 0
    body, content_type = multipart([("licence", "执照.jpg", LICENCE)])
    r = await unit.request("PUT", "/api/v1/unit/licence", body=body, headers={"Content-Type": content_type})
    assert r.status == 200 and r.json["status"] == "pending" and r.json["has_licence"] is True, r.body
    # the queue, the licence (admins only), and a rejection needs a reason
    r = await api.get("/api/v1/admin/units", token=admin)
    assert [i["id"] for i in r.json["items"]] == [unit_id] and r.json["items"][0]["status"] == "pending"
    r = await api.get(f"/api/v1/admin/units/{unit_id}/licence", token=admin)
    assert r.status == 200 and r.body[:3] == b"\xff\xd8\xff"
    assert (await unit.get(f"/api/v1/admin/units/{unit_id}/licence")).status == 403
    assert (await unit.post(f"/api/v1/admin/units/{unit_id}/verification", {"decision": "approve"})).status == 403
    r = await api.post(f"/api/v1/admin/units/{unit_id}/verification", {"decision": "reject"}, token=admin)
    assert r.status == 422 and "reason" in r.json["error"]["details"]["fields"]
    r = await api.post(f"/api/v1/admin/units/{unit_id}/verification",
                       {"decision": "reject", "reason": "执照模糊"}, token=admin)
    assert r.status == 200 and r.json["status"] == "rejected"
    r = await unit.get("/api/v1/unit/licence")
    assert r.json["status"] == "rejected" and r.json["reason"] == "执照模糊"
    assert "执照模糊" in (await _notes(settings, unit_id, "unit_rejected"))[0]["text"]
    # deciding again is refused (only pending units are decided)
    r = await api.post(f"/api/v1/admin/units/{unit_id}/verification", {"decision": "approve"}, token=admin)
    assert r.status == 409 and r.error_code == "verification_not_pending"
    # a new upload replaces the old file, then the approval
    await verify_unit(api, unit, services)
    assert await services.db["unit_licences.files"].count_documents({}) == 1
    assert await _notes(settings, unit_id, "unit_verified")
    r = await unit.request("PUT", "/api/v1/unit/licence", body=LICENCE, headers={"Content-Type": "image/jpeg"})
    assert r.status == 409 and r.error_code == "unit_already_verified"
    actions = [e["action"] for e in await services.db["audit_log"].find({"subject_id": ObjectId(unit_id)}).to_list()]
    for action in ("unit.licence_upload", "unit.licence_view", "unit.verification_rejected",
                   "unit.verification_verified"):
        assert action in actions, action


async def test_unverified_unit_adds_people_but_cannot_bind(api: ApiClient, settings: Settings,
                                                           services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    _, person = await register_trainee(api, settings.sms_outbox, name="陈一")
    r = await unit.post(BIND, {"name": "陈一", "id_number": person["id_number"]})
    assert r.status == 403 and r.error_code == "unit_not_verified" and "营业执照" in r.json["error"]["message"]
    assert (await unit.post("/api/v1/unit/staff", form_body())).status == 201  # adding new people works
    await verify_unit(api, unit, services)
    assert (await unit.post(BIND, {"name": "陈一", "id_number": person["id_number"]})).status == 200


class _NoGate(UnitVerificationService):
    """The control: a verification service whose gate lets every unit through."""

    async def require_verified(self, unit: Any) -> dict[str, Any]:
        return await self.accounts.find_one({"_id": unit.account_id})  # type: ignore[return-value]


async def test_control_without_the_verification_gate_a_fresh_unit_binds(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    _, person = await register_trainee(api, settings.sms_outbox, name="陈二")
    services.staff.verification = _NoGate(services.db, audit=services.audit, notifier=services.notifier,
                                          executor=services.executor)
    try:
        unit = await unit_client(api, settings.sms_outbox)
        r = await unit.post(BIND, {"name": "陈二", "id_number": person["id_number"]})
    finally:
        services.staff.verification = services.unit_verification
    assert r.status == 200  # the attack of the issue: any self-registered unit binds a stranger


# ---- the bind answer ----------------------------------------------------------------------------------


async def test_every_refused_bind_answers_alike(api: ApiClient, settings: Settings, services: Services) -> None:
    mine = await verified_unit_client(api, settings.sms_outbox, services)
    other = await verified_unit_client(api, settings.sms_outbox, services)
    _, elsewhere = await register_trainee(api, settings.sms_outbox, name="林一")
    _, disabled = await register_trainee(api, settings.sms_outbox, name="林二")
    _, known = await register_trainee(api, settings.sms_outbox, name="林三")
    assert (await other.post(BIND, {"name": "林一", "id_number": elsewhere["id_number"]})).status == 200
    await services.db["accounts"].update_one({"name": "林二"}, {"$set": {"status": "disabled"}})
    answers = [
        await mine.post(BIND, {"name": "林九", "id_number": resident_id()}),  # no such number
        await mine.post(BIND, {"name": "林四", "id_number": known["id_number"]}),  # another name
        await mine.post(BIND, {"name": "林一", "id_number": elsewhere["id_number"]}),  # bound elsewhere
        await mine.post(BIND, {"name": "林二", "id_number": disabled["id_number"]}),  # disabled
    ]
    assert {a.status for a in answers} == {404}
    assert len({a.body for a in answers}) == 1 and answers[0].error_code == "trainee_not_found"


async def test_bind_tries_are_limited_per_unit(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    other = await verified_unit_client(api, settings.sms_outbox, services)
    for _ in range(staff_module.BIND_LIMIT_PER_HOUR):
        assert (await unit.post(BIND, {"name": "某某", "id_number": resident_id()})).status == 404
    r = await unit.post(BIND, {"name": "某某", "id_number": resident_id()})
    assert r.status == 429 and "Retry-After" in r.headers
    assert (await other.post(BIND, {"name": "某某", "id_number": resident_id()})).status == 404  # per unit


# ---- limited access until consent -------------------------------------------------------------------


async def _bound_stranger(api: ApiClient, settings: Settings, services: Services,
                          unit: ApiClient) -> tuple[str, str, dict[str, Any]]:
    """A self-registered trainee with a photo, bound by ``unit``: (trainee token, trainee id, body)."""
    token, person = await register_trainee(api, settings.sms_outbox, name="黄一", email="huang@example.com")
    me = api.with_token(token)
    r = await me.request("PUT", "/api/v1/me/photo?consent=true", body=PORTRAIT, headers={"Content-Type": "image/jpeg"})
    assert r.status == 200, r.body
    r = await unit.post(BIND, {"name": "黄一", "id_number": person["id_number"]})
    assert r.status == 200, r.body
    return token, r.json["id"], person


async def _attack(unit: ApiClient, tid: str) -> dict[str, Any]:
    """Everything the issue's attacker did after binding; the answers."""
    export = await unit.get("/api/v1/unit/staff/export.xlsx")
    sheet = load_workbook(io.BytesIO(export.body)).active
    return {
        "detail": await unit.get(f"/api/v1/unit/staff/{tid}"),
        "edit": await unit.put(f"/api/v1/unit/staff/{tid}", EDIT),
        "photo": await unit.get(f"/api/v1/trainees/{tid}/photo"),
        "upload": await unit.request("PUT", f"/api/v1/unit/staff/{tid}/photo?consent=true", body=PORTRAIT,
                                     headers={"Content-Type": "image/jpeg"}),
        "cells": [c.value for row in sheet.iter_rows() for c in row],
    }


async def test_a_bound_stranger_is_limited_and_told(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    token, tid, person = await _bound_stranger(api, settings, services, unit)
    item = (await unit.get("/api/v1/unit/staff")).json["items"][0]
    assert item["data_access"] == "limited" and item["phone_masked"] is None and item["has_photo"] is False
    assert item["name"] == "黄一" and "*" in item["id_masked"]
    # searching by a value the unit may not see finds nothing
    assert (await unit.get(f"/api/v1/unit/staff?phone={person['phone']}")).json["total"] == 0
    seen = await _attack(unit, tid)
    assert seen["detail"].status == seen["edit"].status == seen["upload"].status == 403
    assert seen["edit"].error_code == "staff_consent_required" and "授权" in seen["edit"].json["error"]["message"]
    assert seen["photo"].status == 404
    assert person["phone"] not in seen["cells"] and person["id_number"] not in seen["cells"]
    assert "huang@example.com" not in seen["cells"] and "黄一" in seen["cells"]
    # nor through the bulk photo upload
    photo_before = (await services.db["accounts"].find_one({"_id": ObjectId(tid)}))["trainee"]["photo"]["file_id"]
    body, content_type = multipart([("files", f"黄一-{person['id_number']}.jpg", PORTRAIT)])
    r = await unit.request("POST", "/api/v1/unit/staff/photos?consent=true", body=body,
                           headers={"Content-Type": content_type})
    assert r.status == 200 and r.json["files"][0]["verdict"] != "saved", r.body
    assert "授权" in r.json["files"][0]["message"]
    assert (await services.db["accounts"].find_one({"_id": ObjectId(tid)}))["trainee"]["photo"]["file_id"] == photo_before
    # the person's own profile is untouched, and they were told
    profile = (await api.get("/api/v1/me/profile", token=token)).json
    assert profile["email"] == "huang@example.com"
    assert await _notes(settings, tid, "unit_bound") and "授权" in (await _notes(settings, tid, "unit_bound"))[0]["text"]
    r = await api.get("/api/v1/me/units", token=token)
    assert r.json["total"] == 1 and r.json["items"][0]["unit_sees"] == "limited"
    assert r.json["items"][0]["id"] == await _id_of(unit) and r.json["items"][0]["consent"] is False


def _bound_means_full(unit_id: ObjectId, account: dict[str, Any]) -> str | None:
    """The rule before issue 10: a binding alone gave everything."""
    return "full" if (account.get("trainee") or {}).get("unit_id") == unit_id else None


async def test_control_without_the_consent_rule_the_attacker_changes_the_email(
    api: ApiClient, settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    token, tid, person = await _bound_stranger(api, settings, services, unit)
    monkeypatch.setattr(staff_module, "unit_access", _bound_means_full)
    monkeypatch.setattr(staff_module, "full_access_filter", lambda unit_id: {})
    seen = await _attack(unit, tid)
    assert seen["edit"].status == 200 and seen["detail"].status == 200
    assert person["id_number"] in seen["cells"] and person["phone"] in seen["cells"]
    assert (await api.get("/api/v1/me/profile", token=token)).json["email"] == "attacker@example.com"


async def test_consent_gives_full_access_and_leaving_ends_it(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    other = await verified_unit_client(api, settings.sms_outbox, services)
    unit_id, other_id = await _id_of(unit), await _id_of(other)
    token, tid, person = await _bound_stranger(api, settings, services, unit)
    me = api.with_token(token)
    assert (await me.post(f"/api/v1/me/units/{other_id}/consent")).status == 404  # not their unit
    assert (await me.post("/api/v1/me/units/not-an-id/consent")).status == 404
    r = await me.post(f"/api/v1/me/units/{unit_id}/consent")
    assert r.status == 200 and r.json["consent"] is True and r.json["unit_sees"] == "full"
    assert (await me.post(f"/api/v1/me/units/{unit_id}/consent")).status == 200  # idempotent
    assert len(await _notes(settings, unit_id, "staff_consent")) == 1
    seen = await _attack(unit, tid)
    assert seen["detail"].status == seen["edit"].status == seen["photo"].status == seen["upload"].status == 200
    assert person["phone"] in seen["cells"]
    # withdrawing the consent: limited again, the unit told; consenting again restores it
    r = await me.delete(f"/api/v1/me/units/{unit_id}/consent")
    assert r.status == 200 and r.json["consent"] is False and r.json["unit_sees"] == "limited"
    assert (await unit.get(f"/api/v1/unit/staff/{tid}")).status == 403
    assert await _notes(settings, unit_id, "staff_consent_withdrawn")
    assert (await me.post(f"/api/v1/me/units/{unit_id}/consent")).json["unit_sees"] == "full"
    # leaving: unbound, consent gone, the unit told; a new binding starts limited again
    assert (await me.delete(f"/api/v1/me/units/{other_id}")).status == 404
    assert (await me.delete(f"/api/v1/me/units/{unit_id}")).status == 200
    assert await _notes(settings, unit_id, "staff_left")
    assert (await unit.get("/api/v1/unit/staff")).json["total"] == 0
    assert (await me.get("/api/v1/me/units")).json["total"] == 0
    assert (await unit.get(f"/api/v1/unit/staff/{tid}")).status == 404
    assert (await unit.post(BIND, {"name": "黄一", "id_number": person["id_number"]})).status == 200
    assert (await unit.get(f"/api/v1/unit/staff/{tid}")).status == 403
    actions = [e["action"] for e in await services.db["audit_log"].find({"subject_id": ObjectId(tid)}).to_list()]
    assert {"staff.bind", "staff.consent", "staff.consent_withdraw", "staff.leave"} <= set(actions)


async def test_a_unit_sees_in_full_what_it_created_but_not_another_units(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    creator = await verified_unit_client(api, settings.sms_outbox, services)
    later = await verified_unit_client(api, settings.sms_outbox, services)
    body = form_body(name="何一")
    tid = (await creator.post("/api/v1/unit/staff", body)).json["id"]
    assert (await creator.get(f"/api/v1/unit/staff/{tid}")).status == 200
    assert (await creator.get("/api/v1/unit/staff")).json["items"][0]["data_access"] == "full"
    assert (await creator.delete(f"/api/v1/unit/staff/{tid}")).status == 200
    assert (await later.post(BIND, {"name": "何一", "id_number": body["id_number"]})).status == 200
    r = await later.get(f"/api/v1/unit/staff/{tid}")
    assert r.status == 403 and r.error_code == "staff_consent_required"


async def test_leaving_racing_an_edit_never_writes_to_a_person_who_left(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    token, tid, _ = await _bound_stranger(api, settings, services, unit)
    unit_id = await _id_of(unit)
    await api.post(f"/api/v1/me/units/{unit_id}/consent", token=token)

    class LeavesMidway(staff_module.StaffService):
        async def own_in_full(self, unit: Any, trainee_id: str) -> dict[str, Any]:
            account = await super().own_in_full(unit, trainee_id)
            # the person leaves between the unit's check and its write
            assert (await api.delete(f"/api/v1/me/units/{unit_id}", token=token)).status == 200
            return account

    racing = staff_service_like(services, LeavesMidway)
    async with serve_app(settings, dataclasses.replace(services, staff=racing)) as other_api:
        r = await other_api.with_token(unit.token).put(f"/api/v1/unit/staff/{tid}", EDIT)
    assert r.status == 404
    assert (await api.get("/api/v1/me/profile", token=token)).json["email"] == "huang@example.com"


class _UnguardedDecision(UnitVerificationService):
    """The control: a decision whose write does not require the unit to be still pending."""

    async def decide(self, admin: Any, unit_id: str, body: Any, *, ip: str | None) -> Any:
        await self.accounts.update_one({"_id": ObjectId(unit_id)}, {"$set": {"unit.verification.status": "pending"}})
        return await super().decide(admin, unit_id, body, ip=ip)


@pytest.mark.parametrize("guarded", [True, False])
async def test_two_administrators_deciding_at_once(
    api: ApiClient, settings: Settings, services: Services, guarded: bool
) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    unit_id = await _id_of(unit)
    r = await unit.request("PUT", "/api/v1/unit/licence", body=LICENCE, headers={"Content-Type": "image/jpeg"})
    assert r.status == 200
    if not guarded:
        services = dataclasses.replace(services, unit_verification=_UnguardedDecision(
            services.db, audit=services.audit, notifier=services.notifier, executor=services.executor))
    admins = [await staff_token(services), await staff_token(services)]
    bodies = [{"decision": "approve"}, {"decision": "reject", "reason": "执照过期"}]
    async with serve_app(settings, services) as client:
        calls = [client.post(f"/api/v1/admin/units/{unit_id}/verification", b, token=a)
                 for a, b in zip(admins, bodies, strict=True)]
        # the control runs them one after the other: its reset-to-pending would race itself otherwise
        answers = await asyncio.gather(*calls) if guarded else [await c for c in calls]
    decided = await services.db["audit_log"].count_documents({"action": {"$regex": "^unit.verification_"}})
    if guarded:  # exactly one decision stands
        assert sorted(a.status for a in answers) == [200, 409] and decided == 1
    else:  # without the guard the second overturns the first: the unit is told two contradicting decisions
        assert [a.status for a in answers] == [200, 200] and decided == 2
        assert (await unit.get("/api/v1/unit/licence")).json["status"] == "rejected"
