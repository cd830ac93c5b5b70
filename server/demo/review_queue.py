"""Demo data of the back office's payment review (缴费审核): two reviewers and a queue of ten payments.

A second unit (上海示例测绘有限公司) enrolls ten of its staff in an open session and pays for each
of them separately, with generated screenshots of the three app layouts: most are right, two show
a smaller amount (the OCR flags 金额不符), one reuses another payment's screenshot (the OCR flags
重复截图). Two reviewer accounts (``reviewer``, ``reviewer2``) are printed with their passwords, so
two people can work through the queue at once (and see a conflict when both decide the same payment).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from server.demo.payments import DEMO_ACCOUNT
from server.demo.screenshots import Layout, render_transfer_screenshot
from server.demo.staff import LOCAL
from server.demo.trainee import DEMO_PORTRAIT
from server.models.accounts import StaffCreate as StaffAccountCreate
from server.models.accounts import UnitRegister
from server.models.enrollments import UnitEnrollmentCreate
from server.models.payments import PaymentSubmit
from server.models.staff import StaffCreate
from server.models.templates import AddressIn
from server.services import Principal
from server.services.accounts.identity import resident_check_char, today_shanghai, uscc_check_char
from server.services.accounts.sms import SmsPurpose
from server.services.catalog.catalog import enrollment_window_open
from server.services.container import Services

REVIEW_UNIT_USCC_17 = "91310000MA1K00R7Q"
REVIEW_UNIT_USCC = REVIEW_UNIT_USCC_17 + uscc_check_char(REVIEW_UNIT_USCC_17)
REVIEW_UNIT_PHONE = "13900000090"
QUEUE_SIZE = 10
NAMES = ("赵磊", "钱芳", "孙伟", "李娜", "周杰", "吴婷", "郑强", "王丽", "冯军", "陈晨")
REVIEWERS = (("reviewer", "审核员 张敏"), ("reviewer2", "审核员 李强"))
LAYOUTS: tuple[Layout, ...] = ("wechat", "alipay", "bank")
SHORT_PAID = {3: 20000, 8: 50000}  # queue position → fen missing from the screenshot
REUSED = {6: 2}  # queue position → the earlier position whose screenshot it sends again


def resident_id(serial: int) -> str:
    """A valid resident ID number (Shanghai, born 1990) for the demo's ``serial``-th person."""
    first17 = f"3101011990{(serial % 12) + 1:02d}{(serial % 28) + 1:02d}{serial:03d}"
    return first17 + resident_check_char(first17)


async def demo_reviewers(services: Services) -> list[str]:
    """Two reviewer accounts with random passwords (printed this once)."""
    lines = []
    for username, name in REVIEWERS:
        password = "Demo-" + secrets.token_urlsafe(9)
        await services.accounts.create_staff(
            StaffAccountCreate(username=username, role="reviewer", name=name, password=password))
        label = "协会第二审核员 / reviewer2" if username == "reviewer2" else "协会审核员 / reviewer"
        lines.append(f"  {label}: 账号 {username}  密码 {password}")
    return lines


async def _register_unit(services: Services) -> Principal:
    await services.sms_codes.send(REVIEW_UNIT_PHONE, SmsPurpose.register, ip=LOCAL)
    outbox = services.settings.sms_outbox.read_text(encoding="utf-8").splitlines()
    code = [json.loads(line) for line in outbox if REVIEW_UNIT_PHONE in line][-1]["code"]
    uscc = REVIEW_UNIT_USCC
    await services.accounts.register_unit(UnitRegister(
        name="上海示例测绘有限公司", uscc=uscc, contact_name="孙经理", phone=REVIEW_UNIT_PHONE,
        password="Demo-" + secrets.token_urlsafe(9), sms_code=code), ip=LOCAL)
    doc = await services.accounts.find_by_login(uscc)
    assert doc is not None
    return Principal(doc["_id"], "unit")


async def _staff_with_photos(services: Services, unit: Principal) -> list[str]:
    """Twelve staff of the unit, each with the demo portrait (enrolling needs a photo)."""
    ids = []
    for i, name in enumerate(NAMES):
        made = await services.staff.add(unit, StaffCreate(
            name=name, id_number=resident_id(i + 1), phone=f"139000001{i:02d}", email="staff@example.com",
            work_start="2012-07", specialty="工程测量", address="上海市徐汇区示例路 200 号", position="测量员"), ip=LOCAL)
        person = await services.accounts.accounts.find_one({"_id": ObjectId(made.id)})
        assert person is not None
        await services.photos.store(person, DEMO_PORTRAIT.read_bytes(), consent=True, actor=unit, ip=LOCAL)
        ids.append(str(person["_id"]))
    return ids


async def _pay_each(services: Services, unit: Principal, enrollment_ids: list[str]) -> list[dict[str, Any]]:
    """One payment per enrollment, oldest first, some with a short amount or a reused screenshot."""
    shots: dict[int, bytes] = {}
    payments = []
    for i, enrollment_id in enumerate(enrollment_ids):
        due = await services.payments.due(unit, [enrollment_id])
        if i in REUSED:
            shot = shots[REUSED[i]]
        else:
            paid = due.amount_fen - SHORT_PAID.get(i, 0)
            shot = await services.run_cpu(lambda p=paid, r=due.reference, k=i: render_transfer_screenshot(
                layout=LAYOUTS[k % 3], amount_fen=p, payee_name=DEMO_ACCOUNT.account_name,
                payee_account=DEMO_ACCOUNT.account_number, remark=r, paid_at=datetime.now(UTC)))
        shots[i] = shot
        body = PaymentSubmit(enrollment_ids=[enrollment_id], invoice={  # type: ignore[arg-type]
            "kind": "normal", "medium": "electronic", "title_type": "company", "title": "上海示例测绘有限公司",
            "tax_id": REVIEW_UNIT_USCC, "email": "fapiao@example.com"})
        payments.append(await services.payments.submit(unit, body, [shot], ip=LOCAL))
    return payments


async def demo_review_queue(services: Services) -> list[str]:
    """Reviewers, and a unit's ten payments waiting in the review queue (see the module notes)."""
    lines = await demo_reviewers(services)
    today = today_shanghai()
    sessions = [s async for s in services.db["sessions"].find({"status": "published"}).sort("code", 1)
                if enrollment_window_open(s, today)]
    if not sessions:
        return lines
    unit = await _register_unit(services)
    await services.templates.create_address(unit, AddressIn(  # books are mailed for some courses
        recipient="孙经理", phone=REVIEW_UNIT_PHONE, region="上海市徐汇区", address="示例路 200 号", postcode="200030",
        is_default=True), ip=LOCAL)
    staff = await _staff_with_photos(services, unit)
    result = await services.enrollments.enroll_staff(
        unit, UnitEnrollmentCreate(session_id=str(sessions[0]["_id"]), trainee_ids=staff), ip=LOCAL)
    enrollment_ids = [r.enrollment_id for r in result.results if r.enrollment_id]
    payments = await _pay_each(services, unit, enrollment_ids)
    lines.append(f"  缴费审核 / payment review: {len(payments)} 笔单位缴费待审核（其中 2 笔金额不符、1 笔重复截图）；"
                 "以 reviewer 或 admin 登录后打开 /review/payments（缴费审核，按 ? 查看快捷键）")
    return lines
