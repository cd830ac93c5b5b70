"""Payments as the submit endpoint stores them (the payments contract), inserted directly, for the OCR tests.

The submit endpoint is built elsewhere; these helpers write what it writes: the payment document
with ``ocr: {status: "pending"}``, its proof pictures in the GridFS bucket ``payment_proofs``, the
enrollments it pays (their ``created_at`` only matters here) and the association's bank account.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server.demo.screenshots import Layout, render_transfer_screenshot
from server.services.jobs.queue import JobQueue
from server.services.payments.ocr import enqueue_args

ACCOUNT_NAME = "上海市安全生产职业技能协会"
ACCOUNT_NUMBER = "6222 0210 0123 4567 890"
REFERENCE = "JP7K3Q9A"
FEE_FEN = 128000
PAID_AT = datetime(2026, 11, 30, 6, 3, 22, tzinfo=UTC)  # 14:03:22 in Beijing
ENROLLED_AT = PAID_AT - timedelta(days=2)


def screenshot(layout: Layout = "wechat", **overrides: Any) -> bytes:
    """A 1080×2400 noisy JPEG of a transfer to the association, for the fee, with the reference in the remark."""
    values: dict[str, Any] = {
        "amount_fen": FEE_FEN, "payee_name": ACCOUNT_NAME, "payee_account": ACCOUNT_NUMBER,
        "remark": f"{REFERENCE} 培训费", "paid_at": PAID_AT, **overrides,
    }
    return render_transfer_screenshot(layout=layout, **values)


def resaved(image: bytes, *, scale: float = 0.93, quality: int = 60) -> bytes:
    """The same picture slightly smaller and saved again (as a forwarded screenshot)."""
    with Image.open(BytesIO(image)) as opened:
        smaller = opened.resize((round(opened.width * scale), round(opened.height * scale)), Image.Resampling.BILINEAR)
    out = BytesIO()
    smaller.save(out, "JPEG", quality=quality)
    return out.getvalue()


async def set_account(db: AsyncDatabase[dict[str, Any]]) -> None:
    """The association's bank account, as the admins set it."""
    await db["association_settings"].replace_one({"_id": "bank_account"}, {
        "account_name": ACCOUNT_NAME, "bank_name": "中国工商银行上海分行", "account_number": ACCOUNT_NUMBER,
        "remark": "请在备注中填写付款编号", "updated_at": ENROLLED_AT, "updated_by": ObjectId()}, upsert=True)


async def insert_payment(
    db: AsyncDatabase[dict[str, Any]], proofs: list[bytes], *, amount_fen: int = FEE_FEN,
    reference: str = REFERENCE, enrolled_at: datetime = ENROLLED_AT, status: str = "submitted",
) -> ObjectId:
    """A submitted payment of one enrollment with these proof pictures (as submit stores it); its id."""
    bucket = AsyncGridFSBucket(db, bucket_name="payment_proofs")
    stored = []
    for i, data in enumerate(proofs):
        file_id = await bucket.upload_from_stream(f"proof-{i}.jpg", data)
        with Image.open(BytesIO(data)) as image:
            width, height = image.size
        stored.append({"file_id": file_id, "content_type": "image/jpeg", "size": len(data), "width": width,
                       "height": height, "sha256": hashlib.sha256(data).hexdigest()})
    trainee, session, course, enrollment = ObjectId(), ObjectId(), ObjectId(), ObjectId()
    await db["enrollments"].insert_one({"_id": enrollment, "trainee_id": trainee, "session_id": session,
                                        "course_id": course, "status": "payment_submitted", "created_at": enrolled_at})
    now = datetime.now(UTC)
    payment_id = ObjectId()
    await db["payments"].insert_one({
        "_id": payment_id, "reference": reference, "payer": {"role": "trainee", "account_id": trainee},
        "unit_id": None, "enrollment_ids": [enrollment],
        "lines": [{"enrollment_id": enrollment, "trainee_id": trainee, "session_id": session, "course_id": course,
                   "fee_fen": amount_fen}],
        "session_ids": [session], "amount_fen": amount_fen, "status": status, "proofs": stored,
        "invoice": {"kind": "personal", "title": "陈静"}, "submitted_at": now, "created_at": now, "updated_at": now,
        "ocr": {"status": "pending"},
    })
    return payment_id


async def enqueue_ocr(queue: JobQueue, payment_id: ObjectId) -> ObjectId:
    """The job submit enqueues with the payment."""
    return await queue.enqueue(**enqueue_args(payment_id))


async def wait_for_ocr(db: AsyncDatabase[dict[str, Any]], payment_id: ObjectId, timeout: float = 60) -> dict[str, Any]:
    """The payment once its OCR is done or failed (the job runner runs in the background)."""
    async with asyncio.timeout(timeout):
        while True:
            doc = await db["payments"].find_one({"_id": payment_id})
            assert doc is not None
            if doc["ocr"]["status"] != "pending":
                return doc
            await asyncio.sleep(0.1)
