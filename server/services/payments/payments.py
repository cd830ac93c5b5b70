"""Payments by bank transfer: what is due, submitting a proof, reading it back, the review.

**Due** (``GET /payments/due?enrollment_ids=``): the association's account, the amount (the sum of
the enrollments' ``fee_fen``) and the **payment reference** to write in the transfer remark. The
reference is known *before* the transfer, so it is derived, not stored ahead: an HMAC (``SECRET_KEY``)
of the payer and the enrollments with their current ``payment_id`` (8 characters of an alphabet
without 0/O/1/I/L). The same enrollments give the same reference until something changes; a
resubmission after a rejection gets a new one (the rejected payment is part of the key). Submit
stores the reference it computes (unique index: a second concurrent submission of the same
enrollments is refused).

**Submit** (``POST /payments``): the payer's own enrollments (a trainee: ``trainee_id``; a unit: its
staff's, ``unit_id``; anyone else's: 404), each unpaid (``pending_payment`` or ``rejected``; under
review or paid: 409; cancelled or expired: 409). The amount is computed; a client's is ignored.
The invoice details are a copy of one of the payer's invoice templates (sealed fields stay sealed)
or typed in (sealed the same way). 1–5 proofs are cleaned off the event loop
(:mod:`server.documents.payment_proof`) and stored in the GridFS bucket ``payment_proofs``; then,
in **one transaction**: the payment is inserted, every enrollment moves ``→ payment_submitted``
with the lifecycle's guard and gets ``payment_id``, and the ``payment_ocr`` job is enqueued. Any
refusal or crash leaves nothing of it (GridFS has no transactions: the proof files of a refused
submit are deleted again; a crash between the files and the transaction leaves files of no
payment, swept by ``sweep_orphan_proofs``).

**Review**: approve or reject is one transaction — the payment's update carries ``status:
"submitted"`` in its filter (of two reviewers exactly one finds it; the other gets 409 with the
winner's decision), the enrollments move along the lifecycle (approve needs every one of them still
under review for this payment, else 409 and nothing changes), and the ``payment_approved`` /
``payment_rejected`` notification is enqueued. A rejection's reason (a code of the fixed list and a
note) is shown to the payer on the payment and on each enrollment, which gets a new deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.documents.payment_proof import MAX_BYTES as PROOF_MAX_BYTES
from server.documents.payment_proof import Proof, normalize_proof
from server.models.enrollments import EnrollmentStatus
from server.models.invoices import invoice_issue_out
from server.models.payments import (
    MAX_PROOFS,
    PAYMENT_STATUS_LABELS,
    InvoiceSnapshotOut,
    OcrReviewOut,
    PaymentDueOut,
    PaymentLineOut,
    PaymentOut,
    PaymentSubmit,
    ProofOut,
    RejectIn,
    ReviewOut,
    ReviewQueueQuery,
)
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.accounts.personal import id_masked_of
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.catalog.seats import in_transaction
from server.services.cpu import patient
from server.services.enrollment.enrollments import EnrollmentService
from server.services.enrollment.templates import INVOICE_SEALED, TemplateService
from server.services.ids import parse_object_id
from server.services.jobs.notify import enqueue_notification
from server.services.jobs.queue import JobQueue
from server.services.payments.account import AssociationAccount
from server.services.payments.ocr import enqueue_args as ocr_enqueue_args
from server.services.payments.ocr import ocr_for_payer, ocr_for_review
from server.services.pii import FieldCipher, seal, unseal

log = logging.getLogger(__name__)

T = TypeVar("T")

PAYMENTS = "payments"
PROOF_BUCKET = "payment_proofs"
REVIEW_ROLES = frozenset({"reviewer", "admin"})
PAYER_ROLES = frozenset({"trainee", "unit"})
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8
ORPHAN_PROOF_AGE = timedelta(hours=1)
# How long a submit waits for room in the document pool per picture before 503 ``server_busy``: twenty
# payers at once queue ~40 pictures of ~50 ms on two threads (bench/README.md "payments").
PROOF_QUEUE_WAIT = 8.0

_UNPAID = {str(EnrollmentStatus.pending_payment), str(EnrollmentStatus.rejected)}
_PAID = {str(EnrollmentStatus.approved), str(EnrollmentStatus.completed), str(EnrollmentStatus.completed_passed),
         str(EnrollmentStatus.completed_failed), str(EnrollmentStatus.absent)}
_CLOSED = {str(EnrollmentStatus.cancelled), str(EnrollmentStatus.expired)}


class _Decided(Exception):  # noqa: N818 — an abort signal inside a transaction
    """The payment was decided by someone else first."""


def payer_query(principal: Principal) -> dict[str, Any]:
    """The enrollments a payer may pay: a trainee their own, a unit its staff's (those it enrolled)."""
    if principal.role == "trainee":
        return {"trainee_id": principal.account_id}
    if principal.role == "unit":
        return {"unit_id": principal.account_id}
    raise errors.forbidden()


class PaymentService:
    """Due, submit, read, review: the rules of paying by transfer."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        enrollments: EnrollmentService,
        templates: TemplateService,
        account: AssociationAccount,
        jobs: JobQueue,
        audit: AuditLog,
        cipher: FieldCipher,
        secret_key: bytes,
        run_cpu: Callable[..., Awaitable[Any]],
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.payments = db[PAYMENTS]
        self.bucket = AsyncGridFSBucket(db, bucket_name=PROOF_BUCKET)
        self.accounts = AccountRepository(db)
        self.sessions = db["sessions"]
        self.courses = db["courses"]
        self.enrollments = enrollments
        self.templates = templates
        self.account = account
        self.jobs = jobs
        self.audit = audit
        self.cipher = cipher
        self.secret_key = secret_key
        self.run_cpu = run_cpu
        self.now = now or (lambda: datetime.now(UTC))

    # ---- before paying ------------------------------------------------------------------------

    async def due(self, principal: Principal, enrollment_ids: list[str]) -> PaymentDueOut:
        """The account, the amount and the reference for these enrollments (checked as a submit would)."""
        docs = await self._payable(principal, enrollment_ids)
        lines = await self._lines(docs)
        accounts = await self._accounts({line["trainee_id"] for line in lines})
        return PaymentDueOut(
            account=await self.account.get(), amount_fen=sum(line["fee_fen"] for line in lines),
            reference=self.reference_for(principal.account_id, docs),
            lines=[self._line_out(line, accounts) for line in lines],
        )

    async def _lines(self, enrollments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The payment's lines: what each enrollment costs, with its session code and course name (a record
        of what was paid for, also read by the queue without further lookups)."""
        sessions = {x["_id"]: x async for x in self.sessions.find(
            {"_id": {"$in": list({e["session_id"] for e in enrollments})}}, {"code": 1, "course_id": 1})}
        courses = {c["_id"]: c["name"] async for c in self.courses.find(
            {"_id": {"$in": list({x["course_id"] for x in sessions.values()})}}, {"name": 1})}
        lines = []
        for e in enrollments:
            session = sessions.get(e["session_id"]) or {}
            lines.append({"enrollment_id": e["_id"], "trainee_id": e["trainee_id"], "session_id": e["session_id"],
                          "course_id": e["course_id"], "fee_fen": int(e["fee_fen"]),
                          "session_code": session.get("code", ""),
                          "course_name": courses.get(session.get("course_id"), "")})
        return lines

    async def _accounts(self, ids: set[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        """Names (and the sealed ID number, for its mask) of these accounts."""
        return {a["_id"]: a async for a in self.accounts.find(
            {"_id": {"$in": list(ids)}}, {"name": 1, "trainee.id_number": 1, "role": 1}, include_pending=True)}

    def reference_for(self, payer_id: ObjectId, enrollments: list[dict[str, Any]]) -> str:
        """The payment reference of paying ``enrollments`` now (see the module notes)."""
        key = "|".join(sorted(f"{d['_id']}:{d.get('payment_id') or ''}" for d in enrollments))
        digest = hmac.new(self.secret_key, f"payment-reference|{payer_id}|{key}".encode(), hashlib.sha256).digest()
        number = int.from_bytes(digest[:8], "big")
        chars = []
        for _ in range(REFERENCE_LENGTH):
            number, i = divmod(number, len(REFERENCE_ALPHABET))
            chars.append(REFERENCE_ALPHABET[i])
        return "".join(chars)

    async def _payable(self, principal: Principal, enrollment_ids: list[str]) -> list[dict[str, Any]]:
        """The payer's enrollments by id, each still unpaid; 404 for any not theirs, 409 for any not payable."""
        oids = list(dict.fromkeys(parse_object_id(i, "报名记录不存在") for i in enrollment_ids))
        mine = payer_query(principal)
        docs = {d["_id"]: d for d in await self.enrollments.for_payment(oids)}
        ordered = []
        for oid in oids:
            doc = docs.get(oid)
            if doc is None or any(doc.get(k) != v for k, v in mine.items()):
                raise errors.not_found("报名记录不存在", "enrollment_not_found")
            ordered.append(doc)
        for doc in ordered:
            _check_payable(doc)
        return ordered

    # ---- submitting -----------------------------------------------------------------------------

    async def submit(self, principal: Principal, body: PaymentSubmit, files: list[bytes], *,
                     ip: str | None) -> dict[str, Any]:
        """Submit a payment (see the module notes); the stored payment document."""
        if not 1 <= len(files) <= MAX_PROOFS:
            raise errors.validation(f"请上传 1～{MAX_PROOFS} 张缴费凭证截图",
                                    {"proofs": f"需要 1～{MAX_PROOFS} 张图片"}, code="proof_count")
        docs = await self._payable(principal, body.enrollment_ids)
        invoice = await self._invoice_snapshot(principal, body)
        proofs: list[Proof] = []
        with patient(max_wait=PROOF_QUEUE_WAIT):  # a full document pool drains in seconds: wait, then 503
            for data in files:  # one at a time: five big pictures must not take every worker
                proofs.append(await self.run_cpu(normalize_proof, data))
        payment_id, now = ObjectId(), self.now()
        lines = await self._lines(docs)
        stored: list[ObjectId] = []
        try:
            for proof in proofs:
                stored.append(await self.bucket.upload_from_stream(
                    proof.filename, proof.data,
                    metadata={"payment_id": payment_id, "payer_id": principal.account_id,
                              "content_type": proof.content_type}))
            doc = {
                "_id": payment_id,
                "reference": self.reference_for(principal.account_id, docs),
                "payer": {"role": principal.role, "account_id": principal.account_id},
                "unit_id": principal.account_id if principal.role == "unit" else None,
                "enrollment_ids": [d["_id"] for d in docs],
                "lines": lines,
                "session_ids": list(dict.fromkeys(line["session_id"] for line in lines)),
                "amount_fen": sum(line["fee_fen"] for line in lines),
                "status": "submitted",
                "proofs": [{"file_id": file_id, "content_type": p.content_type, "size": len(p.data),
                            "width": p.width, "height": p.height, "sha256": p.sha256}
                           for file_id, p in zip(stored, proofs, strict=True)],
                "invoice": invoice,
                "ocr": {"status": "pending"},
                "submitted_at": now, "created_at": now, "updated_at": now,
            }

            async def work(s: AsyncClientSession) -> None:
                await self._insert(doc, s)
                # Audited in the same transaction: no transition without its entry, no entry without it.
                await self.audit.record(
                    "payment.submit", actor_id=principal.account_id, actor_role=principal.role,
                    subject_id=payment_id, ip=ip, subject=f"payment:{doc['reference']}",
                    details={"enrollments": [str(i) for i in doc["enrollment_ids"]], "amount_fen": doc["amount_fen"],
                             "proofs": len(stored), "ignored_amount_fen": body.amount_fen}, session=s)
                for enrollment_id in doc["enrollment_ids"]:
                    await self.audit.record("enrollment.payment_submitted", actor_id=principal.account_id,
                                            actor_role=principal.role, subject_id=enrollment_id, ip=ip,
                                            details={"payment_id": str(payment_id)}, session=s)

            await in_transaction(self.db, work)
        except BaseException:
            await self._delete_files(stored)
            raise
        return doc

    async def _insert(self, doc: dict[str, Any], s: AsyncClientSession) -> None:
        """Inside the transaction: the payment, its enrollments under review, the OCR job."""
        try:
            await self.payments.insert_one(doc, session=s)
        except DuplicateKeyError:
            raise _in_open_payment() from None
        moved = await self.enrollments.mark_payment_submitted(doc["enrollment_ids"], doc["_id"], s=s)
        if len(moved) != len(doc["enrollment_ids"]):
            # One changed since it was checked (a cancel, an expiry, another payment): all or nothing.
            raise errors.conflict("enrollment_changed", "部分报名状态刚刚发生变化，请刷新后重新提交")
        await self.jobs.enqueue(**ocr_enqueue_args(doc["_id"]), session=s)

    async def _invoice_snapshot(self, principal: Principal, body: PaymentSubmit) -> dict[str, Any]:
        """The invoice details kept with the payment: a template's copy (still sealed) or the typed ones, sealed."""
        if body.invoice_template_id is not None:
            template = await self.templates.get_invoice_template(principal.account_id, body.invoice_template_id)
            values = {k: template.get(k) for k in InvoiceSnapshotOut.model_fields if k != "template_id"}
            return {"template_id": ObjectId(template["id"]), **values}
        assert body.invoice is not None
        values = body.invoice.model_dump(mode="json", exclude={"is_default"})
        for name, context in INVOICE_SEALED.items():
            values[name] = seal(self.cipher, values.get(name) or None, context=context) or values.get(name)
        return {"template_id": None, **values}

    async def _delete_files(self, file_ids: list[ObjectId]) -> None:
        for file_id in file_ids:
            try:
                await self.bucket.delete(file_id)
            except Exception:  # noqa: BLE001 — best effort; the sweep finds what is left
                log.warning("proof file %s of a refused payment not deleted; the sweep will", file_id)

    async def sweep_orphan_proofs(self) -> int:
        """Delete proof files older than an hour that no payment points at (a crash before the transaction)."""
        cutoff = ObjectId.from_datetime(self.now() - ORPHAN_PROOF_AGE)
        count = 0
        async for f in self.db[f"{PROOF_BUCKET}.files"].find({"_id": {"$lt": cutoff}}, {"_id": 1}):
            if not await self.payments.count_documents({"proofs.file_id": f["_id"]}, limit=1):
                await self._delete_files([f["_id"]])
                count += 1
        return count

    # ---- reading --------------------------------------------------------------------------------

    async def list_mine(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The payer's payments, newest first."""
        query = {"payer.account_id": principal.account_id}
        total = await self.payments.count_documents(query)
        docs = await self.payments.find(query).sort("submitted_at", -1).skip(skip).limit(limit).to_list()
        return docs, total

    async def get_visible(self, principal: Principal, payment_id: str) -> dict[str, Any]:
        """A payment the caller may see: the payer's own, any for reviewers and admins; else 404."""
        oid = parse_object_id(payment_id, "缴费记录不存在")
        query: dict[str, Any] = {"_id": oid}
        if principal.role not in REVIEW_ROLES:
            query["payer.account_id"] = principal.account_id
        doc = await self.payments.find_one(query)
        if doc is None:
            raise errors.not_found("缴费记录不存在", "payment_not_found")
        return doc

    async def proof(self, principal: Principal, payment_id: str, index: int) -> tuple[str, bytes]:
        """The ``index``-th proof image of a payment the caller may see: (content type, bytes)."""
        doc = await self.get_visible(principal, payment_id)
        proofs = doc.get("proofs") or []
        if not 0 <= index < len(proofs):
            raise errors.not_found("缴费凭证不存在", "proof_not_found")
        try:
            stream = await self.bucket.open_download_stream(proofs[index]["file_id"])
            return proofs[index]["content_type"], await stream.read()
        except NoFile:
            raise errors.not_found("缴费凭证不存在", "proof_not_found") from None

    async def shown(self, docs: list[dict[str, Any]], *, staff: bool) -> list[PaymentOut]:
        """Payments as their readers see them: names, masked ID numbers, invoice decrypted, the OCR reading.

        Reviewers see every OCR hint; the payer sees the readings and the hints about their own pictures.
        """
        accounts = await self._accounts({line["trainee_id"] for d in docs for line in d["lines"]}
                                        | {d["payer"]["account_id"] for d in docs}
                                        | {d["review"]["reviewer_id"] for d in docs if d.get("review")})
        out = []
        for d in docs:
            pid = str(d["_id"])
            lines = [self._line_out(line, accounts) for line in d["lines"]]
            review = d.get("review")
            out.append(PaymentOut(
                id=pid, reference=d["reference"], status=d["status"], status_label=PAYMENT_STATUS_LABELS[d["status"]],
                payer_role=d["payer"]["role"], payer_id=str(d["payer"]["account_id"]),
                payer_name=(accounts.get(d["payer"]["account_id"]) or {}).get("name", ""),
                unit_id=str(d["unit_id"]) if d.get("unit_id") else None, amount_fen=d["amount_fen"], lines=lines,
                proofs=[ProofOut(index=i, url=f"/api/v1/payments/{pid}/proofs/{i}", content_type=p["content_type"],
                                 size=p["size"], width=p["width"], height=p["height"])
                        for i, p in enumerate(d.get("proofs") or [])],
                invoice=self._invoice_out(d["invoice"]), submitted_at=d["submitted_at"],
                review=ReviewOut(decision=review["decision"], reason_code=review.get("reason_code"),
                                 reason=review.get("reason"), reviewer_id=str(review["reviewer_id"]),
                                 reviewer_name=(accounts.get(review["reviewer_id"]) or {}).get("name", ""),
                                 at=review["at"]) if review else None,
                ocr=OcrReviewOut.model_validate(ocr_for_review(d.get("ocr")) if staff else ocr_for_payer(d.get("ocr"))),
                invoice_issue=invoice_issue_out(d),
            ))
        return out

    def _invoice_out(self, invoice: dict[str, Any]) -> InvoiceSnapshotOut:
        shown = {**invoice, **{name: unseal(self.cipher, invoice.get(name), context=context)
                               for name, context in INVOICE_SEALED.items()}}
        template_id = shown.get("template_id")
        return InvoiceSnapshotOut(**{**{k: shown.get(k) for k in InvoiceSnapshotOut.model_fields},
                                     "template_id": str(template_id) if template_id else None,
                                     "address_phone": shown.get("address_phone") or "",
                                     "bank_account": shown.get("bank_account") or "",
                                     "tax_id": shown.get("tax_id") or ""})

    def _line_out(self, line: dict[str, Any], accounts: dict[ObjectId, dict[str, Any]]) -> PaymentLineOut:
        trainee = accounts.get(line["trainee_id"]) or {}
        return PaymentLineOut(
            enrollment_id=str(line["enrollment_id"]), trainee_id=str(line["trainee_id"]),
            trainee_name=trainee.get("name", ""), id_masked=id_masked_of(self.cipher, trainee.get("trainee") or {}),
            session_id=str(line["session_id"]), session_code=line.get("session_code", ""),
            course_name=line.get("course_name", ""), fee_fen=line["fee_fen"])

    # ---- review -----------------------------------------------------------------------------------

    async def queue(self, query: ReviewQueueQuery) -> tuple[list[dict[str, Any]], int]:
        """The review queue: filtered by status, session, unit and OCR flag; waiting ones oldest first."""
        filters: dict[str, Any] = {}
        if query.status != "all":
            filters["status"] = query.status
        if query.session_id:
            filters["session_ids"] = ObjectId(query.session_id)
        if query.unit_id:
            filters["unit_id"] = ObjectId(query.unit_id)
        filters.update(flag_filter(query.flag))
        order = 1 if query.status == "submitted" else -1
        # No projection: the embedded database applies one in Python, slower than sending the whole document.
        docs = await self.payments.find(filters).sort([("submitted_at", order), ("_id", order)]) \
            .skip(query.skip).limit(query.page_size).to_list()
        if query.skip == 0 and len(docs) < query.page_size:
            return docs, len(docs)  # the whole queue is on this page: no count needed
        return docs, await self.payments.count_documents(filters)

    async def approve(self, reviewer: Principal, payment_id: str, *, ip: str | None) -> dict[str, Any]:
        """Approve: the payment and every one of its enrollments, in one transaction (see the module notes)."""
        return await self._decide(reviewer, payment_id, None, ip=ip)

    async def reject(self, reviewer: Principal, payment_id: str, body: RejectIn, *, ip: str | None) -> dict[str, Any]:
        """Reject with a reason: the enrollments become payable again with a new deadline."""
        return await self._decide(reviewer, payment_id, body, ip=ip)

    async def _decide(self, reviewer: Principal, payment_id: str, rejection: RejectIn | None, *,
                      ip: str | None) -> dict[str, Any]:
        oid = parse_object_id(payment_id, "缴费记录不存在")
        if await self.payments.count_documents({"_id": oid}, limit=1) == 0:
            raise errors.not_found("缴费记录不存在", "payment_not_found")
        approved = rejection is None
        now = self.now()
        review: dict[str, Any] = {"decision": "approved" if approved else "rejected", "reviewer_id": reviewer.account_id,
                                  "at": now, "reason_code": None if approved else str(rejection.reason_code),
                                  "reason": None if approved else rejection.text}

        async def work(s: AsyncClientSession) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            done = await self.payments.find_one_and_update(
                {"_id": oid, "status": "submitted"},
                {"$set": {"status": review["decision"], "review": review, "updated_at": now}},
                return_document=ReturnDocument.AFTER, session=s)
            if done is None:
                raise _Decided
            moved = await self.enrollments.decide_payment(
                done["enrollment_ids"], oid, approved=approved, reason=review["reason"], s=s)
            if approved and len(moved) != len(done["enrollment_ids"]):
                raise errors.conflict("enrollment_changed", "该缴费的部分报名已取消或过期，不能审核通过；请驳回",
                                      {"enrollments": len(done["enrollment_ids"]), "under_review": len(moved)})
            await self._notify(done, moved, s)
            # Audited in the decision's transaction: no transition without its entry.
            await self.audit.record(
                "payment.approve" if approved else "payment.reject", actor_id=reviewer.account_id,
                actor_role=reviewer.role, subject_id=oid, ip=ip, subject=f"payment:{done['reference']}",
                details={"reason_code": review["reason_code"], "enrollments": [str(e["_id"]) for e in moved]},
                session=s)
            for enrollment in moved:
                await self.audit.record(f"enrollment.{enrollment['status']}", actor_id=reviewer.account_id,
                                        actor_role=reviewer.role, subject_id=enrollment["_id"], ip=ip,
                                        details={"payment_id": str(oid)}, session=s)
            return done, moved

        try:
            done, _ = await in_transaction(self.db, work)
        except _Decided:
            raise await self._already_decided(oid) from None
        return done

    async def _notify(self, payment: dict[str, Any], moved: list[dict[str, Any]], s: AsyncClientSession) -> None:
        """The payer is told of the decision (enqueued in the decision's transaction)."""
        pid, ref, review = str(payment["_id"]), payment["reference"], payment["review"]
        if review["decision"] == "approved":
            titles = self._session_titles(payment)
            text = (f"您提交的缴费（编号 {ref}，金额 {payment['amount_fen'] / 100:.2f} 元）已审核通过。"
                    f"{'、'.join(titles)}")
            data = {"payment_id": pid, "reference": ref, "amount_fen": payment["amount_fen"], "session_titles": titles}
            kind = "payment_approved"
        else:
            pay_by = max((e["pay_by"] for e in moved), default=self.now() + self.enrollments.payment_term)
            pay_by = pay_by if pay_by.tzinfo else pay_by.replace(tzinfo=UTC)
            text = (f"您提交的缴费（编号 {ref}）未通过审核：{review['reason']}。"
                    f"请于 {pay_by.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 前重新提交缴费凭证。")
            data = {"payment_id": pid, "reference": ref, "reason": review["reason"], "pay_by": pay_by.isoformat()}
            kind = "payment_rejected"
        await enqueue_notification(self.jobs, payment["payer"]["account_id"], kind, text, data,
                                   dedupe_key=f"{kind}:{pid}", session=s)

    @staticmethod
    def _session_titles(payment: dict[str, Any]) -> list[str]:
        return list(dict.fromkeys(f"{line.get('course_name', '')}（{line.get('session_code', '')}）"
                                  for line in payment["lines"]))

    async def _already_decided(self, oid: ObjectId) -> errors.AppError:
        """409 carrying the decision that won (and who took it, for the other reviewer's screen)."""
        doc = await self.payments.find_one({"_id": oid}, {"status": 1, "review": 1})
        review = (doc or {}).get("review") or {}
        reviewer = (await self._accounts({review["reviewer_id"]})).get(review["reviewer_id"]) \
            if review.get("reviewer_id") else None
        return errors.conflict("already_decided", "该缴费已由其他审核人员处理", {
            "reviewer_name": (reviewer or {}).get("name", ""),
            "status": (doc or {}).get("status"), "decision": review.get("decision"),
            "reason_code": review.get("reason_code"), "reason": review.get("reason"),
            "reviewer_id": str(review["reviewer_id"]) if review.get("reviewer_id") else None,
            "at": review["at"].isoformat() if review.get("at") else None})

    # ---- for the rights of the person (services/privacy) ---------------------------------------------

    async def of_payer(self, account_id: ObjectId) -> list[dict[str, Any]]:
        """The payments the person made, oldest first, as their payer sees them (for the data export)."""
        docs = await self.payments.find({"payer.account_id": account_id}).sort("submitted_at", 1).to_list()
        return [p.model_dump(mode="json") for p in await self.shown(docs, staff=False)]

    async def forget_payer(self, account_id: ObjectId, *, at: datetime, session: AsyncClientSession | None) -> None:
        """Keep the person's payments (financial records), without their sealed invoice contact details."""
        await self.payments.update_many(
            {"payer.account_id": account_id, "payer.role": "trainee"},
            {"$set": {**{f"invoice.{name}": None for name in INVOICE_SEALED}, "payer_forgotten_at": at,
                      "updated_at": at}}, session=session)


_HARD_FLAG = {"$elemMatch": {"soft": {"$ne": True}}}


def flag_filter(flag: str | None) -> dict[str, Any]:
    """The queue's OCR filter. The OCR's soft flags (nothing read, no reference in the remark: "please
    check by hand") are weaker hints than the others, so the read payments split in three:

    - ``any``: at least one hard flag (amount, payee, account, time, the same screenshot elsewhere);
    - ``soft``: soft flags only;
    - ``none``: read (``ocr.status: done``) and nothing flagged — a payment not yet read is in none of
      these (it shows without the filter);
    - a flag code: the payments with that flag.
    """
    if flag is None:
        return {}
    if flag == "any":
        return {"ocr.flags": _HARD_FLAG}
    if flag == "soft":
        return {"$and": [{"ocr.flags.soft": True}, {"ocr.flags": {"$not": _HARD_FLAG}}]}
    if flag == "none":
        return {"ocr.status": "done", "ocr.flags.0": {"$exists": False}}
    return {"ocr.flags.code": flag}


def _check_payable(enrollment: dict[str, Any]) -> None:
    status = enrollment["status"]
    if status in _UNPAID:
        return
    if status == str(EnrollmentStatus.payment_submitted):
        raise _in_open_payment()
    if status in _PAID:
        raise errors.conflict("already_paid", "该报名已缴费审核通过，无需再次缴费")
    if status in _CLOSED:
        raise errors.conflict("enrollment_closed", "该报名已取消或已过期，不能缴费")
    raise errors.conflict("not_payable", "该报名当前状态不能缴费")


def _in_open_payment() -> errors.AppError:
    return errors.conflict("already_in_payment", "该报名已提交缴费凭证，正在审核中，请勿重复提交")


__all__ = ["PAYMENTS", "PROOF_BUCKET", "PROOF_MAX_BYTES", "PaymentService"]


def proof_file_reader(db: AsyncDatabase[dict[str, Any]]) -> Callable[[ObjectId], Awaitable[bytes]]:
    """Read one proof picture by file id (for the OCR job, which never opens the bucket itself)."""
    bucket = AsyncGridFSBucket(db, bucket_name=PROOF_BUCKET)

    async def read(file_id: ObjectId) -> bytes:
        stream = await bucket.open_download_stream(file_id)
        return await stream.read()  # type: ignore[no-any-return]

    return read
