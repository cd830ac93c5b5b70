"""Attendance beside the score: the training days checked in at the door (the passes area's check-ins)
of the session's training days, in the staff roster and in the trainee's and unit's results."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.models.catalog import CourseUpdate
from server.models.results import AttendanceOut
from server.services import Principal
from server.services.container import Services
from tests.services.enrollment.helpers import ADMIN
from tests.services.payments.helpers import make_unit
from tests.services.results.helpers import REVIEWER, approved, check_in, score


def test_the_minimum_is_compared_exactly() -> None:
    assert AttendanceOut.of(2, 3).meets(66) and not AttendanceOut.of(2, 3).meets(67)
    assert AttendanceOut.of(1, 2).meets(50) and not AttendanceOut.of(0, 2).meets(1)
    assert AttendanceOut.of(0, 3).meets(None) and AttendanceOut.of(0, 3).meets(0)
    assert AttendanceOut.of(2, 3).model_dump() == {"days": 2, "training_days": 3, "percent": 66, "label": "2/3 天"}


async def test_roster_and_published_results_show_the_days_checked_in(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    trainees, docs = await approved(services, db, 3, unit=unit)
    session = await services.catalog.get_session(docs[0]["session_id"])
    await services.catalog.update_course(str(session["course_id"]), CourseUpdate(min_attendance_percent=60), by=ADMIN)
    await check_in(services, docs[0], 0, 1, 2)
    await check_in(services, docs[0], 0, device="door-2")  # a second scan the same day is no second day
    await check_in(services, docs[1], 1)
    roster = await services.results.roster(str(session["_id"]))
    assert (roster.training_days, roster.min_attendance_percent) == (3, 60)
    shown = {r.enrollment_id: (r.attendance.label, r.attendance.percent, r.meets_attendance) for r in roster.rows}
    assert shown == {str(docs[0]["_id"]): ("3/3 天", 100, True), str(docs[1]["_id"]): ("1/3 天", 33, False),
                     str(docs[2]["_id"]): ("0/3 天", 0, False)}
    for doc, value in zip(docs, (90, 75, None), strict=True):
        await services.results.enter(REVIEWER, str(doc["_id"]), score(value), ip=None)
    await services.results.publish(REVIEWER, str(session["_id"]), ip=None)
    mine, _ = await services.results.list_visible(Principal(trainees[1]["_id"], "trainee"), session_id=None,
                                                  skip=0, limit=20)
    assert [(r.score, r.attendance and r.attendance.label) for r in mine] == [(75, "1/3 天")]
    staff, total = await services.results.list_visible(unit, session_id=None, skip=0, limit=20)
    assert total == 3 and sorted(r.attendance.days for r in staff if r.attendance) == [0, 1, 3]
