"""Helpers of the payment tests: unpaid enrollments of a trainee or a unit, proof pictures, checks."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from bson import ObjectId
from PIL import Image, ImageDraw
from pymongo.asynchronous.database import AsyncDatabase

from server.models.payments import PaymentSubmit
from server.services import Principal
from server.services.container import Services
from tests.services.enrollment.helpers import make_session, make_trainees

INVOICE = {"kind": "normal", "medium": "paper", "title_type": "personal", "title": "张三"}


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
