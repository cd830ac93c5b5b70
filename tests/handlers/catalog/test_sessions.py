"""The public session list and detail: visibility, filters, paging, the window in Beijing days, my_status."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.catalog.session_list import SessionListService
from server.services.container import Services
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.factories import course_body, published_session, register_trainee, register_unit, session_body, staff_token


class Today:
    """The "today" the service sees (a Beijing calendar day), set by each test."""

    def __init__(self) -> None:
        self.value = date(2026, 3, 5)

    def __call__(self) -> date:
        return self.value


@pytest.fixture
def today() -> Today:
    return Today()


@pytest.fixture
async def api(settings: Settings, services: Services, today: Today) -> AsyncIterator[ApiClient]:
    """The app with a session list whose "today" the test controls (injected, nothing patched)."""
    session_list = SessionListService(services.db, catalog=services.catalog, today=today)
    async with serve_app(settings, dataclasses.replace(services, session_list=session_list)) as client:
        yield client


@pytest.fixture
async def admin(services: Services) -> str:
    return await staff_token(services, "admin")


async def new_course(api: ApiClient, admin: str, **overrides: Any) -> str:
    r = await api.post("/api/v1/admin/courses", course_body(**overrides), token=admin)
    assert r.status == 201, r.body
    return str(r.json["id"])


async def test_anonymous_sees_published_and_closed_newest_first(api: ApiClient, admin: str) -> None:
    course = await new_course(api, admin)
    draft = (await api.post("/api/v1/admin/sessions", session_body(course), token=admin)).json
    first = await published_session(api, admin, course)
    closed = await published_session(api, admin, course)
    await api.post(f"/api/v1/admin/sessions/{closed['id']}/close", token=admin)
    last = await published_session(api, admin, course, fee_fen=120050)
    r = await api.get("/api/v1/sessions")
    assert r.status == 200
    assert [i["id"] for i in r.json["items"]] == [last["id"], closed["id"], first["id"]]
    assert draft["id"] not in {i["id"] for i in r.json["items"]} and r.json["total"] == 3
    row = r.json["items"][0]
    assert row["my_status"] is None and row["fee_yuan"] == "1200.50" and row["course_name"] == "岩土工程勘察专项培训"
    assert (await api.get(f"/api/v1/sessions/{draft['id']}")).status == 404


async def test_paging(api: ApiClient, admin: str) -> None:
    course = await new_course(api, admin)
    ids = [(await published_session(api, admin, course))["id"] for _ in range(5)]
    page1 = (await api.get("/api/v1/sessions?page=1&page_size=2")).json
    page3 = (await api.get("/api/v1/sessions?page=3&page_size=2")).json
    assert page1["total"] == page3["total"] == 5
    assert [i["id"] for i in page1["items"]] == ids[::-1][:2]
    assert [i["id"] for i in page3["items"]] == ids[:1]
    assert (await api.get("/api/v1/sessions?page_size=101")).status == 422


async def test_filters(api: ApiClient, admin: str) -> None:
    rock = await new_course(api, admin)
    survey = await new_course(api, admin, name="工程测量专项培训", course_type="考试", specialty="测量")
    a = await published_session(api, admin, rock, code="YT-001")
    b = await published_session(api, admin, survey, code="CL-001")

    async def ids(query: str) -> list[str]:
        r = await api.get("/api/v1/sessions?" + query)
        assert r.status == 200, r.body
        return [i["id"] for i in r.json["items"]]

    assert await ids("q=yt-0") == [a["id"]]  # code, case-insensitive
    assert await ids("q=测量") == [b["id"]]  # course name
    assert await ids("q=.*") == []  # the text is literal, never a pattern
    assert await ids("course_type=考试") == [b["id"]]
    assert await ids("specialty=岩土工程") == [a["id"]]
    assert await ids("specialty=岩土工程&course_type=考试") == []


@pytest.mark.parametrize(
    ("today_value", "open_now"),
    [
        (date(2026, 2, 28), False),  # the day before the window
        (date(2026, 3, 1), True),  # first day
        (date(2026, 3, 10), True),  # last day: the end day is inclusive
        (date(2026, 3, 11), False),  # the day after
    ],
)
async def test_open_now_around_the_window_edges(
    api: ApiClient, admin: str, today: Today, today_value: date, open_now: bool
) -> None:
    course = await new_course(api, admin)
    s = await published_session(api, admin, course, enroll_start="2026-03-01", enroll_end="2026-03-10")
    today.value = today_value
    r = (await api.get("/api/v1/sessions?open_now=true")).json
    assert [i["id"] for i in r["items"]] == ([s["id"]] if open_now else [])
    everything = (await api.get("/api/v1/sessions")).json["items"]
    assert everything[0]["open_now"] is open_now
    assert (await api.get(f"/api/v1/sessions/{s['id']}")).json["open_now"] is open_now


async def test_open_now_excludes_closed_sessions(api: ApiClient, admin: str) -> None:
    course = await new_course(api, admin)
    s = await published_session(api, admin, course)
    await api.post(f"/api/v1/admin/sessions/{s['id']}/close", token=admin)
    assert (await api.get("/api/v1/sessions?open_now=true")).json["items"] == []


async def test_my_status_for_a_trainee(
    api: ApiClient, admin: str, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    course = await new_course(api, admin)
    sessions = [await published_session(api, admin, course) for _ in range(4)]
    token, _ = await register_trainee(api, settings.sms_outbox)
    me = ObjectId((await api.get("/api/v1/me", token=token)).json["id"])
    other = ObjectId()
    now = datetime.now(UTC)
    await db["enrollments"].insert_many([
        {"trainee_id": me, "session_id": ObjectId(sessions[0]["id"]), "status": "payment_submitted", "created_at": now},
        {"trainee_id": me, "session_id": ObjectId(sessions[1]["id"]), "status": "cancelled", "created_at": now},
        {"trainee_id": me, "session_id": ObjectId(sessions[2]["id"]), "status": "approved", "created_at": now},
        {"trainee_id": other, "session_id": ObjectId(sessions[3]["id"]), "status": "approved", "created_at": now},
    ])
    rows = {i["id"]: i["my_status"] for i in (await api.get("/api/v1/sessions", token=token)).json["items"]}
    assert rows[sessions[0]["id"]] == {"code": "payment_submitted", "label": "待审核"}
    assert rows[sessions[1]["id"]] == {"code": "not_applied", "label": "待申请"}  # cancelled is not active
    assert rows[sessions[2]["id"]] == {"code": "approved", "label": "通过"}
    assert rows[sessions[3]["id"]] == {"code": "not_applied", "label": "待申请"}  # someone else's
    detail = (await api.get(f"/api/v1/sessions/{sessions[2]['id']}", token=token)).json
    assert detail["my_status"]["code"] == "approved"


async def test_units_and_staff_get_no_my_status(api: ApiClient, admin: str, settings: Settings) -> None:
    course = await new_course(api, admin)
    await published_session(api, admin, course)
    unit, _ = await register_unit(api, settings.sms_outbox)
    for token in (unit, admin):
        r = await api.get("/api/v1/sessions", token=token)
        assert r.status == 200 and r.json["items"][0]["my_status"] is None


async def test_a_lapsed_token_is_401_not_anonymous(api: ApiClient) -> None:
    r = await api.get("/api/v1/sessions", token="no-such-token")
    assert r.status == 401 and r.error_code == "invalid_token"


async def test_detail_has_seats_and_course_facts(
    api: ApiClient, admin: str, db: AsyncDatabase[dict[str, Any]]
) -> None:
    course = await new_course(api, admin, mails_books=True, hours=16, pass_mark=70, min_attendance_percent=80)
    s = await published_session(api, admin, course, capacity=30, venue="上海市岩土工程检测中心")
    await db["sessions"].update_one({"_id": ObjectId(s["id"])}, {"$set": {"seats_taken": 12}})
    r = await api.get(f"/api/v1/sessions/{s['id']}")
    assert r.status == 200
    d = r.json
    assert (d["seats_left"], d["capacity"], d["mails_books"], d["hours"], d["pass_mark"]) == (18, 30, True, 16, 70)
    assert d["venue"] == "上海市岩土工程检测中心" and d["start_date"] == "2026-03-15"
    assert d["min_attendance_percent"] == 80  # trainees know the attendance a certificate needs before enrolling
    assert (await api.get("/api/v1/sessions/not-an-id")).status == 404
    assert (await api.get(f"/api/v1/sessions/{ObjectId()}")).status == 404


async def test_cached_page_follows_catalog_changes_at_once(api: ApiClient, admin: str) -> None:
    course = await new_course(api, admin)
    first = await published_session(api, admin, course)
    assert [i["id"] for i in (await api.get("/api/v1/sessions")).json["items"]] == [first["id"]]
    second = await published_session(api, admin, course)  # within the cache's second
    assert [i["id"] for i in (await api.get("/api/v1/sessions")).json["items"]] == [second["id"], first["id"]]
    await api.request("PATCH", f"/api/v1/admin/sessions/{first['id']}", json={"round": "三期"}, token=admin)
    rows = (await api.get("/api/v1/sessions")).json["items"]
    assert rows[1]["round"] == "三期"


async def test_cache_expires_for_changes_made_elsewhere(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    """Another process's change (a direct write here) shows once the cached page expires."""
    from server.models.catalog import SessionListQuery

    now = [100.0]
    listing = SessionListService(db, catalog=services.catalog, today=Today(), clock=lambda: now[0])
    doc = {"_id": ObjectId(), "course_id": ObjectId(), "code": "X1", "round": "一期", "course_name": "课",
           "course_type": "t", "activity_type": "a", "specialty": "s", "mails_books": False,
           "enroll_start": "2026-03-01", "enroll_end": "2026-03-10", "start_date": "2026-03-15",
           "end_date": "2026-03-16", "fee_fen": 1, "capacity": 1, "seats_taken": 0, "venue": "v",
           "status": "published", "created_at": datetime.now(UTC)}
    assert (await listing.list(SessionListQuery(), viewer=None)).total == 0
    await db["sessions"].insert_one(doc)
    assert (await listing.list(SessionListQuery(), viewer=None)).total == 0  # still the cached page
    now[0] += 1.01
    assert (await listing.list(SessionListQuery(), viewer=None)).total == 1
