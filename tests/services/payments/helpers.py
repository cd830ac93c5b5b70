"""Helpers of the payment tests: unpaid enrollments of a trainee or a unit, proof pictures, payments made
through the real submit and review (for the invoice and export tests too), checks."""

from __future__ import annotations

import copy
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from bson import ObjectId
from PIL import Image, ImageDraw
from pymongo.asynchronous.database import AsyncDatabase

from server.documents.invoice_pdf import render_demo_invoice
from server.models.payments import PaymentSubmit, RejectIn, RejectReason
from server.services import Principal
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.handlers.enrollment.test_enrollments import add_address, new_session, trainee_with_photo
from tests.services.enrollment.helpers import make_session, make_trainees

INVOICE = {"kind": "normal", "medium": "paper", "title_type": "personal", "title": "张三"}
PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()


def proof_png(text: str = "转账成功 ¥1200.00", size: tuple[int, int] = (360, 640)) -> bytes:
    """A small screenshot-like PNG."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 40), text.encode("ascii", "replace").decode(), fill="black")
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def proof_jpeg_with_gps() -> bytes:
    """A JPEG carrying EXIF with a camera model and a GPS position (to be stripped)."""
    exif = Image.Exif()
    exif[0x0110] = "iPhone 15"
    exif[0x8825] = {1: "N", 2: (31.0, 12.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    out = BytesIO()
    Image.new("RGB", (300, 500), "white").save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


PDF_AS_JPG = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


async def make_unit(db: AsyncDatabase[dict[str, Any]], name: str = "某某勘察设计院") -> Principal:
    """A unit account inserted directly; its principal."""
    unit_id = ObjectId()
    await db["accounts"].insert_one({"_id": unit_id, "role": "unit", "status": "active", "name": name,
                                     "login_key": f"unit:{unit_id}"})
    return Principal(unit_id, "unit")


async def unpaid(services: Services, db: AsyncDatabase[dict[str, Any]], n: int = 1, *,
                 unit: Principal | None = None, capacity: int = 30) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` trainees enrolled in a new session (by the unit when given, else each by themselves):
    (trainees, enrollments)."""
    session = await make_session(services, capacity=capacity)
    trainees = await make_trainees(db, n, unit_id=unit.account_id if unit else None)
    docs = []
    for trainee in trainees:
        by = unit or Principal(trainee["_id"], "trainee")
        docs.append(await services.enrollments.enroll(trainee, str(session["_id"]), by=by, address_id=None, ip=None))
    return trainees, docs


def submit_body(enrollments: list[dict[str, Any]], **overrides: Any) -> PaymentSubmit:
    """A valid submit payload for these enrollments (typed invoice)."""
    values: dict[str, Any] = {"enrollment_ids": [str(e["_id"]) for e in enrollments], "invoice": INVOICE}
    values.update(overrides)
    return PaymentSubmit.model_validate(values)


async def state(db: AsyncDatabase[dict[str, Any]], enrollment_ids: list[ObjectId]) -> dict[str, Any]:
    """What the database holds about these enrollments' payment: statuses, payments, jobs, proof files."""
    enrollments = await db["enrollments"].find({"_id": {"$in": enrollment_ids}}).to_list()
    payments = await db["payments"].find({"enrollment_ids": {"$in": enrollment_ids}}).to_list()
    pids = [str(p["_id"]) for p in payments]
    return {
        "statuses": sorted(e["status"] for e in enrollments),
        "payment_ids": {e["_id"]: e.get("payment_id") for e in enrollments},
        "payments": payments,
        "ocr_jobs": await db["jobs"].count_documents({"kind": "payment_ocr", "payload.payment_id": {"$in": pids}}),
        "notifications": await db["jobs"].find({"kind": "notify", "payload.data.payment_id": {"$in": pids}}).to_list(),
    }


# ---- payments through the real flow (invoices, exports, notifications) ------------------------------


async def make_payment(
    services: Services, enrollment_ids: list[ObjectId | str], *, payer_role: str, payer_id: ObjectId | str,
    status: str = "approved", submitted_at: datetime | None = None, reviewer_id: ObjectId | str | None = None,
    reason: str = "金额不符",
) -> dict[str, Any]:
    """A payment of these enrollments submitted by the payer (one proof picture) through
    :meth:`PaymentService.submit`, then approved or rejected (``reason``) by a reviewer through the review,
    or left ``submitted``; the stored payment. ``submitted_at`` sets the service's clock for the submit."""
    payments = services.payments
    if submitted_at is not None:  # the service's injected clock, for a payment made in the past
        payments = copy.copy(payments)
        payments.now = lambda: submitted_at
    body = PaymentSubmit.model_validate({"enrollment_ids": [str(i) for i in enrollment_ids], "invoice": INVOICE})
    doc = await payments.submit(Principal(ObjectId(payer_id), payer_role), body, [proof_png()], ip=None)
    reviewer = Principal(ObjectId(reviewer_id) if reviewer_id else ObjectId(), "reviewer")
    if status == "approved":
        await services.payments.approve(reviewer, str(doc["_id"]), ip=None)
    elif status == "rejected":
        rejection = RejectIn(reason_code=RejectReason.other, note=reason)
        await services.payments.reject(reviewer, str(doc["_id"]), rejection, ip=None)
    else:
        assert status == "submitted", status
    stored = await services.db["payments"].find_one({"_id": doc["_id"]})
    assert stored is not None and stored["status"] == status
    return stored


async def admin_token(services: Services, role: str = "admin") -> str:
    """A staff token (admin unless ``role``)."""
    return await factories.staff_token(services, role)


async def session_id(api: ApiClient, admin: str, *, mails_books: bool = False) -> str:
    """A published session whose enrollment window is open today."""
    return await new_session(api, admin, mails_books=mails_books)


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


async def staff_enrolled(api: ApiClient, services: Services, unit: ApiClient, session_id: str, n: int, *,
                         address: bool = False) -> list[tuple[str, str, str]]:
    """``n`` registered trainees of the unit, enrolled by the unit over the API (with the unit's address when
    ``address``): [(token, trainee id, enrollment id)]."""
    unit_id = ObjectId((await unit.get("/api/v1/me")).json["id"])
    people = [await trainee_with_photo(api, services.settings, services.db, unit_id=unit_id) for _ in range(n)]
    body: dict[str, Any] = {"session_id": session_id, "trainee_ids": [trainee_id for _, trainee_id in people]}
    if address:
        body["address_id"] = await add_address(unit, unit.token or "")
    r = await unit.post("/api/v1/unit/enrollments", body)
    assert r.status == 200 and r.json["enrolled"] == n, r.body
    return [(token, trainee_id, result["enrollment_id"])
            for (token, trainee_id), result in zip(people, r.json["results"], strict=True)]


async def approved_trainee_payment(api: ApiClient, services: Services, admin: str, *, mails_books: bool = False,
                                   status: str = "approved") -> tuple[str, dict[str, Any]]:
    """A trainee's own payment of one enrollment in a new session, submitted and decided for real:
    (the trainee's token, the payment)."""
    sid = await session_id(api, admin, mails_books=mails_books)
    token, trainee_id, enrollment_id = await enrolled_trainee(api, services, sid, address=mails_books)
    payment = await make_payment(services, [enrollment_id], payer_role="trainee", payer_id=trainee_id, status=status)
    return token, payment


def demo_pdf(number: str = "26312000000012345678") -> bytes:
    """A real one-page invoice PDF (reportlab, CJK font)."""
    return render_demo_invoice(number=number, issued_on=date(2026, 3, 1), buyer="张三", item="岩土工程勘察专项培训",
                               amount_fen=120000)[2]
