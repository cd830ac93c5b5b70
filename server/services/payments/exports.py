"""Excel exports of the payment area: a session's logistics list, the payments of a period.

Reads only (payments, enrollments, accounts, sessions); the rows are assembled here, where the
personal data is decided, and the workbook is built by a pure renderer in the document pool.

**Logistics list** (reviewer or admin, ``GET /api/v1/review/exports/logistics.xlsx?session_id=``):
one row per *approved* enrollment of the session that has something to mail — the training books
when the session mails books, and/or the paper invoice of its payment. A payment's paper invoice
is listed once, on the row of the payment's first enrollment (a unit paying for ten people gets
one invoice, not ten). The address is the enrollment's own copy (chosen at enrollment); the
recipient's phone is shown **in full**: it is a shipping list, and the courier must call the
recipient. The list is for association staff only and every download is audited.

**Payments export** (admin, ``GET /api/v1/admin/exports/payments.xlsx?from=&to=``): every payment
submitted in the period (Beijing days, both ends included, at most ``MAX_PERIOD_DAYS``): payer,
unit, the people (ID numbers masked), sessions, amount in 元, status, reviewer, decision, invoice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.payments_xlsx import render_logistics, render_payments
from server.models.invoices import KIND_LABELS, PaymentsExportQuery, invoice_label
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.accounts.personal import id_masked_of
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.cpu import CpuRunner
from server.services.enrollment.templates import TemplateService
from server.services.ids import parse_object_id
from server.services.pii import FieldCipher

MAX_PERIOD_DAYS = 366
STATUS_LABELS = {"submitted": "待审核", "approved": "已通过", "rejected": "已驳回"}
PAYER_KINDS = {"trainee": "个人", "unit": "单位"}
BOOKS = "培训书籍"


class PaymentExportService:
    """The logistics list of a session and the payments export of a period."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, cipher: FieldCipher, templates: TemplateService,
        audit: AuditLog, run_cpu: CpuRunner, now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.accounts = AccountRepository(db)
        self.cipher = cipher
        self.templates = templates
        self.audit = audit
        self.run_cpu = run_cpu
        self.now = now or (lambda: datetime.now(UTC))

    # ---- logistics ----------------------------------------------------------------------------

    async def logistics(self, principal: Principal, session_id: str, *, ip: str | None) -> tuple[str, str, bytes]:
        """The mailing list of a session as xlsx (audited ``payment.logistics_export``)."""
        sid = parse_object_id(session_id, "班次不存在")
        session = await self.db["sessions"].find_one({"_id": sid})
        if session is None:
            raise errors.not_found("班次不存在")
        enrollments = await self.db["enrollments"].find(
            {"session_id": sid, "status": "approved"}).sort("created_at", 1).to_list()
        ids = [e["_id"] for e in enrollments]
        payments = await self.db["payments"].find(
            {"status": "approved", "enrollment_ids": {"$in": ids}},
            {"enrollment_ids": 1, "invoice_issue": 1, "reference": 1, "unit_id": 1}).to_list() if ids else []
        paid_by = {eid: p for p in payments for eid in p["enrollment_ids"]}
        names = await self._names({e["trainee_id"] for e in enrollments}
                                  | {e["unit_id"] for e in enrollments if e.get("unit_id")}
                                  | {p["unit_id"] for p in payments if p.get("unit_id")})
        rows = [row for e in enrollments
                if (row := self._logistics_row(e, session, paid_by.get(e["_id"]), names)) is not None]
        await self.audit.record("payment.logistics_export", actor_id=principal.account_id, actor_role=principal.role,
                                subject=f"session:{session['code']}", subject_id=sid, ip=ip,
                                details={"rows": len(rows)})
        title = f"{session.get('course_name', '')}（{session['code']} {session.get('round', '')}）"
        return await self.run_cpu(render_logistics, title, session["code"], rows)  # type: ignore[no-any-return]

    def _logistics_row(self, enrollment: dict[str, Any], session: dict[str, Any], payment: dict[str, Any] | None,
                       names: dict[ObjectId, str]) -> dict[str, Any] | None:
        """What to mail for one enrollment, and where; None when nothing is mailed."""
        contents, notes = [], []
        if session.get("mails_books"):
            contents.append(BOOKS)
        issue = (payment or {}).get("invoice_issue") or {}
        if payment is not None and issue.get("medium") == "paper" and payment["enrollment_ids"][0] == enrollment["_id"]:
            contents.append(f"纸质{KIND_LABELS[issue['type']]} 发票号码 {issue['number']}")
            if len(payment["enrollment_ids"]) > 1:
                notes.append(f"发票含 {len(payment['enrollment_ids'])} 人的费用（缴费编号 {payment.get('reference', '')}）")
        if not contents:
            return None
        address = self.templates.shown_address(enrollment.get("address")) or {}
        if not address:
            notes.append("未填写收货地址，请联系付款方")
        unit_id = enrollment.get("unit_id") or (payment or {}).get("unit_id")
        return {
            "trainee_name": names.get(enrollment["trainee_id"], ""),
            "unit_name": names.get(unit_id, "") if unit_id else "",
            "recipient": address.get("recipient"), "phone": address.get("phone"), "region": address.get("region"),
            "address": address.get("address"), "postcode": address.get("postcode"),
            "contents": "、".join(contents), "note": "；".join(notes),
        }

    async def _names(self, account_ids: Iterable[ObjectId]) -> dict[ObjectId, str]:
        found = self.accounts.find({"_id": {"$in": list(account_ids)}}, {"name": 1}, include_pending=True)
        return {a["_id"]: a.get("name", "") async for a in found}

    # ---- payments of a period -------------------------------------------------------------------

    async def payments(self, principal: Principal, query: PaymentsExportQuery, *, ip: str | None) -> tuple[str, str, bytes]:
        """The payments submitted in the period as xlsx (audited ``payment.export``); 400 for a bad period."""
        start, end = check_period(query.from_, query.to)
        payments = await self.db["payments"].find(
            {"submitted_at": {"$gte": start, "$lt": end}}).sort("submitted_at", 1).to_list()
        people = await self._people(payments)
        sessions = await self._sessions({sid for p in payments for sid in p.get("session_ids", [])})
        rows = [self._payment_row(p, people, sessions) for p in payments]
        await self.audit.record("payment.export", actor_id=principal.account_id, actor_role=principal.role,
                                subject="payments", ip=ip,
                                details={"from": query.from_.isoformat(), "to": query.to.isoformat(), "rows": len(rows)})
        return await self.run_cpu(render_payments, query.from_, query.to, rows)  # type: ignore[no-any-return]

    async def _people(self, payments: list[dict[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
        ids = {p["payer"]["account_id"] for p in payments} | {p["unit_id"] for p in payments if p.get("unit_id")}
        ids |= {line["trainee_id"] for p in payments for line in p.get("lines", [])}
        ids |= {p["review"]["reviewer_id"] for p in payments if p.get("review")}
        found = self.accounts.find({"_id": {"$in": list(ids)}}, {"name": 1, "role": 1, "trainee.id_number": 1},
                                   include_pending=True)
        return {a["_id"]: a async for a in found}

    async def _sessions(self, session_ids: set[ObjectId]) -> dict[ObjectId, str]:
        found = self.db["sessions"].find({"_id": {"$in": list(session_ids)}}, {"code": 1, "round": 1, "course_name": 1})
        return {s["_id"]: f"{s.get('course_name', '')}（{s['code']} {s.get('round', '')}）" async for s in found}

    def _payment_row(self, payment: dict[str, Any], people: dict[ObjectId, dict[str, Any]],
                     sessions: dict[ObjectId, str]) -> dict[str, Any]:
        def name(account_id: ObjectId | None) -> str:
            return str(people.get(account_id, {}).get("name", "")) if account_id else ""

        trainees = []
        for line in payment.get("lines", []):
            person = people.get(line["trainee_id"], {})
            masked = id_masked_of(self.cipher, person.get("trainee") or {})
            trainees.append(f"{person.get('name', '')}（{masked}）")
        review = payment.get("review") or {}
        issue = payment.get("invoice_issue") or {}
        return {
            "reference": payment.get("reference"),
            "payer_kind": PAYER_KINDS.get(payment["payer"]["role"], ""),
            "payer_name": name(payment["payer"]["account_id"]),
            "unit_name": name(payment.get("unit_id")),
            "trainees": "\n".join(trainees),
            "sessions": "\n".join(sessions.get(sid, "") for sid in payment.get("session_ids", [])),
            "amount_yuan": round(payment["amount_fen"] / 100, 2),
            "status": STATUS_LABELS.get(payment["status"], payment["status"]),
            "submitted_at": payment.get("submitted_at"),
            "reviewer": name(review.get("reviewer_id")),
            "decided_at": review.get("at"),
            "reason": review.get("reason") if review.get("decision") == "rejected" else None,
            "invoice_number": issue.get("number"),
            "invoice_type": invoice_label(issue) if issue else None,
            "invoice_date": date.fromisoformat(issue["date"]) if issue.get("date") else None,
        }


def check_period(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC bounds of Beijing days ``start``..``end`` (both included); 400 when reversed or too long."""
    if end < start:
        raise errors.bad_request("period_reversed", "截止日期不能早于起始日期",
                                 {"from": start.isoformat(), "to": end.isoformat()})
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise errors.bad_request("period_too_long", f"导出时间段不能超过 {MAX_PERIOD_DAYS} 天，请分段导出",
                                 {"max_days": MAX_PERIOD_DAYS})
    first = datetime.combine(start, time(0), SHANGHAI).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)
    return first, after
