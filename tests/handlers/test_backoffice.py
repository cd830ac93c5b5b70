"""The back office's views over real HTTP: the dashboard, a session's enrollments and its check-in conflicts."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from openpyxl import load_workbook
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.accounts.identity import today_shanghai
from server.services.container import Services
from tests import factories
from tests.client import ApiClient

Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def admin(services: Services) -> str:
    return await factories.staff_token(services, "admin")


async def _session(api: ApiClient, admin: str, **overrides: Any) -> dict[str, Any]:
    course = await api.post("/api/v1/admin/courses", factories.course_body(), token=admin)
    return await factories.published_session(api, admin, course.json["id"], **overrides)


async def _person(api: ApiClient, settings: Settings, name: str) -> tuple[ObjectId, str]:
    token, body = await factories.register_trainee(api, settings.sms_outbox, name=name)
    me = await api.get("/api/v1/me", token=token)
    return ObjectId(me.json["id"]), body["id_number"]


async def _enroll(db: Db, session: dict[str, Any], trainee_id: ObjectId, status: str, *,
                  unit_id: ObjectId | None = None, minutes_ago: int = 0) -> ObjectId:
    """An enrollment as the enrollment area stores it (enrolling itself is tested there)."""
    oid, at = ObjectId(), datetime.now(UTC) - timedelta(minutes=minutes_ago)
    await db["enrollments"].insert_one({
        "_id": oid, "session_id": ObjectId(session["id"]), "course_id": ObjectId(session["course_id"]),
        "trainee_id": trainee_id, "unit_id": unit_id, "status": status, "active": True,
        "created_by": {"account_id": unit_id or trainee_id, "role": "unit" if unit_id else "trainee"},
        "fee_fen": session["fee_fen"], "address": None, "created_at": at, "updated_at": at,
        "pay_by": at + timedelta(days=3)})
    return oid


# ---- the dashboard ------------------------------------------------------------------------------


async def test_dashboard_shows_seats_waitlist_review_checkins_and_jobs(
    api: ApiClient, services: Services, settings: Settings, db: Db, admin: str
) -> None:
    session = await _session(api, admin, capacity=3)
    sid = ObjectId(session["id"])
    await db["sessions"].update_one({"_id": sid}, {"$set": {  # as the seat ledger keeps them
        "seats_taken": 2, "holders": [ObjectId(), ObjectId()], "held_for": [ObjectId()],
        "waiting": [ObjectId(), ObjectId()]}})
    today = today_shanghai()
    training = await _session(api, admin, code="TODAY1")
    await db["sessions"].update_one({"_id": ObjectId(training["id"])}, {"$set": {
        "start_date": (today - timedelta(days=1)).isoformat(), "end_date": (today + timedelta(days=1)).isoformat()}})
    person, _ = await _person(api, settings, "王五")
    await _enroll(db, training, person, "approved")
    await db["checkins"].insert_one({"pass_id": ObjectId(), "session_id": ObjectId(training["id"]),
                                     "day": today.isoformat(), "at": datetime.now(UTC), "trainee_id": person,
                                     "scanner_id": ObjectId(), "client_id": "c1"})
    now = datetime.now(UTC)
    for n, ref in enumerate(["P-NEWER", "P-OLDEST"]):
        await db["payments"].insert_one({
            "reference": ref, "status": "submitted", "payer": {"account_id": person, "role": "trainee"},
            "lines": [{"trainee_id": person}], "amount_fen": 120000, "submitted_at": now - timedelta(hours=n)})
    await db["payments"].insert_one({"reference": "P-DONE", "status": "approved", "amount_fen": 1,
                                     "payer": {"account_id": person, "role": "trainee"}, "submitted_at": now})
    await db["jobs"].insert_many([{"status": "dead"}, {"status": "failed"}, {"status": "failed"}, {"status": "done"}])

    r = await api.get("/api/v1/admin/dashboard", token=admin)
    assert r.status == 200, r.body
    board = r.json
    assert board["today"] == today.isoformat()
    row = next(s for s in board["open_sessions"] if s["id"] == session["id"])
    assert (row["capacity"], row["seats_taken"], row["seats_held"], row["waitlist"], row["seats_left"]) == (3, 2, 1, 2, 0)
    assert board["open_sessions_total"] == 2
    assert board["review"]["waiting"] == 2
    assert [p["reference"] for p in board["review"]["oldest"]] == ["P-OLDEST", "P-NEWER"]  # oldest first
    assert board["review"]["oldest"][0]["payer_name"] == "王五"
    assert [(c["code"], c["approved"], c["checked_in"], c["not_yet"]) for c in board["checkins_today"]] == \
        [("TODAY1", 1, 1, 0)]
    assert board["jobs"] == {"failed": 2, "dead": 1}


async def test_dashboard_parts_follow_the_role(api: ApiClient, services: Services, settings: Settings) -> None:
    reviewer = await factories.staff_token(services, "reviewer")
    board = (await api.get("/api/v1/admin/dashboard", token=reviewer)).json
    assert board["review"] is not None and board["open_sessions"] is not None and board["jobs"] is None
    scanner = await factories.staff_token(services, "scanner")
    r = await api.get("/api/v1/admin/dashboard", token=scanner)
    assert r.status == 200 and r.json["checkins_today"] == []
    assert r.json["review"] is None and r.json["open_sessions"] is None and r.json["jobs"] is None
    trainee, _ = await factories.register_trainee(api, settings.sms_outbox)
    assert (await api.get("/api/v1/admin/dashboard", token=trainee)).status == 403
    unit, _ = await factories.register_unit(api, settings.sms_outbox)
    assert (await api.get("/api/v1/admin/dashboard", token=unit)).status == 403
    assert (await api.get("/api/v1/admin/dashboard")).status == 401


# ---- a session's enrollments ---------------------------------------------------------------------


async def test_roster_filters_pages_and_masks(api: ApiClient, services: Services, settings: Settings, db: Db,
                                              admin: str) -> None:
    session = await _session(api, admin)
    unit_token, unit_body = await factories.register_unit(api, settings.sms_outbox, name="上海岩土勘察有限公司")
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    people = [await _person(api, settings, f"学员{n}") for n in range(3)]
    await _enroll(db, session, people[0][0], "approved", minutes_ago=30)
    await _enroll(db, session, people[1][0], "pending_payment", unit_id=unit_id, minutes_ago=20)
    await _enroll(db, session, people[2][0], "approved", unit_id=unit_id, minutes_ago=10)
    other = await _session(api, admin)
    await _enroll(db, other, people[0][0], "approved")  # another session's: never listed
    url = f"/api/v1/admin/sessions/{session['id']}/enrollments"

    page = (await api.get(url, token=admin)).json
    assert page["total"] == 3 and [r["name"] for r in page["items"]] == ["学员0", "学员1", "学员2"]
    assert page["by_status"] == {"approved": 2, "pending_payment": 1}
    assert page["units"] == [{"id": str(unit_id), "name": "上海岩土勘察有限公司", "count": 2}]
    first = page["items"][0]
    assert first["id_masked"] != people[0][1] and "*" in first["id_masked"]
    assert first["id_masked"][:4] == people[0][1][:4] and first["id_masked"][-4:] == people[0][1][-4:]
    assert people[0][1] not in str(page)
    assert first["status"] == {"code": "approved", "label": "通过"} and first["unit_name"] is None

    approved = (await api.get(url + "?status=approved", token=admin)).json
    assert [r["name"] for r in approved["items"]] == ["学员0", "学员2"]
    by_unit = (await api.get(url + f"?unit_id={unit_id}&status=approved", token=admin)).json
    assert [r["name"] for r in by_unit["items"]] == ["学员2"] and by_unit["items"][0]["unit_name"] == unit_body["name"]
    alone = (await api.get(url + "?no_unit=true", token=admin)).json
    assert [r["name"] for r in alone["items"]] == ["学员0"]
    paged = (await api.get(url + "?page=2&page_size=2", token=admin)).json
    assert paged["total"] == 3 and [r["name"] for r in paged["items"]] == ["学员2"]
    reviewer = await factories.staff_token(services, "reviewer")
    assert (await api.get(url, token=reviewer)).status == 200


async def test_roster_export_is_masked_filtered_and_audited(api: ApiClient, services: Services, settings: Settings,
                                                            db: Db, admin: str) -> None:
    session = await _session(api, admin)
    people = [await _person(api, settings, f"导出{n}") for n in range(2)]
    await _enroll(db, session, people[0][0], "approved", minutes_ago=5)
    await _enroll(db, session, people[1][0], "rejected")
    reviewer = await factories.staff_token(services, "reviewer")
    r = await api.get(f"/api/v1/admin/sessions/{session['id']}/enrollments.xlsx?status=approved", token=reviewer)
    assert r.status == 200 and r.body[:2] == b"PK", r.body[:200]
    rows = list(load_workbook(io.BytesIO(r.body)).active.iter_rows(values_only=True))
    assert "共 1 人" in rows[0][0] and rows[1][1] == "姓名"
    assert rows[2][1] == "导出0" and "*" in rows[2][2] and rows[2][5] == "通过" and rows[2][6] == 1200
    assert all(people[0][1] not in str(row) for row in rows)
    entry = await db["audit_log"].find_one({"action": "session.enrollments_export"})
    assert entry is not None and entry["subject_id"] == ObjectId(session["id"])
    assert entry["details"] == {"rows": 1, "status": "approved"}


@pytest.mark.parametrize("path", ["enrollments", "enrollments.xlsx"])
async def test_roster_guards(api: ApiClient, services: Services, settings: Settings, admin: str, db: Db,
                             path: str) -> None:
    session = await _session(api, admin)
    url = f"/api/v1/admin/sessions/{session['id']}/{path}"
    scanner = await factories.staff_token(services, "scanner")
    trainee, _ = await factories.register_trainee(api, settings.sms_outbox)
    unit, _ = await factories.register_unit(api, settings.sms_outbox)
    for token in (scanner, trainee, unit):
        assert (await api.get(url, token=token)).status == 403
    assert (await api.get(url)).status == 401
    for missing in (str(ObjectId()), "not-an-id"):
        r = await api.get(f"/api/v1/admin/sessions/{missing}/{path}", token=admin)
        assert r.status == 404 and r.error_code == "session_not_found", r.body
    for bad in ("status=paid", "unit_id=xyz", "page=0", "page_size=1000", "colour=red"):
        r = await api.get(f"{url}?{bad}", token=admin)
        assert r.status in (400, 422), (bad, r.status)
    assert await db["audit_log"].count_documents({"action": "session.enrollments_export"}) == 0


# ---- check-in conflicts --------------------------------------------------------------------------


async def test_checkin_conflicts_are_listed_masked(api: ApiClient, services: Services, settings: Settings, db: Db,
                                                   admin: str) -> None:
    session = await _session(api, admin)
    person, id_number = await _person(api, settings, "赵六")
    at = datetime(2026, 3, 15, 1, 0, tzinfo=UTC)
    await db["checkin_conflicts"].insert_one({
        "session_id": ObjectId(session["id"]), "day": "2026-03-15", "serial": "A0001", "trainee_id": person,
        "at": at + timedelta(minutes=5), "device_id": "door-2", "first_at": at, "first_device": "door-1",
        "scanner_id": ObjectId(), "client_id": "x", "status": "open"})
    url = f"/api/v1/admin/sessions/{session['id']}/checkin-conflicts"
    scanner = await factories.staff_token(services, "scanner")
    items = (await api.get(url, token=scanner)).json["items"]
    assert [(c["name"], c["device_id"], c["first_device"]) for c in items] == [("赵六", "door-2", "door-1")]
    assert "*" in items[0]["id_masked"] and id_number not in str(items)
    assert (await api.get(url + "?day=2026-03-16", token=admin)).json["items"] == []
    assert (await api.get(url + "?day=2026-03-15", token=admin)).json["items"] != []
    assert (await api.get(url + "?day=tomorrow", token=admin)).status == 422
    reviewer = await factories.staff_token(services, "reviewer")
    assert (await api.get(url, token=reviewer)).status == 403
    r = await api.get(f"/api/v1/admin/sessions/{ObjectId()}/checkin-conflicts", token=admin)
    assert r.status == 404 and r.error_code == "session_not_found"
