"""Invoices (发票) on approved payments: recorded by reviewers, downloaded by the payer.

The only writer of ``payments.invoice_issue`` and the owner of the GridFS bucket
``invoice_files`` (e-invoice PDFs).

- **Recording** (reviewer or admin) checks the PDF first (sniffed by content and parsed, off
  the event loop: 415 for anything else), stores it in GridFS (which has no transactions),
  then, in ONE transaction, re-reads the payment, refuses unless it is ``approved`` (409),
  writes ``invoice_issue`` and enqueues the ``invoice_ready`` notification. A refused or failed
  transaction deletes the new file again; after the commit the replaced file, if any, is
  deleted: no orphan file either way.
- **Re-recording replaces** the record. The payer is notified when the invoice *number* is new
  (first recording, or a corrected number); recording the same number again (a fixed date, the
  PDF added later) does not notify twice. The decision is taken inside the transaction from the
  record it replaces, so two reviewers saving the same invoice at once notify exactly once (their
  transactions write the same document: one retries and sees the other's record).
- **Without a PDF**, a re-recording of the same number keeps the file already attached; a new
  number drops it (it belonged to another invoice).
- **Download**: the payer (the trainee, or the unit, that submitted the payment) and association
  reviewers/admins; anyone else gets 404, as for a payment that does not exist.
- **Rights of the person**: when a trainee's account is deleted, the PDFs of the payments they
  paid themselves are deleted (an invoice PDF names the buyer); the invoice record (number, date,
  type) stays with the kept, anonymized payment — the association's accounting needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.invoice_pdf import PDF_CONTENT_TYPE, check_invoice_pdf
from server.models.invoices import (
    KIND_LABELS,
    MEDIUM_LABELS,
    InvoiceIssueIn,
    InvoiceIssueOut,
    InvoiceRecordedOut,
    invoice_issue_out,
)
from server.services import Principal
from server.services.audit import AuditLog
from server.services.catalog.seats import in_transaction
from server.services.cpu import CpuRunner
from server.services.ids import parse_object_id
from server.services.jobs.notify import enqueue_notification
from server.services.jobs.queue import JobQueue

log = logging.getLogger(__name__)
T = TypeVar("T")

INVOICE_BUCKET = "invoice_files"
INVOICE_READY = "invoice_ready"
REVIEWERS = frozenset({"reviewer", "admin"})

__all__ = ["INVOICE_BUCKET", "INVOICE_READY", "InvoiceService", "invoice_issue_out"]


class InvoiceService:
    """Record an invoice on an approved payment; the payer's download; the person's deletion."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, jobs: JobQueue, audit: AuditLog, run_cpu: CpuRunner,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.payments = db["payments"]
        self.bucket = AsyncGridFSBucket(db, bucket_name=INVOICE_BUCKET)
        self.jobs = jobs
        self.audit = audit
        self.run_cpu = run_cpu
        self.now = now or (lambda: datetime.now(UTC))

    # ---- recording ------------------------------------------------------------------------

    async def record(
        self, principal: Principal, payment_id: str, body: InvoiceIssueIn, pdf: bytes | None, *, ip: str | None
    ) -> InvoiceRecordedOut:
        """Record (or replace) the invoice of an approved payment, with an optional e-invoice PDF."""
        oid = parse_object_id(payment_id, "缴费记录不存在")
        if pdf is not None:
            await self.run_cpu(check_invoice_pdf, pdf)
        # Refuse early, before a file is stored; the transaction checks again.
        _check_approved(await self.payments.find_one({"_id": oid}, {"status": 1}))
        file_id = await self._store(oid, pdf) if pdf is not None else None

        async def work(s: AsyncClientSession | None) -> tuple[dict[str, Any] | None, dict[str, Any], bool]:
            before, issue, notified = await self._write(s, oid, body, file_id, principal.account_id)
            await self.audit.record(  # in the same transaction: no invoice recorded without its entry
                "payment.invoice_record", actor_id=principal.account_id, actor_role=principal.role,
                subject=f"payment:{oid}", subject_id=oid, ip=ip,
                details={"number": issue["number"], "type": issue["type"], "medium": issue["medium"],
                         "file": issue["file_id"] is not None, "replaced": before is not None, "notified": notified},
                session=s)
            return before, issue, notified

        try:
            before, issue, notified = await self._in_transaction(work)
        except BaseException:
            if file_id is not None:
                await self._delete_file(file_id)
            raise
        replaced = (before or {}).get("file_id")
        if replaced is not None and replaced != issue["file_id"]:
            await self._delete_file(replaced)
        out = invoice_issue_out({"invoice_issue": issue})
        assert out is not None
        return InvoiceRecordedOut(payment_id=str(oid), invoice_issue=out, notified=notified)

    async def _store(self, payment_id: ObjectId, pdf: bytes) -> ObjectId:
        payment = await self.payments.find_one({"_id": payment_id}, {"payer": 1})
        payer = (payment or {}).get("payer") or {}
        return await self.bucket.upload_from_stream(  # type: ignore[no-any-return]
            f"invoice-{payment_id}.pdf", pdf,
            metadata={"payment_id": payment_id, "payer_id": payer.get("account_id"), "payer_role": payer.get("role"),
                      "content_type": PDF_CONTENT_TYPE},
        )

    async def _in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction (retried whole on a transient conflict)."""
        return await in_transaction(self.db, work)

    async def _current(self, s: AsyncClientSession | None, oid: ObjectId) -> dict[str, Any]:
        """The payment as the transaction sees it; 404, or 409 unless approved."""
        return _check_approved(await self.payments.find_one({"_id": oid}, session=s))

    async def _write(
        self, s: AsyncClientSession | None, oid: ObjectId, body: InvoiceIssueIn, file_id: ObjectId | None,
        by: ObjectId,
    ) -> tuple[dict[str, Any] | None, dict[str, Any], bool]:
        """In the transaction: the record replaced, the new record, whether the payer is notified."""
        payment = await self._current(s, oid)
        before = payment.get("invoice_issue")
        same_number = before is not None and before.get("number") == body.number
        if file_id is None and same_number:
            file_id = before.get("file_id")  # type: ignore[union-attr]
        now = self.now()
        issue = {"number": body.number, "date": body.date.isoformat(), "type": body.type, "medium": body.medium,
                 "file_id": file_id, "issued_by": by, "at": now}
        done = await self.payments.update_one(
            {"_id": oid, "status": "approved"}, {"$set": {"invoice_issue": issue, "updated_at": now}}, session=s)
        if done.matched_count != 1:  # the snapshot read it approved: only a concurrent change gets here
            raise errors.conflict("payment_changed", "缴费记录刚刚有变动，请刷新后重试")
        if same_number:
            return before, issue, False
        payer = payment["payer"]
        await enqueue_notification(
            self.jobs, payer["account_id"], INVOICE_READY, _ready_text(payment, issue),
            {"payment_id": str(oid), "reference": payment.get("reference"), "invoice_number": issue["number"]},
            session=s,
        )
        return before, issue, True

    # ---- reading ----------------------------------------------------------------------------

    async def issue_of(self, principal: Principal, payment_id: str) -> InvoiceIssueOut:
        """The invoice record of a payment the caller paid (or any, for reviewers); 404 otherwise."""
        doc = await self._visible(principal, payment_id)
        out = invoice_issue_out(doc)
        if out is None:
            raise errors.not_found("该缴费尚未开具发票", "invoice_not_found")
        return out

    async def read_pdf(self, principal: Principal, payment_id: str) -> tuple[str, str, bytes]:
        """The e-invoice PDF of a payment, for its payer or a reviewer: ``(filename, content_type, bytes)``."""
        doc = await self._visible(principal, payment_id)
        issue = doc.get("invoice_issue") or {}
        if issue.get("file_id") is None:
            raise errors.not_found("该缴费暂无电子发票文件", "invoice_file_not_found")
        try:
            stream = await self.bucket.open_download_stream(issue["file_id"])
            data = await stream.read()
        except NoFile:
            raise errors.not_found("该缴费暂无电子发票文件", "invoice_file_not_found") from None
        return f"发票-{issue['number']}.pdf", PDF_CONTENT_TYPE, data

    async def _visible(self, principal: Principal, payment_id: str) -> dict[str, Any]:
        query: dict[str, Any] = {"_id": parse_object_id(payment_id, "缴费记录不存在")}
        if principal.role not in REVIEWERS:  # the payer only: the trainee or the unit that submitted it
            query["payer.account_id"] = principal.account_id
            query["payer.role"] = principal.role
        doc = await self.payments.find_one(query, {"invoice_issue": 1, "reference": 1})
        if doc is None:
            raise errors.not_found("缴费记录不存在")
        return doc  # type: ignore[no-any-return]

    # ---- for the rights of the person (services/privacy) ------------------------------------

    async def forget_payer(self, account_id: ObjectId, *, at: datetime, session: AsyncClientSession | None) -> None:
        """Detach the invoice PDFs of the payments the trainee paid themselves (the record stays)."""
        await self.payments.update_many(
            {"payer.account_id": account_id, "payer.role": "trainee", "invoice_issue.file_id": {"$ne": None}},
            {"$set": {"invoice_issue.file_id": None, "updated_at": at}}, session=session)

    async def delete_files_of(self, account_ids: list[ObjectId]) -> None:
        """Delete the invoice PDFs of payments these trainees paid (found by metadata: orphans go too)."""
        files = self.bucket.find({"metadata.payer_id": {"$in": account_ids}, "metadata.payer_role": "trainee"})
        for file_id in [f._id async for f in files]:
            await self._delete_file(file_id)

    async def _delete_file(self, file_id: ObjectId) -> None:
        try:
            await self.bucket.delete(file_id)
        except NoFile:
            pass  # already gone: deleting is idempotent for us


def _check_approved(payment: dict[str, Any] | None) -> dict[str, Any]:
    if payment is None:
        raise errors.not_found("缴费记录不存在")
    if payment.get("status") != "approved":
        raise errors.conflict("payment_not_approved", "只能为审核通过的缴费登记发票",
                              {"status": payment.get("status")})
    return payment


def _ready_text(payment: dict[str, Any], issue: dict[str, Any]) -> str:
    """The Chinese sentence of the ``invoice_ready`` notification (SMS / outbox)."""
    kind = f"{MEDIUM_LABELS[issue['medium']]}{KIND_LABELS[issue['type']]}"
    where = "可在缴费记录中下载电子发票。" if issue["file_id"] is not None else (
        "纸质发票将邮寄至报名时填写的收货地址。" if issue["medium"] == "paper" else "请留意发票接收邮箱。")
    return f"您的缴费（编号 {payment.get('reference', '')}）已开具{kind}，发票号码 {issue['number']}。{where}"
