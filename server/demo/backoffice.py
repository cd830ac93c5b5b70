"""Demo data for the back office's home and check-in pages: a full session with a waitlist, and a
session in training today with check-ins at the door (one a conflict between two devices).

- 工程勘察质量管理专项培训 ZL-{year}-01: one seat, taken by the demo trainee (her unit enrolls her and
  pays; the payment waits for review); the unit's two other staff wait in line: the dashboard shows
  the waitlist, and raising the capacity in 班次管理 hands the new seats to them in order.
- 勘察现场安全专项培训 XC-{year}-01: the unit's two other staff enrolled, paid and approved through the
  real review, then the session moved to run today and tomorrow; the door scanner's offline batch
  checks both in this morning, the second also scanned by another device (a conflict).

Written through the services, like every demo loader; runs after the others (it uses their people).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from server.demo.payments import _pay
from server.demo.staff import DEMO_USCC, LOCAL
from server.demo.trainee import DEMO_ID_NUMBER
from server.errors import AppError
from server.models.catalog import CourseCreate, SessionCreate, SessionUpdate
from server.models.passes import OfflineScan
from server.services import Principal
from server.services.accounts.identity import SHANGHAI, today_shanghai
from server.services.container import Services

WAITLIST_COURSE = CourseCreate(name="工程勘察质量管理专项培训", course_type="继续教育", activity_type="培训",
                               specialty="工程勘察", hours=12, pass_mark=60, mails_books=False)
TODAY_COURSE = CourseCreate(name="勘察现场安全专项培训", course_type="继续教育", activity_type="培训",
                            specialty="岩土工程", hours=16, pass_mark=60, mails_books=False)


async def demo_backoffice(services: Services) -> list[str]:
    """The waitlist and today's check-ins (see the module notes); the lines to print."""
    admin_doc = await services.accounts.accounts.find_one({"role": "admin"})
    unit = await services.accounts.find_by_login(DEMO_USCC)
    if admin_doc is None or unit is None:
        return []
    admin, company = Principal(admin_doc["_id"], "admin"), Principal(unit["_id"], "unit")
    staff = await services.accounts.accounts.find(
        {"trainee.unit_id": unit["_id"], "trainee.photo": {"$exists": True}}).sort("_id", 1).to_list()
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    others = [p for p in staff if trainee is None or p["_id"] != trainee["_id"]]
    if trainee is None or len(others) < 2:
        return []
    fresh = await services.accounts.accounts.find_one({"_id": trainee["_id"]})
    assert fresh is not None
    await _waitlist(services, company, fresh, others)
    return [line for line in (await _today(services, admin, company, others),) if line]


async def demo_waitlist_session(services: Services) -> list[str]:
    """The one-seat session, created before the demo catalog's sessions: the session list (newest
    first) then does not open on a full session; :func:`demo_backoffice` fills it later."""
    admin_doc = await services.accounts.accounts.find_one({"role": "admin"})
    if admin_doc is None:
        return []
    admin = Principal(admin_doc["_id"], "admin")
    today = today_shanghai()
    course = await services.catalog.create_course(WAITLIST_COURSE, by=admin)
    session = await services.catalog.create_session(SessionCreate(
        course_id=str(course["_id"]), code=f"ZL-{today.year}-01", round="一期", enroll_start=today - timedelta(days=2),
        enroll_end=today + timedelta(days=12), start_date=today + timedelta(days=20),
        end_date=today + timedelta(days=21), fee_fen=90000, capacity=1, venue="上海市徐汇区宜山路 700 号"), by=admin)
    await services.catalog.publish_session(str(session["_id"]), by=admin)
    return []


async def _waitlist(services: Services, company: Principal, seat_holder: dict[str, Any],
                    waiting: list[dict[str, Any]]) -> None:
    """The one-seat session's seat taken by the demo trainee (her unit enrolls her and pays: the payment
    waits for review, so the unit has nothing left to pay), the unit's other staff in line."""
    session = await services.db["sessions"].find_one({"code": f"ZL-{today_shanghai().year}-01"})
    if session is None:
        return
    sid = str(session["_id"])
    seat = await services.enrollments.enroll(seat_holder, sid, by=company, address_id=None, ip=LOCAL)
    await _pay(services, company, [seat], title="上海示例勘察设计有限公司", title_type="company", layout="alipay")
    for person in waiting:
        try:
            await services.enrollments.join_waitlist(company, sid, str(person["_id"]))
        except AppError:
            continue


async def _today(services: Services, admin: Principal, company: Principal, staff: list[dict[str, Any]]) -> str:
    """A session in training today with this morning's check-ins and one conflict."""
    today = today_shanghai()
    course = await services.catalog.create_course(TODAY_COURSE, by=admin)
    session = await services.catalog.create_session(SessionCreate(
        course_id=str(course["_id"]), code=f"XC-{today.year}-01", round="一期", enroll_start=today - timedelta(days=1),
        enroll_end=today + timedelta(days=1), start_date=today + timedelta(days=3), end_date=today + timedelta(days=4),
        fee_fen=50000, capacity=40, venue="上海市静安区共和新路 3088 号"), by=admin)
    sid = str(session["_id"])
    await services.catalog.publish_session(sid, by=admin)
    enrollments = [await services.enrollments.enroll(p, sid, by=company, address_id=None, ip=LOCAL) for p in staff]
    payment = await _pay(services, company, enrollments, title="上海示例勘察设计有限公司", title_type="company",
                         layout="wechat")
    await services.payments.approve(admin, str(payment["_id"]), ip=LOCAL)
    await services.catalog.update_session(sid, SessionUpdate(  # it runs today and tomorrow
        enroll_start=today - timedelta(days=10), enroll_end=today - timedelta(days=1), start_date=today,
        end_date=today + timedelta(days=1)), by=admin)
    scanner = await services.accounts.accounts.find_one({"role": "scanner"})
    if scanner is None:
        return ""
    now = datetime.now(UTC)
    morning = datetime.combine(today, time(8, 40), SHANGHAI).astimezone(UTC)
    start = datetime.combine(today, time(0, 1), SHANGHAI).astimezone(UTC)
    scans = []
    for n, enrollment in enumerate(enrollments[:2]):
        fresh = await services.db["enrollments"].find_one({"_id": enrollment["_id"]})
        issued = await services.passes.ensure(fresh or enrollment)
        at = max(start, min(now - timedelta(minutes=5), morning + timedelta(minutes=n)))
        scans.append(OfflineScan(token=issued["token"], session_id=sid, client_id=f"demo-today-{n}",
                                 device_id="door-1", scanned_at=at))
        if n == 1:  # scanned again at the side door: a conflict for staff to look at
            scans.append(OfflineScan(token=issued["token"], session_id=sid, client_id=f"demo-today-{n}-b",
                                     device_id="door-2", scanned_at=at + timedelta(seconds=30)))
    merged = await services.checkins.merge_batch(Principal(scanner["_id"], "scanner"), scans)
    waiting = await services.db["waitlist"].count_documents({"status": "waiting"})
    return (f"  候补与今日签到 / waitlist, today's check-ins: 班次 ZL-{today.year}-01 计划 1 人已满，{waiting} 人候补"
            f"（以 admin 登录，「班次管理」→ 调整名额）；班次 {session['code']} 今天开课，已签到 {merged.recorded} 人、"
            f"冲突 {merged.conflicts} 条（「签到管理」）")
