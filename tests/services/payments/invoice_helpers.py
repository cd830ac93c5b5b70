"""Payments as the payments contract stores them, for the invoice and export tests.

Submit and review are built in parallel (another area); until then these helpers write the
payment document exactly as the contract fixes it, on enrollments made through the real
enrollment flow (the API or :class:`EnrollmentService`), and move the enrollments as submit and
approve will: ``mark_payment_submitted`` (the enrollment service's own transition), then
``approved`` with ``payment_id`` set here, as the payments lifecycle will set it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId

from server.documents.invoice_pdf import render_demo_invoice
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.handlers.enrollment.test_enrollments import add_address, new_session, trainee_with_photo

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()


def reference() -> str:
    """A payment code like the ones submit generates (``JP7K3Q9A``)."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


async def make_payment(
    services: Services, enrollment_ids: list[ObjectId | str], *, payer_role: str, payer_id: ObjectId | str,
    status: str = "approved", submitted_at: datetime | None = None, reviewer_id: ObjectId | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Insert one payment of these enrollments (contract shape) and move the enrollments with it."""
    db = services.db
    ids = [ObjectId(i) for i in enrollment_ids]
    enrollments = await db["enrollments"].find({"_id": {"$in": ids}}).to_list()
    assert len(enrollments) == len(ids), "every enrollment must exist"
    enrollments.sort(key=lambda e: ids.index(e["_id"]))
    now = datetime.now(UTC)
    submitted = submitted_at or now
    lines = [{"enrollment_id": e["_id"], "trainee_id": e["trainee_id"], "session_id": e["session_id"],
              "course_id": e["course_id"], "fee_fen": e["fee_fen"]} for e in enrollments]
    payer_oid = ObjectId(payer_id)
    doc: dict[str, Any] = {
        "_id": ObjectId(), "reference": reference(),
        "payer": {"role": payer_role, "account_id": payer_oid},
        "unit_id": payer_oid if payer_role == "unit" else None,
        "enrollment_ids": ids, "lines": lines,
        "session_ids": list(dict.fromkeys(e["session_id"] for e in enrollments)),
        "amount_fen": sum(line["fee_fen"] for line in lines),
        "status": status, "proofs": [],
        "invoice": {"kind": "normal", "medium": "electronic", "title_type": "personal", "title": "张三"},
        "submitted_at": submitted, "created_at": submitted, "updated_at": now,
        "ocr": {"status": "pending"},
    }
    if status != "submitted":
        doc["review"] = {"decision": status, "reason": reason if status == "rejected" else None,
                         "reviewer_id": reviewer_id or ObjectId(), "at": now}
    await db["payments"].insert_one(doc)
    moved = await services.enrollments.mark_payment_submitted(ids)
    assert moved == ids, "the enrollments must be payable"
    await db["enrollments"].update_many({"_id": {"$in": ids}}, {"$set": {"payment_id": doc["_id"]}})
    if status != "submitted":
        await db["enrollments"].update_many({"_id": {"$in": ids}}, {"$set": {"status": status, "updated_at": now}})
    return doc


async def admin_token(services: Services, role: str = "admin") -> str:
    """A staff token (admin unless ``role``)."""
    return await factories.staff_token(services, role)


async def enrolled_trainee(api: ApiClient, services: Services, session_id: str, *,
                           address: bool = False) -> tuple[str, str, str]:
    """A registered trainee enrolled (by themselves, over the API) in the session: (token, trainee id, enrollment id)."""
    token, trainee_id = await trainee_with_photo(api, services.settings, services.db)
    body: dict[str, Any] = {"session_id": session_id}
    if address:
        body["address_id"] = await add_address(api, token)
    r = await api.post("/api/v1/enrollments", body, token=token)
    assert r.status == 201, r.body
    return token, trainee_id, r.json["id"]


async def session_id(api: ApiClient, admin: str, *, mails_books: bool = False) -> str:
    """A published session whose enrollment window is open today."""
    return await new_session(api, admin, mails_books=mails_books)


async def approved_trainee_payment(api: ApiClient, services: Services, admin: str, *, mails_books: bool = False,
                                   status: str = "approved") -> tuple[str, dict[str, Any]]:
    """A trainee's own payment of one enrollment in a new session: (the trainee's token, the payment)."""
    sid = await session_id(api, admin, mails_books=mails_books)
    token, trainee_id, enrollment_id = await enrolled_trainee(api, services, sid, address=mails_books)
    payment = await make_payment(services, [enrollment_id], payer_role="trainee", payer_id=trainee_id, status=status)
    return token, payment


def demo_pdf(number: str = "26312000000012345678") -> bytes:
    """A real one-page invoice PDF (reportlab, CJK font)."""
    from datetime import date

    return render_demo_invoice(number=number, issued_on=date(2026, 3, 1), buyer="张三", item="岩土工程勘察专项培训",
                               amount_fen=120000)[2]
