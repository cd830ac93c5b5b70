"""Demo catalog: three courses with sessions open now, coming later and closed (see server/demo/__init__.py)."""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId

from server.models.catalog import CourseCreate, SessionCreate
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.container import Services

COURSES = [
    CourseCreate(name="岩土工程勘察专项培训", course_type="继续教育", activity_type="培训", specialty="岩土工程",
                 hours=24, pass_mark=60, mails_books=True),
    CourseCreate(name="工程测量专项培训", course_type="继续教育", activity_type="培训", specialty="工程测量",
                 hours=16, pass_mark=60, mails_books=False),
    CourseCreate(name="注册岩土工程师考前辅导", course_type="考前培训", activity_type="考试", specialty="岩土工程",
                 hours=40, pass_mark=70, mails_books=True),
]
# (course index, code, round, enrollment opens in N days, window length, fee in fen, final status)
SESSIONS = [
    (1, "CL-{year}-01", "一期", -90, 10, 80000, "closed"),
    (0, "YT-{year}-01", "一期", -3, 12, 120000, "published"),
    (2, "KQ-{year}-02", "二期", -1, 20, 260000, "published"),
    (0, "YT-{year}-02", "二期", 30, 10, 120000, "published"),
    (1, "CL-{year}-02", "一期", 45, 10, 80000, "draft"),
]


async def catalog(services: Services) -> list[str]:
    """Courses and sessions so that the session list has something to show."""
    admin = await services.accounts.find_by_login("admin")
    by = Principal(admin["_id"] if admin else ObjectId(), "admin")
    course_ids = [(await services.catalog.create_course(c, by=by))["_id"] for c in COURSES]
    today = today_shanghai()
    for index, code, round_, opens_in, days, fee, status in SESSIONS:
        start = today + timedelta(days=opens_in)
        session = await services.catalog.create_session(SessionCreate(
            course_id=str(course_ids[index]), code=code.format(year=start.year), round=round_, enroll_start=start,
            enroll_end=start + timedelta(days=days), start_date=start + timedelta(days=days + 5),
            end_date=start + timedelta(days=days + 7), fee_fen=fee, capacity=60, venue="上海市徐汇区宜山路 700 号",
        ), by=by)
        if status != "draft":
            await services.catalog.publish_session(str(session["_id"]), by=by)
        if status == "closed":
            await services.catalog.close_session(str(session["_id"]), by=by)
    base = services.settings.base_url
    return [f"  课程与班次 / catalog: {len(COURSES)} 门课程、{len(SESSIONS)} 个班次（两个正在报名）: {base}/api/v1/sessions"]
