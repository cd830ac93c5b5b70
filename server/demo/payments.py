"""Demo payments: the association's account; one payment waiting for review, one rejected, one approved.

The unit pays for its staff (one payment waiting in the review queue, one approved), the demo
trainee's payment was rejected (she sees the reason and may pay again). Proofs are simple
generated transfer screenshots (PNG, drawn with the CJK font when installed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from server.demo.staff import DEMO_USCC, LOCAL
from server.demo.trainee import DEMO_ID_NUMBER, DEMO_PORTRAIT
from server.errors import AppError
from server.models.payments import AssociationAccountIn, PaymentSubmit, RejectIn
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.container import Services

DEMO_ACCOUNT = AssociationAccountIn(
    account_name="上海市勘察设计行业协会", bank_name="中国工商银行上海市分行营业部",
    account_number="1001 2440 0902 6688 123", remark="转账附言请填写缴费编号；单位缴费请用单位账户转账")
CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def transfer_screenshot(amount_fen: int, reference: str, payee: str, account_tail: str) -> bytes:
    """A plain bank-app style "transfer done" screenshot (PNG, 540×1000)."""
    image = Image.new("RGB", (540, 1000), (245, 246, 248))
    draw = ImageDraw.Draw(image)
    path = next((p for p in CJK_FONTS if Path(p).exists()), None)

    def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return ImageFont.truetype(path, size) if path else ImageFont.load_default()

    draw.rectangle((0, 0, 540, 90), fill=(200, 30, 40))
    draw.text((30, 28), "手机银行 · 转账结果", font=font(30), fill="white")
    draw.ellipse((230, 140, 310, 220), fill=(40, 170, 90))
    draw.text((195, 240), "转账成功", font=font(36), fill=(30, 30, 30))
    draw.text((150, 300), f"¥ {amount_fen / 100:,.2f}", font=font(48), fill=(30, 30, 30))
    rows = [("收款户名", payee), ("收款账号", f"**** **** **** {account_tail}"),
            ("转账时间", datetime.now(UTC).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")),
            ("附言", reference), ("交易状态", "已完成")]
    for i, (label, value) in enumerate(rows):
        y = 420 + i * 70
        draw.text((40, y), label, font=font(26), fill=(120, 120, 120))
        draw.text((200, y), value, font=font(26), fill=(30, 30, 30))
        draw.line((40, y + 50, 500, y + 50), fill=(225, 225, 225), width=2)
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _pay(services: Services, payer: Principal, enrollments: list[dict[str, Any]], *,
               title: str, title_type: str, paid_fen: int | None = None) -> dict[str, Any]:
    """Pay for ``enrollments`` with a generated screenshot (of ``paid_fen`` when it differs from the due)."""
    ids = [str(e["_id"]) for e in enrollments]
    due = await services.payments.due(payer, ids)
    tail = DEMO_ACCOUNT.account_number.replace(" ", "")[-4:]
    shot = await services.run_cpu(transfer_screenshot, paid_fen or due.amount_fen, due.reference,
                                  DEMO_ACCOUNT.account_name, tail)
    invoice: dict[str, Any] = {"kind": "normal", "medium": "electronic", "title_type": title_type, "title": title,
                               "email": "fapiao@example.com"}
    if title_type == "company":
        invoice["tax_id"] = DEMO_USCC
    body = PaymentSubmit(enrollment_ids=ids, invoice=invoice)  # type: ignore[arg-type]
    return await services.payments.submit(payer, body, [shot], ip=LOCAL)


async def _enroll_rest_of_staff(services: Services, company: Principal, session_id: Any) -> list[dict[str, Any]]:
    """The unit gives its staff without a photo the demo portrait and enrolls them too (refusals skipped)."""
    made = []
    async for person in services.accounts.accounts.find({"trainee.unit_id": company.account_id,
                                                         "trainee.photo": {"$exists": False}}):
        try:
            await services.photos.store(person, DEMO_PORTRAIT.read_bytes(), consent=True, actor=company, ip=LOCAL)
            fresh = await services.accounts.accounts.find_one({"_id": person["_id"]})
            made.append(await services.enrollments.enroll(fresh, str(session_id), by=company, address_id=None,
                                                          ip=LOCAL))
        except AppError:
            continue  # already in that course, full, …
    return made


async def demo_payments(services: Services) -> list[str]:
    """The account, and three payments in the three states (see the module notes)."""
    admin_doc = await services.accounts.accounts.find_one({"role": "admin"})
    if admin_doc is None:
        return []
    admin = Principal(admin_doc["_id"], "admin")
    await services.association_account.put(admin, DEMO_ACCOUNT, ip=LOCAL)
    lines = [f"  协会收款账户 / association account: {DEMO_ACCOUNT.account_name} {DEMO_ACCOUNT.account_number}"]
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    unit = await services.accounts.find_by_login(DEMO_USCC)
    if trainee is None or unit is None:
        return lines
    enrollments = services.enrollments.enrollments
    staff = await enrollments.find({"unit_id": unit["_id"], "status": "pending_payment"}).sort("_id", 1).to_list()
    own = await enrollments.find({"trainee_id": trainee["_id"], "unit_id": None,
                                  "status": "pending_payment"}).to_list()
    company, me = Principal(unit["_id"], "unit"), Principal(trainee["_id"], "trainee")
    if staff:  # the unit's other staff (no photo in the staff demo) join the same session
        staff += await _enroll_rest_of_staff(services, company, staff[0]["session_id"])
    made = []
    if len(staff) >= 2:
        approved = await _pay(services, company, staff[:1], title=unit["name"], title_type="company")
        await services.payments.approve(admin, str(approved["_id"]), ip=LOCAL)
        made.append(f"已通过 {approved['reference']}（单位为 1 人缴费）")
        staff = staff[1:]
    if staff:
        waiting = await _pay(services, company, staff, title=unit["name"], title_type="company")
        made.append(f"待审核 {waiting['reference']}（单位为 {len(staff)} 人缴费）")
    if own:
        rejected = await _pay(services, me, own, title=trainee["name"], title_type="personal",
                              paid_fen=int(own[0]["fee_fen"]) - 20000)
        await services.payments.reject(admin, str(rejected["_id"]), RejectIn(
            reason_code="amount_mismatch", note="截图金额比应缴金额少 200.00 元"), ip=LOCAL)  # type: ignore[arg-type]
        made.append(f"已驳回 {rejected['reference']}（{trainee['name']}，可重新提交）")
    lines.append(f"  缴费 / payments: {'；'.join(made)}")
    lines.append("  审核队列 / review queue: 以 admin 登录（POST /api/v1/auth/login），"
                 "GET /api/v1/review/payments（?status=all 查看全部），"
                 "POST /api/v1/review/payments/{id}/approve | /reject")
    return lines
