"""Invoices over HTTP: recording on approved payments only, the PDF sniffed, the payer's download, the notification."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.documents.invoice_pdf import INVOICE_PDF_MAX_BYTES
from server.services.container import Services
from tests import factories
from tests.client import ApiClient, Response
from tests.handlers.test_base import _headers_only
from tests.services.payments.helpers import (
    PORTRAIT,
    admin_token,
    approved_trainee_payment,
    demo_pdf,
    make_payment,
    session_id,
    staff_enrolled,
)
from tests.staff_helpers import multipart, unit_client

FIELDS = {"number": "26312000000012345678", "date": "2026-03-02", "type": "normal", "medium": "electronic"}


@pytest.fixture
async def admin(services: Services) -> str:
    return await admin_token(services)


@pytest.fixture
async def reviewer(services: Services) -> str:
    return await admin_token(services, "reviewer")


async def record(api: ApiClient, token: str, payment_id: Any, pdf: bytes | None = None, filename: str = "发票.pdf",
                 **fields: str) -> Response:
    """PUT the invoice as a multipart form (with the PDF when given)."""
    body, ctype = multipart([("file", filename, pdf)] if pdf is not None else [], {**FIELDS, **fields})
    return await api.request("PUT", f"/api/v1/review/payments/{payment_id}/invoice", body=body,
                             headers={"Content-Type": ctype}, token=token)


async def invoice_jobs(db: AsyncDatabase[dict[str, Any]]) -> list[dict[str, Any]]:
    return await db["jobs"].find({"kind": "notify", "payload.kind": "invoice_ready"}).to_list()


async def stored_files(db: AsyncDatabase[dict[str, Any]]) -> list[dict[str, Any]]:
    return await db["invoice_files.files"].find().to_list()


async def test_the_payer_downloads_the_recorded_pdf_and_is_told_once(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    trainee, payment = await approved_trainee_payment(api, services, admin)
    pdf = demo_pdf()
    r = await record(api, reviewer, payment["_id"], pdf)
    assert r.status == 200, r.body
    assert r.json["notified"] is True and r.json["invoice_issue"]["has_file"] is True
    assert r.json["invoice_issue"]["type_label"] == "普票" and r.json["invoice_issue"]["medium_label"] == "电子"
    got = await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=trainee)
    assert got.status == 200 and got.body == pdf
    assert got.headers["Content-Type"] == "application/pdf"
    assert "filename*=UTF-8''" in got.headers["Content-Disposition"]
    shown = await api.get(f"/api/v1/payments/{payment['_id']}/invoice", token=trainee)
    assert shown.status == 200 and shown.json["number"] == FIELDS["number"] and shown.json["date"] == "2026-03-02"
    # the notification job, with the contract's kind and data, to the payer
    jobs = await invoice_jobs(db)
    assert len(jobs) == 1
    assert jobs[0]["payload"]["account_id"] == str(payment["payer"]["account_id"])
    assert jobs[0]["payload"]["data"] == {"payment_id": str(payment["_id"]), "reference": payment["reference"],
                                          "invoice_number": FIELDS["number"]}
    assert "发票号码 26312000000012345678" in jobs[0]["payload"]["text"]
    # the same number again (the date corrected), without a PDF: the file is kept, nobody is told twice
    again = await record(api, reviewer, payment["_id"], date="2026-03-03")
    assert again.status == 200 and again.json["notified"] is False and again.json["invoice_issue"]["has_file"] is True
    assert len(await invoice_jobs(db)) == 1
    assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=trainee)).body == pdf
    # audited, each time
    assert await db["audit_log"].count_documents({"action": "payment.invoice_record", "subject_id": payment["_id"]}) == 2


async def test_a_new_number_replaces_the_file_and_notifies_again_no_orphan(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    trainee, payment = await approved_trainee_payment(api, services, admin)
    assert (await record(api, reviewer, payment["_id"], demo_pdf())).status == 200
    second = demo_pdf("26312000000099999999")
    r = await record(api, admin, payment["_id"], second, number="26312000000099999999")
    assert r.status == 200 and r.json["notified"] is True
    files = await stored_files(db)
    assert len(files) == 1  # the replaced PDF is gone
    stored = await db["payments"].find_one({"_id": payment["_id"]})
    assert stored is not None and stored["invoice_issue"]["file_id"] == files[0]["_id"]
    assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=trainee)).body == second
    assert [j["payload"]["data"]["invoice_number"] for j in await invoice_jobs(db)] == [
        FIELDS["number"], "26312000000099999999"]
    # a new number without a PDF: the old file belonged to the old invoice and goes
    r = await record(api, admin, payment["_id"], number="26312000000011111111", medium="paper")
    assert r.status == 200 and r.json["invoice_issue"]["has_file"] is False
    assert await stored_files(db) == []
    assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=trainee)).status == 404


@pytest.mark.parametrize("status", ["submitted", "rejected"])
async def test_recording_on_a_payment_not_approved_is_409_and_writes_nothing(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str, status: str,
) -> None:
    _, payment = await approved_trainee_payment(api, services, admin, status=status)
    before = await db["payments"].find_one({"_id": payment["_id"]})
    r = await record(api, reviewer, payment["_id"], demo_pdf())
    assert r.status == 409 and r.error_code == "payment_not_approved", r.body
    assert r.json["error"]["message"] == "只能为审核通过的缴费登记发票"
    assert await db["payments"].find_one({"_id": payment["_id"]}) == before
    assert await stored_files(db) == [] and await invoice_jobs(db) == []
    r = await api.put(f"/api/v1/review/payments/{payment['_id']}/invoice", FIELDS, token=reviewer)  # JSON too
    assert r.status == 409 and r.error_code == "payment_not_approved"


async def test_the_approval_guard_holds_inside_the_transaction(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str,
) -> None:
    """A payment that stops being approved between the early check and the write: 409, no file left."""
    from server.services.payments.invoices import InvoiceService

    _, payment = await approved_trainee_payment(api, services, admin)

    class Racing(InvoiceService):
        async def _store(self, payment_id: ObjectId, pdf: bytes) -> ObjectId:
            stored = await super()._store(payment_id, pdf)
            # Another reviewer's change lands right after the file is stored (test-only interleaving).
            await db["payments"].update_one({"_id": payment_id}, {"$set": {"status": "rejected"}})
            return stored

    racing = Racing(db, jobs=services.jobs, audit=services.audit, run_cpu=services.run_cpu)
    from server.models.invoices import InvoiceIssueIn
    from server.services import Principal

    with pytest.raises(Exception) as refused:
        await racing.record(Principal(ObjectId(), "reviewer"), str(payment["_id"]),
                            InvoiceIssueIn.model_validate(FIELDS), demo_pdf(), ip=None)
    assert getattr(refused.value, "status", None) == 409
    assert await stored_files(db) == [] and await invoice_jobs(db) == []
    stored = await db["payments"].find_one({"_id": payment["_id"]})
    assert stored is not None and "invoice_issue" not in stored


@pytest.mark.parametrize("name,data", [
    ("a JPEG renamed .pdf", PORTRAIT),
    ("a PDF header and garbage", b"%PDF-1.7\n" + b"\x00garbage" * 100),
    ("HTML", b"<html><body>%PDF-1.4</body></html>"),
])
async def test_a_forged_pdf_is_415_and_nothing_is_stored(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
    name: str, data: bytes,
) -> None:
    _, payment = await approved_trainee_payment(api, services, admin)
    r = await record(api, reviewer, payment["_id"], data, filename="发票.pdf")
    assert r.status == 415 and r.error_code == "invoice_not_pdf", (name, r.body)
    assert await stored_files(db) == [] and await invoice_jobs(db) == []
    stored = await db["payments"].find_one({"_id": payment["_id"]})
    assert stored is not None and "invoice_issue" not in stored


async def test_an_oversized_pdf_is_413_before_the_body_is_sent(api: ApiClient, services: Services,
                                                              reviewer: str, admin: str) -> None:
    _, payment = await approved_trainee_payment(api, services, admin)
    status, answer = await _headers_only(
        api,
        f"PUT /api/v1/review/payments/{payment['_id']}/invoice HTTP/1.1\nHost: t\n"
        f"Authorization: Bearer {reviewer}\nContent-Type: multipart/form-data; boundary=x\n"
        f"Content-Length: {20 * 1024 * 1024}\nExpect: 100-continue\n",
    )
    assert status == 413 and answer["error"]["code"] == "payload_too_large"
    assert answer["error"]["details"]["limit_bytes"] > INVOICE_PDF_MAX_BYTES
    # just over the PDF limit but inside the multipart slack: the check refuses it too
    r = await record(api, reviewer, payment["_id"], b"%PDF-1.4\n" + b"0" * INVOICE_PDF_MAX_BYTES)
    assert r.status == 413 and r.error_code == "payload_too_large"


async def test_only_reviewers_record_and_only_the_payer_downloads(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    trainee, payment = await approved_trainee_payment(api, services, admin)
    assert (await record(api, reviewer, payment["_id"], demo_pdf())).status == 200
    other_trainee, _ = await factories.register_trainee(api, services.settings.sms_outbox)
    unit = await unit_client(api, services.settings.sms_outbox)
    scanner = await admin_token(services, "scanner")
    for token in (trainee, other_trainee, unit.token, scanner):
        assert (await record(api, token, payment["_id"], demo_pdf())).status == 403
    for token in (other_trainee, unit.token):
        r = await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=token)
        assert r.status == 404 and r.error_code == "not_found", r.body
        assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice", token=token)).status == 404
    assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=scanner)).status == 403
    assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=reviewer)).status == 200
    assert (await api.get(f"/api/v1/payments/{ObjectId()}/invoice.pdf", token=trainee)).status == 404
    assert (await api.get("/api/v1/payments/not-an-id/invoice.pdf", token=trainee)).status == 404


async def test_a_unit_downloads_the_invoice_of_its_payment_its_staff_do_not(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    sid = await session_id(api, admin)
    unit = await unit_client(api, services.settings.sms_outbox)
    unit_id = (await unit.get("/api/v1/me")).json["id"]
    staff = await staff_enrolled(api, services, unit, sid, 2)
    staff_token = [token for token, _, _ in staff]
    payment = await make_payment(services, [e for _, _, e in staff], payer_role="unit", payer_id=unit_id)
    pdf = demo_pdf()
    assert (await record(api, reviewer, payment["_id"], pdf, type="special")).status == 200
    assert (await unit.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf")).body == pdf
    assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=staff_token[0])).status == 404
    job = (await invoice_jobs(db))[0]
    assert job["payload"]["account_id"] == unit_id  # a unit is notified as the unit account


async def test_bad_fields_are_422_and_write_nothing(api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]],
                                                    admin: str, reviewer: str) -> None:
    _, payment = await approved_trainee_payment(api, services, admin)
    for bad in ({"type": "vat"}, {"medium": "fax"}, {"date": "2026-02-30"}, {"number": "12"}, {"number": "=1+1abc"}):
        r = await record(api, reviewer, payment["_id"], demo_pdf(), **bad)
        assert r.status == 422, (bad, r.body)
    r = await api.put(f"/api/v1/review/payments/{payment['_id']}/invoice", {**FIELDS, "extra": 1}, token=reviewer)
    assert r.status == 422
    assert await stored_files(db) == [] and await invoice_jobs(db) == []


async def test_two_reviewers_saving_the_same_invoice_at_once_notify_once(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    _, payment = await approved_trainee_payment(api, services, admin)
    answers = await asyncio.gather(*(record(api, token, payment["_id"], demo_pdf())
                                     for token in (reviewer, admin, reviewer, admin)))
    assert [a.status for a in answers] == [200] * 4, [a.body for a in answers]
    assert sum(a.json["notified"] for a in answers) == 1
    assert len(await invoice_jobs(db)) == 1
    files = await stored_files(db)
    stored = await db["payments"].find_one({"_id": payment["_id"]})
    assert stored is not None and [f["_id"] for f in files] == [stored["invoice_issue"]["file_id"]]  # no orphan


async def test_a_deleted_trainee_loses_the_invoice_pdfs_the_payment_and_its_record_stay(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], admin: str, reviewer: str,
) -> None:
    trainee, payment = await approved_trainee_payment(api, services, admin)
    assert (await record(api, reviewer, payment["_id"], demo_pdf())).status == 200
    # a unit's payment (someone else's invoice) is not touched
    sid = await session_id(api, admin)
    unit = await unit_client(api, services.settings.sms_outbox)
    [(_, _, staff_enrollment)] = await staff_enrolled(api, services, unit, sid, 1)
    unit_payment = await make_payment(services, [staff_enrollment], payer_role="unit",
                                      payer_id=(await unit.get("/api/v1/me")).json["id"])
    assert (await record(api, reviewer, unit_payment["_id"], demo_pdf("99990000"), number="99990000")).status == 200
    r = await api.post("/api/v1/me/deletion", {"password": factories.STRONG_PASSWORD, "confirm": True}, token=trainee)
    assert r.status == 200, r.body
    kept = await db["payments"].find_one({"_id": payment["_id"]})
    assert kept is not None and kept["status"] == "approved" and kept["amount_fen"] == payment["amount_fen"]
    assert kept["invoice_issue"]["number"] == FIELDS["number"] and kept["invoice_issue"]["file_id"] is None
    files = await stored_files(db)
    assert [f["metadata"]["payment_id"] for f in files] == [unit_payment["_id"]]
    assert (await unit.get(f"/api/v1/payments/{unit_payment['_id']}/invoice.pdf")).status == 200
    assert (await api.get(f"/api/v1/payments/{payment['_id']}/invoice.pdf", token=reviewer)).status == 404
