"""Demo payments: the association's account; one payment waiting for review, one rejected, one approved.

The unit pays for its staff (one payment waiting in the review queue, one approved), the demo
trainee's payment was rejected (she sees the reason and may pay again). Proofs are simple
generated transfer screenshots (:mod:`server.demo.screenshots`, read by the OCR pre-check in the background);
the approved one has an e-invoice (:mod:`server.demo.invoices`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.demo.invoices import add_demo_invoice
from server.demo.screenshots import Layout, render_transfer_screenshot
from server.demo.staff import DEMO_USCC, LOCAL
from server.demo.trainee import DEMO_ID_NUMBER, DEMO_PORTRAIT
from server.errors import AppError
from server.models.payments import AssociationAccountIn, PaymentSubmit, RejectIn
from server.services import Principal
from server.services.container import Services

DEMO_ACCOUNT = AssociationAccountIn(
    account_name="上海市勘察设计行业协会", bank_name="中国工商银行上海市分行营业部",
    account_number="1001 2440 0902 6688 123", remark="转账附言请填写缴费编号；单位缴费请用单位账户转账")
async def _pay(services: Services, payer: Principal, enrollments: list[dict[str, Any]], *,
               title: str, title_type: str, layout: Layout, paid_fen: int | None = None) -> dict[str, Any]:
    """Pay for ``enrollments`` with a generated screenshot (of ``paid_fen`` when it differs from the due)."""
    ids = [str(e["_id"]) for e in enrollments]
    due = await services.payments.due(payer, ids)
    shot = await services.run_cpu(lambda: render_transfer_screenshot(
        layout=layout, amount_fen=paid_fen or due.amount_fen, payee_name=DEMO_ACCOUNT.account_name,
        payee_account=DEMO_ACCOUNT.account_number, remark=due.reference, paid_at=datetime.now(UTC)))
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
    made: list[str] = []
    invoice_lines: list[str] = []
    if len(staff) >= 2:
        approved = await _pay(services, company, staff[:1], title=unit["name"], title_type="company", layout="bank")
        await services.payments.approve(admin, str(approved["_id"]), ip=LOCAL)
        made.append(f"已通过 {approved['reference']}（单位为 1 人缴费，已开票）")
        invoice_lines = await add_demo_invoice(services, approved["_id"])
        staff = staff[1:]
    if staff:
        waiting = await _pay(services, company, staff, title=unit["name"], title_type="company", layout="wechat")
        made.append(f"待审核 {waiting['reference']}（单位为 {len(staff)} 人缴费）")
    if own:
        rejected = await _pay(services, me, own, title=trainee["name"], title_type="personal", layout="alipay",
                              paid_fen=int(own[0]["fee_fen"]) - 20000)
        await services.payments.reject(admin, str(rejected["_id"]), RejectIn(
            reason_code="amount_mismatch", note="截图金额比应缴金额少 200.00 元"), ip=LOCAL)  # type: ignore[arg-type]
        made.append(f"已驳回 {rejected['reference']}（{trainee['name']}，可重新提交）")
    lines.append(f"  缴费 / payments: {'；'.join(made)}")
    lines += invoice_lines
    lines.append("  审核队列 / review queue: 以 admin 登录（POST /api/v1/auth/login），"
                 "GET /api/v1/review/payments（?status=all 查看全部），"
                 "POST /api/v1/review/payments/{id}/approve | /reject")
    return lines
