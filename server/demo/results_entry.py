"""Demo: a session ready for result entry (成绩管理 in the back office).

The demo unit enrolls its staff (not the demo trainee, whose own story is told elsewhere) in a third
course's session, pays, and the admin approves; the session then ran last week (the door scans of
its two days merged). No result is entered: the admin's 成绩管理 page shows an empty score grid to fill in
by hand or by the Excel import, then 发布 and 合格证 batch approval.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from server.demo.payments import _pay
from server.demo.results import _scan_at_the_door
from server.demo.staff import DEMO_USCC, LOCAL
from server.demo.trainee import DEMO_ID_NUMBER
from server.models.catalog import CourseCreate, SessionCreate, SessionUpdate
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.container import Services

COURSE = CourseCreate(name="岩土工程勘察技术继续教育", course_type="继续教育", activity_type="考试",
                      specialty="岩土工程", hours=16, pass_mark=60, mails_books=False)


async def demo_results_entry(services: Services) -> list[str]:
    """A finished session whose approved trainees have no result yet; the lines to print."""
    admin_doc = await services.accounts.accounts.find_one({"role": "admin"})
    unit = await services.accounts.find_by_login(DEMO_USCC)
    if admin_doc is None or unit is None:
        return []
    admin, company = Principal(admin_doc["_id"], "admin"), Principal(unit["_id"], "unit")
    herself = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    staff = await services.accounts.accounts.find(
        {"trainee.unit_id": unit["_id"], "trainee.photo": {"$exists": True},
         "_id": {"$ne": (herself or {}).get("_id")}}).sort("_id", 1).to_list(3)
    if not staff:
        return []
    course = await services.catalog.create_course(COURSE, by=admin)
    today = today_shanghai()
    session = await services.catalog.create_session(SessionCreate(
        course_id=str(course["_id"]), code=f"KC-{today.year}-02", round="二期", enroll_start=today - timedelta(days=1),
        enroll_end=today + timedelta(days=1), start_date=today + timedelta(days=3), end_date=today + timedelta(days=4),
        fee_fen=80000, capacity=40, venue="上海市徐汇区宛平南路 88 号"), by=admin)
    sid = str(session["_id"])
    await services.catalog.publish_session(sid, by=admin)
    enrollments: list[dict[str, Any]] = [
        await services.enrollments.enroll(person, sid, by=company, address_id=None, ip=LOCAL) for person in staff]
    payment = await _pay(services, company, enrollments, title=unit["name"], title_type="company", layout="bank")
    await services.payments.approve(admin, str(payment["_id"]), ip=LOCAL)
    await services.catalog.update_session(sid, SessionUpdate(  # it ran last week
        enroll_start=today - timedelta(days=20), enroll_end=today - timedelta(days=12),
        start_date=today - timedelta(days=8), end_date=today - timedelta(days=7)), by=admin)
    attendance = await _scan_at_the_door(services, session, enrollments)
    return [f"  成绩录入 / result entry: 班次 {session['code']}（{COURSE.name}）已结束，{len(enrollments)} 名学员待登记成绩"
            f"（出勤 {attendance}）：以协会管理员登录 → 成绩管理"]
