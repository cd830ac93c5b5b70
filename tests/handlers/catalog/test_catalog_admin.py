"""Courses and sessions as association staff manage them, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services
from tests.client import ApiClient, Response
from tests.factories import course_body, register_trainee, register_unit, session_body, staff_token


async def patch(api: ApiClient, path: str, body: dict[str, Any], token: str) -> Response:
    return await api.request("PATCH", path, json=body, token=token)


@pytest.fixture
async def admin(services: Services) -> str:
    return await staff_token(services, "admin")


@pytest.fixture
async def course(api: ApiClient, admin: str) -> dict[str, Any]:
    r = await api.post("/api/v1/admin/courses", course_body(mails_books=True), token=admin)
    assert r.status == 201, r.body
    return r.json  # type: ignore[no-any-return]


async def test_admin_creates_lists_gets_and_patches_courses(
    api: ApiClient, admin: str, course: dict[str, Any], db: AsyncDatabase[dict[str, Any]]
) -> None:
    assert course["mails_books"] is True and course["archived"] is False
    r = await api.get("/api/v1/admin/courses?q=岩土", token=admin)
    assert r.json["total"] == 1 and r.json["items"][0]["id"] == course["id"]
    r = await patch(api, f"/api/v1/admin/courses/{course['id']}", {"hours": 32}, admin)
    assert r.status == 200 and r.json["hours"] == 32 and r.json["name"] == course["name"]
    assert (await api.get(f"/api/v1/admin/courses/{course['id']}", token=admin)).json["hours"] == 32
    actions = [e["action"] async for e in db["audit_log"].find({"subject_id": ObjectId(course["id"])})]
    assert sorted(actions) == ["course.create", "course.update"]


async def test_course_changes_reach_the_sessions_copies(api: ApiClient, admin: str, course: dict[str, Any]) -> None:
    session = (await api.post("/api/v1/admin/sessions", session_body(course["id"]), token=admin)).json
    assert session["course_name"] == course["name"] and session["mails_books"] is True
    await patch(api, f"/api/v1/admin/courses/{course['id']}", {"name": "地基基础检测培训", "mails_books": False}, admin)
    r = await api.get(f"/api/v1/admin/sessions/{session['id']}", token=admin)
    assert r.json["course_name"] == "地基基础检测培训" and r.json["mails_books"] is False


async def test_archived_course_takes_no_new_session(api: ApiClient, admin: str, course: dict[str, Any]) -> None:
    await patch(api, f"/api/v1/admin/courses/{course['id']}", {"archived": True}, admin)
    r = await api.post("/api/v1/admin/sessions", session_body(course["id"]), token=admin)
    assert r.status == 409 and r.error_code == "course_archived"


@pytest.mark.parametrize("body", [{"name": None}, {"pass_mark": 101}, {"hours": 0}, {"colour": "red"},
                                  {"min_attendance_percent": 101}, {"min_attendance_percent": -1},
                                  {"min_attendance_percent": "全勤"}])
async def test_bad_course_patch_is_422(api: ApiClient, admin: str, course: dict[str, Any], body: dict[str, Any]) -> None:
    r = await patch(api, f"/api/v1/admin/courses/{course['id']}", body, admin)
    assert r.status == 422, r.body
    assert list(body)[0] in r.json["error"]["details"]["fields"]


async def test_a_course_may_require_a_minimum_attendance(api: ApiClient, admin: str, course: dict[str, Any]) -> None:
    assert course["min_attendance_percent"] is None  # default: none
    r = await patch(api, f"/api/v1/admin/courses/{course['id']}", {"min_attendance_percent": 80}, admin)
    assert r.status == 200 and r.json["min_attendance_percent"] == 80
    r = await patch(api, f"/api/v1/admin/courses/{course['id']}", {"min_attendance_percent": 0}, admin)
    assert r.status == 200 and r.json["min_attendance_percent"] == 0  # 0: no minimum


async def test_session_crud_and_status_transitions(
    api: ApiClient, admin: str, course: dict[str, Any], db: AsyncDatabase[dict[str, Any]]
) -> None:
    r = await api.post("/api/v1/admin/sessions", session_body(course["id"], code="zx-2026-01"), token=admin)
    assert r.status == 201, r.body
    s = r.json
    assert s["code"] == "ZX-2026-01" and s["status"] == "draft" and s["seats_taken"] == 0 and s["seats_left"] == 50
    stored = await db["sessions"].find_one({"_id": ObjectId(s["id"])})
    assert stored is not None and stored["enroll_start"] == "2026-03-01" and stored["course_id"] == ObjectId(course["id"])
    r = await patch(api, f"/api/v1/admin/sessions/{s['id']}", {"venue": "线上", "round": "二期"}, admin)
    assert r.status == 200 and r.json["venue"] == "线上" and r.json["round"] == "二期"
    assert r.json["enroll_end"] == "2026-03-10"  # untouched fields stay
    publish = f"/api/v1/admin/sessions/{s['id']}/publish"
    assert (await api.post(publish, token=admin)).json["status"] == "published"
    again = await api.post(publish, token=admin)
    assert again.status == 409 and again.error_code == "session_status_conflict"
    close = f"/api/v1/admin/sessions/{s['id']}/close"
    assert (await api.post(close, token=admin)).json["status"] == "closed"
    assert (await api.post(close, token=admin)).status == 409
    r = await patch(api, f"/api/v1/admin/sessions/{s['id']}", {"venue": "x"}, admin)
    assert r.status == 409 and r.error_code == "session_closed"
    listed = (await api.get("/api/v1/admin/sessions?status=closed", token=admin)).json
    assert [i["id"] for i in listed["items"]] == [s["id"]]
    actions = {e["action"] async for e in db["audit_log"].find({"subject_id": ObjectId(s["id"])})}
    assert actions == {"session.create", "session.update", "session.publish", "session.close"}


async def test_closing_a_draft_is_409(api: ApiClient, admin: str, course: dict[str, Any]) -> None:
    s = (await api.post("/api/v1/admin/sessions", session_body(course["id"]), token=admin)).json
    r = await api.post(f"/api/v1/admin/sessions/{s['id']}/close", token=admin)
    assert r.status == 409 and r.json["error"]["details"]["status"] == "draft"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"enroll_start": "2026-03-11"}, "enroll_end"),  # window ends before it starts
        ({"start_date": "2026-03-18"}, "end_date"),  # training ends before it starts
        ({"enroll_end": "2026-03-18"}, "enroll_end"),  # enrollment after the training
        ({"enroll_end": "2026-03-15"}, "enroll_end"),  # enrollment on the first training day
        ({"enroll_end": "2026-03-16"}, "enroll_end"),  # enrollment during the training
        ({"fee_fen": -1}, "fee_fen"),
        ({"fee_fen": 12.5}, "fee_fen"),
        ({"capacity": 0}, "capacity"),
        ({"code": "坏 编号"}, "code"),
        ({"enroll_start": "2026-02-30"}, "enroll_start"),
        ({"course_id": "nope"}, "course_id"),
        ({"course_id": str(ObjectId())}, "course_id"),
    ],
)
async def test_bad_session_is_422_and_writes_nothing(
    api: ApiClient, admin: str, course: dict[str, Any], db: AsyncDatabase[dict[str, Any]],
    override: dict[str, Any], field: str,
) -> None:
    r = await api.post("/api/v1/admin/sessions", {**session_body(course["id"]), **override}, token=admin)
    assert r.status == 422, r.body
    assert field in r.json["error"]["details"]["fields"], r.json
    assert await db["sessions"].count_documents({}) == 0


async def test_patch_checks_dates_against_the_stored_ones(api: ApiClient, admin: str, course: dict[str, Any]) -> None:
    s = (await api.post("/api/v1/admin/sessions", session_body(course["id"]), token=admin)).json
    r = await patch(api, f"/api/v1/admin/sessions/{s['id']}", {"enroll_start": "2026-03-12"}, admin)
    assert r.status == 422 and "enroll_end" in r.json["error"]["details"]["fields"]
    r = await patch(api, f"/api/v1/admin/sessions/{s['id']}", {"capacity": None}, admin)
    assert r.status == 422 and "capacity" in r.json["error"]["details"]["fields"]


async def test_the_window_ends_before_the_first_training_day(
    api: ApiClient, admin: str, course: dict[str, Any], db: AsyncDatabase[dict[str, Any]]
) -> None:
    # Unpaid enrollments lapse at the start at the latest: enrolling on that day would lapse at once.
    r = await api.post("/api/v1/admin/sessions", session_body(course["id"], enroll_end="2026-03-15"), token=admin)
    assert r.status == 422 and r.json["error"]["details"]["fields"]["enroll_end"] == "报名结束日期须早于培训开始日期"
    s = (await api.post("/api/v1/admin/sessions", session_body(course["id"], enroll_end="2026-03-14"), token=admin)).json
    assert s["enroll_end"] == "2026-03-14"  # the day before is fine
    for change in ({"start_date": "2026-03-14"}, {"enroll_end": "2026-03-15"}):
        r = await patch(api, f"/api/v1/admin/sessions/{s['id']}", change, admin)
        assert r.status == 422 and "enroll_end" in r.json["error"]["details"]["fields"], r.body
    stored = await db["sessions"].find_one({"_id": ObjectId(s["id"])})
    assert stored is not None and (stored["enroll_end"], stored["start_date"]) == ("2026-03-14", "2026-03-15")


async def test_unique_code_under_concurrency(api: ApiClient, admin: str, course: dict[str, Any],
                                             db: AsyncDatabase[dict[str, Any]]) -> None:
    body = session_body(course["id"], code="SAME-01")
    answers = await asyncio.gather(*(api.post("/api/v1/admin/sessions", body, token=admin) for _ in range(10)))
    assert sorted(a.status for a in answers) == [201] + [409] * 9
    assert {a.error_code for a in answers if a.status == 409} == {"session_code_exists"}
    assert await db["sessions"].count_documents({"code": "SAME-01"}) == 1


async def test_patch_to_a_taken_code_is_409(api: ApiClient, admin: str, course: dict[str, Any]) -> None:
    await api.post("/api/v1/admin/sessions", session_body(course["id"], code="TAKEN"), token=admin)
    other = (await api.post("/api/v1/admin/sessions", session_body(course["id"]), token=admin)).json
    r = await patch(api, f"/api/v1/admin/sessions/{other['id']}", {"code": "taken"}, admin)
    assert r.status == 409 and r.error_code == "session_code_exists"


async def test_capacity_cannot_drop_below_seats_taken(
    api: ApiClient, admin: str, course: dict[str, Any], db: AsyncDatabase[dict[str, Any]]
) -> None:
    s = (await api.post("/api/v1/admin/sessions", session_body(course["id"], capacity=10), token=admin)).json
    await db["sessions"].update_one({"_id": ObjectId(s["id"])}, {"$set": {"seats_taken": 5}})
    r = await patch(api, f"/api/v1/admin/sessions/{s['id']}", {"capacity": 4, "venue": "改了"}, admin)
    assert r.status == 409 and r.error_code == "capacity_below_taken"
    assert r.json["error"]["details"]["seats_taken"] == 5
    stored = await db["sessions"].find_one({"_id": ObjectId(s["id"])})
    assert stored is not None and stored["capacity"] == 10 and stored["venue"] != "改了"  # nothing written
    r = await patch(api, f"/api/v1/admin/sessions/{s['id']}", {"capacity": 5}, admin)
    assert r.status == 200 and r.json["capacity"] == 5 and r.json["seats_left"] == 0


@pytest.mark.parametrize("path", ["/api/v1/admin/sessions/nope", "/api/v1/admin/sessions/6b10a15d5ea3633c4f5c6a3b",
                                  "/api/v1/admin/courses/6b10a15d5ea3633c4f5c6a3c", "/api/v1/admin/courses/xyz"])
async def test_missing_or_malformed_ids_are_404(api: ApiClient, admin: str, path: str) -> None:
    assert (await api.get(path, token=admin)).status == 404
    assert (await patch(api, path, {"venue": "x"} if "sessions" in path else {"hours": 2}, admin)).status == 404


async def test_roles(api: ApiClient, services: Services, settings: Settings, course: dict[str, Any]) -> None:
    trainee, _ = await register_trainee(api, settings.sms_outbox)
    unit, _ = await register_unit(api, settings.sms_outbox)
    scanner = await staff_token(services, "scanner")
    reviewer = await staff_token(services, "reviewer")
    writes = [
        ("POST", "/api/v1/admin/courses", course_body()),
        ("PATCH", f"/api/v1/admin/courses/{course['id']}", {"hours": 3}),
        ("POST", "/api/v1/admin/sessions", session_body(course["id"])),
    ]
    for token in (trainee, unit, scanner, reviewer):
        for method, path, body in writes:
            assert (await api.request(method, path, json=body, token=token)).status == 403, (method, path)
    for method, path, body in writes:
        assert (await api.request(method, path, json=body)).status == 401
    assert (await api.get("/api/v1/admin/courses", token=reviewer)).status == 200
    assert (await api.get("/api/v1/admin/sessions", token=reviewer)).status == 200
    assert (await api.get("/api/v1/admin/sessions", token=trainee)).status == 403
    assert (await api.get("/api/v1/admin/courses")).status == 401
