"""The demo has a finished session ready for result entry: approved trainees, attendance, no result yet."""

from __future__ import annotations

from server.demo import load_demo
from server.demo.results_entry import COURSE
from server.services.container import Services


async def test_demo_has_a_session_ready_for_result_entry(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None and any("result entry" in line for line in lines)
    course = await services.db["courses"].find_one({"name": COURSE.name})
    assert course is not None
    session = await services.db["sessions"].find_one({"course_id": course["_id"]})
    assert session is not None
    roster = await services.results.roster(str(session["_id"]))
    assert len(roster.rows) == 2 and all(r.result is None for r in roster.rows)
    assert {r.name for r in roster.rows} == {"刘洋", "黄敏"}  # the unit's staff, not the demo trainee
    assert all(r.enrollment_status == "approved" for r in roster.rows)
    assert sorted(r.attendance.label for r in roster.rows) == ["2/2 天", "2/2 天"]
    assert roster.drafts == 0 and roster.published == 0
