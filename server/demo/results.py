"""Demo results and certificates: a finished session with published results, two certificates (one
revoked), the association's seal, and a verification URL printed to open on a phone.

The demo unit enrolls three of its staff in a new course's session (two training days; the course
requires full attendance for a certificate, ``min_attendance_percent=100``), pays, the admin
approves; the session's dates are then moved into the past (it ran last month): the door scanner's
offline scans of both days are merged (the third trainee came on the first day only), and the
session is closed. The admin enters the results (all three 合格), publishes them and approves the
certificates in a batch: two are issued, the third is skipped (出勤 1/2 天). A re-marking then finds
the second trainee's paper below the pass mark: the certificate is revoked and the result
corrected with a reason (audited, old and new value), so it ends 不合格.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from server.demo.payments import _pay
from server.demo.staff import DEMO_USCC, LOCAL
from server.models.catalog import CourseCreate, SessionCreate, SessionUpdate
from server.models.certificates import RevokeIn, verify_url
from server.models.passes import OfflineScan
from server.models.results import ResultIn
from server.services import Principal
from server.services.accounts.identity import SHANGHAI, today_shanghai
from server.services.container import Services

COURSE = CourseCreate(name="勘察安全生产管理专项培训", course_type="继续教育", activity_type="考试",
                      specialty="岩土工程", hours=8, pass_mark=60, mails_books=False, min_attendance_percent=100)
SCORES = (86, 72, 91)
DAYS_PRESENT = ((0, 1), (0, 1), (0,))  # the training days each trainee was scanned at the door
CORRECTED = ResultIn(score=55, reason="复核试卷发现第 3 题重复计分，成绩更正（演示）")


def demo_seal_png() -> bytes:
    """A red round seal with transparency (演示专用章), drawn with the CJK font."""
    from PIL import Image, ImageDraw, ImageFont

    from server.documents.invoice_pdf import CJK_FONT_FILES

    size = 400
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (200, 20, 20, 215)
    draw.ellipse((10, 10, size - 10, size - 10), outline=red, width=14)
    star = [(200, 110), (222, 175), (290, 175), (235, 215), (256, 282), (200, 242), (144, 282), (165, 215),
            (110, 175), (178, 175)]
    draw.polygon(star, fill=red)
    font_file = next((str(p) for p in CJK_FONT_FILES if p.exists()), None)
    if font_file:
        font = ImageFont.truetype(font_file, 34)
        draw.text((size / 2, 320), "演示专用章", font=font, fill=red, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def demo_results(services: Services) -> list[str]:
    """Results and certificates (see the module notes); the lines to print."""
    admin_doc = await services.accounts.accounts.find_one({"role": "admin"})
    unit = await services.accounts.find_by_login(DEMO_USCC)
    if admin_doc is None or unit is None:
        return []
    admin, company = Principal(admin_doc["_id"], "admin"), Principal(unit["_id"], "unit")
    await services.certificates.set_seal(admin, await services.run_cpu(demo_seal_png), ip=LOCAL)
    staff = await services.accounts.accounts.find(
        {"trainee.unit_id": unit["_id"], "trainee.photo": {"$exists": True}}).sort("_id", 1).to_list(len(SCORES))
    if len(staff) < 2:
        return []
    course = await services.catalog.create_course(COURSE, by=admin)
    today = today_shanghai()
    session = await services.catalog.create_session(SessionCreate(
        course_id=str(course["_id"]), code=f"AQ-{today.year}-01", round="一期", enroll_start=today - timedelta(days=1),
        enroll_end=today + timedelta(days=1), start_date=today + timedelta(days=3), end_date=today + timedelta(days=4),
        fee_fen=60000, capacity=30, venue="上海市静安区共和新路 3088 号"), by=admin)
    sid = str(session["_id"])
    await services.catalog.publish_session(sid, by=admin)
    enrollments: list[dict[str, Any]] = [
        await services.enrollments.enroll(person, sid, by=company, address_id=None, ip=LOCAL) for person in staff]
    payment = await _pay(services, company, enrollments, title=unit["name"], title_type="company", layout="bank")
    await services.payments.approve(admin, str(payment["_id"]), ip=LOCAL)
    # The session ran last month.
    await services.catalog.update_session(sid, SessionUpdate(
        enroll_start=today - timedelta(days=45), enroll_end=today - timedelta(days=40),
        start_date=today - timedelta(days=35), end_date=today - timedelta(days=34)), by=admin)
    attendance = await _scan_at_the_door(services, session, enrollments)
    await services.catalog.close_session(sid, by=admin)
    for enrollment, score in zip(enrollments, SCORES, strict=False):
        await services.results.enter(admin, str(enrollment["_id"]), ResultIn(score=score), ip=LOCAL)
    published = await services.results.publish(admin, sid, ip=LOCAL)
    issued = await services.certificates.issue_session(admin, sid, ip=LOCAL)
    certificates = await services.certificates.certificates.find({"session_id": session["_id"]}).sort("seq", 1).to_list()
    lines = [f"  成绩 / results: 班次 {session['code']} 已结束，成绩已发布（合格 {published.passed}，"
             f"不合格 {published.failed}）；出勤 {attendance}；合格证 {'、'.join(issued.numbers)}"]
    lines += [f"  未发证 / skipped: {k.name}：{k.reason}" for k in issued.skipped]
    if len(certificates) >= 2:
        await services.certificates.revoke(admin, str(certificates[1]["_id"]), RevokeIn(reason="成绩复核更正（演示）"),
                                           ip=LOCAL)
        await services.results.enter(admin, str(certificates[1]["enrollment_id"]), CORRECTED, ip=LOCAL)
        lines.append(f"  已撤销 / revoked: {certificates[1]['number']}（成绩更正为 {CORRECTED.score} 分，不合格，"
                     f"见审计日志）→ {verify_url(services.settings.base_url, certificates[1]['code'])}")
    if certificates:
        lines.append(f"  合格证验证 / verify (open on a phone): "
                     f"{verify_url(services.settings.base_url, certificates[0]['code'])}")
        lines.append(f"  合格证 PDF: 以单位登录后 GET /api/v1/certificates/{certificates[0]['_id']}/pdf")
    return lines


async def _scan_at_the_door(services: Services, session: dict[str, Any], enrollments: list[dict[str, Any]]) -> str:
    """The scanner's offline scans of the training days (:data:`DAYS_PRESENT`), merged as a batch the
    way the scanner uploads them; the attendance as printed (“刘洋 2/2 天、…”)."""
    scanner = await services.accounts.accounts.find_one({"role": "scanner"})
    if scanner is None:
        return "（无验证员账号）"
    session = await services.catalog.get_session(session["_id"])  # its dates as moved
    scans = []
    for enrollment, days in zip(enrollments, DAYS_PRESENT, strict=False):
        fresh = await services.db["enrollments"].find_one({"_id": enrollment["_id"]})
        issued = await services.passes.ensure(fresh or enrollment)
        for day in days:
            first_day = date.fromisoformat(str(session["start_date"])[:10])
            moment = datetime.combine(first_day + timedelta(days=day), time(8, 40 + len(scans)), SHANGHAI)
            scans.append(OfflineScan(token=issued["token"], session_id=str(session["_id"]),
                                     client_id=f"demo-{issued['serial']}-{day}", device_id="door-1",
                                     scanned_at=moment.astimezone(UTC)))
    await services.checkins.merge_batch(Principal(scanner["_id"], "scanner"), scans)
    shown = await services.results.attendance(session, [e["_id"] for e in enrollments])
    names = {a["_id"]: a["name"] for a in await services.accounts.accounts.find(
        {"_id": {"$in": [e["trainee_id"] for e in enrollments]}}, {"name": 1}).to_list()}
    return "、".join(f"{names.get(e['trainee_id'], '')} {shown[e['_id']].label}" for e in enrollments)
