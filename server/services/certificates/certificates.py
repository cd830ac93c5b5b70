"""Issuing (协会审核), revoking, verifying and printing certificates (see the package notes).

- **Batch approval per session**: every published 合格 result of the session without a valid
  certificate gets one, each in its own transaction: ``$inc`` of the counter document of the type and
  year, then the insert with that number. Two reviewers approving at once conflict on the counter and
  one retries after the other commits; the one that then finds the enrollment already certified
  (unique index on ``live``) aborts, and its increment is rolled back with it — no duplicate, no gap.
- **Minimum attendance**: a course may require a minimum attendance (``min_attendance_percent``:
  training days checked in ÷ training days, read through the results area from the passes area's
  check-ins). A 合格 enrollment below it gets no certificate: the batch answer lists it in
  ``skipped`` with the reason (出勤 1/2 天（50%），低于…), and the audit record names it. A later
  approval certifies it if the course's minimum is lowered (an exemption decided by the association).
- **What is printed is kept**: name, masked ID number, unit, course, hours, session dates at issue
  (``printed``); the photo is read when rendering.
- **Verification**: the code is 128 random bits (base32, 26 letters), unique; a lookup by the
  code is the only way in. Every wrong code — malformed, unknown, forged — gets the same 404 with the
  same body after the same single indexed lookup.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import Binary, ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.documents.certificate_pdf import CertificateSheet, clean_seal, render_certificate
from server.models.certificates import (
    STATUS_LABELS,
    CertificateOut,
    IssueOut,
    IssueSkipOut,
    RevokeIn,
    SealOut,
    VerificationOut,
)
from server.models.certificates import verify_url as make_verify_url
from server.models.results import VERDICT_LABELS
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.accounts.personal import id_masked_of
from server.services.accounts.repository import AccountRepository
from server.services.accounts.throttle import RateLimiter
from server.services.audit import AuditLog
from server.services.catalog.catalog import CatalogService
from server.services.catalog.seats import in_transaction
from server.services.ids import parse_object_id
from server.services.jobs.notify import enqueue_notification
from server.services.jobs.queue import JobQueue
from server.services.pii import FieldCipher
from server.services.profile.photos import PhotoService
from server.services.results.results import ResultService

T = TypeVar("T")
COLLECTION = "certificates"
COUNTERS = "certificate_counters"
SETTINGS = "certificate_settings"
READY_KIND = "certificate_ready"
CODE_LENGTH = 26  # 128 random bits in base32 without padding
NOT_FOUND_MESSAGE = "证书不存在或验证码无效"


def new_code() -> str:
    """A verification code: 128 random bits, base32 lower case (easy to read aloud, URL-safe)."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def certificate_number(prefix: str, year: int, seq: int) -> str:
    """``SKX-2026-000123``."""
    return f"{prefix}-{year}-{seq:06d}"


class CertificateService:
    """Issue, revoke, verify and render certificates; the association's seal."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, results: ResultService, catalog: CatalogService,
        photos: PhotoService, cipher: FieldCipher, jobs: JobQueue, audit: AuditLog,
        run_cpu: Callable[..., Awaitable[Any]], association: str, prefix: str, base_url: str,
        limiter: RateLimiter, verify_rate: int, now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.certificates = db[COLLECTION]
        self.counters = db[COUNTERS]
        self.settings = db[SETTINGS]
        self.accounts = AccountRepository(db)
        self.results = results
        self.catalog = catalog
        self.photos = photos
        self.cipher = cipher
        self.jobs = jobs
        self.audit = audit
        self.run_cpu = run_cpu
        self.association = association
        self.prefix = prefix
        self.base_url = base_url
        self.limiter = limiter
        self.verify_rate = verify_rate
        self.now = now or (lambda: datetime.now(UTC))

    # ---- issuing and revoking (staff) -------------------------------------------------------

    async def issue_session(self, reviewer: Principal, session_id: str, *, ip: str | None) -> IssueOut:
        """协会审核: a certificate for every published 合格 result of the session that has none."""
        session = await self.catalog.get_session(session_id)
        course = await self.catalog.get_course(session["course_id"])
        passed = await self.results.passed_in_session(session["_id"])
        if not passed:
            raise errors.conflict("nothing_to_certify", "该班次没有已发布的合格成绩")
        numbers, already, skipped = [], 0, []
        minimum = course.get("min_attendance_percent") or None
        attendance = await self.results.attendance(session, [r["enrollment_id"] for r in passed])
        for result in passed:
            shown = attendance[result["enrollment_id"]]
            if not shown.meets(minimum):
                if await self.has_valid(result["enrollment_id"]):  # certified before the minimum was set
                    already += 1
                    continue
                person = await self.accounts.find_one({"_id": result["trainee_id"]}, {"name": 1}) or {}
                skipped.append(IssueSkipOut(
                    enrollment_id=str(result["enrollment_id"]), name=person.get("name") or "",
                    code="attendance_below_minimum",
                    reason=f"出勤 {shown.label}（{shown.percent}%），低于本课程发证要求的 {minimum}%，不发合格证"))
                continue
            doc = await self._new_certificate(result, session, course)
            try:
                number = await in_transaction(self.db, lambda s, d=doc: self._issue(d, s))  # type: ignore[misc]
            except DuplicateKeyError:  # the enrollment has a valid certificate (maybe issued just now)
                already += 1
                continue
            numbers.append(number)
        await self.audit.record("certificates.issue", actor_id=reviewer.account_id, actor_role=reviewer.role,
                                subject=session["code"], subject_id=session["_id"], ip=ip,
                                details={"issued": numbers, "already": already,
                                         "skipped": [{"enrollment_id": k.enrollment_id, "code": k.code}
                                                     for k in skipped]})
        return IssueOut(issued=len(numbers), already=already, numbers=numbers, skipped=skipped)

    async def _issue(self, doc: dict[str, Any], s: AsyncClientSession) -> str:
        """The counter and the insert, in the caller's transaction ``s``: the number allocated here is
        used by this insert or by nobody."""
        key = f"{doc['type']}-{doc['year']}"
        counter = await self.counters.find_one_and_update(
            {"_id": key}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER, session=s)
        seq = counter["seq"]
        number = certificate_number(doc["type"], doc["year"], seq)
        await self.certificates.insert_one({**doc, "seq": seq, "number": number}, session=s)
        await enqueue_notification(
            self.jobs, doc["trainee_id"], READY_KIND,
            f"您的「{doc['printed']['course']}」合格证已签发（{number}），可在小程序中下载",
            {"certificate_id": str(doc["_id"]), "number": number, "course_name": doc["printed"]["course"]},
            dedupe_key=f"{READY_KIND}:{doc['_id']}", session=s)
        return number

    async def _new_certificate(
        self, result: dict[str, Any], session: dict[str, Any], course: dict[str, Any],
    ) -> dict[str, Any]:
        now = self.now()
        account = await self.accounts.find_one({"_id": result["trainee_id"]}) or {}
        unit_id = result.get("unit_id") or (account.get("trainee") or {}).get("unit_id")
        unit = await self.accounts.find_one({"_id": unit_id}, {"name": 1}) if unit_id else None
        issued_on = now.astimezone(SHANGHAI).date()
        await self._counter_exists(f"{self.prefix}-{issued_on.year}")
        return {
            "_id": ObjectId(), "enrollment_id": result["enrollment_id"], "live": result["enrollment_id"],
            "session_id": session["_id"], "course_id": course["_id"], "trainee_id": result["trainee_id"],
            "unit_id": unit_id, "type": self.prefix, "year": issued_on.year, "code": new_code(),
            "status": "valid", "issued_on": issued_on.isoformat(), "issued_at": now,
            "printed": {
                "name": account.get("name") or "", "id_masked": id_masked_of(self.cipher, account.get("trainee") or {}),
                "unit": (unit or {}).get("name"), "course": course["name"], "hours": course["hours"],
                "start_date": str(session["start_date"]), "end_date": str(session["end_date"]),
                "verdict": VERDICT_LABELS[result["verdict"]],
            },
        }

    async def _counter_exists(self, key: str) -> None:
        """Create the counter of a type and year outside any transaction (an upsert racing inside two
        transactions would fail one with a duplicate key instead of a retryable conflict)."""
        try:
            await self.counters.update_one({"_id": key}, {"$setOnInsert": {"seq": 0}}, upsert=True)
        except DuplicateKeyError:
            pass

    async def revoke(self, staff: Principal, certificate_id: str, body: RevokeIn, *, ip: str | None) -> CertificateOut:
        """Revoke with a reason: it verifies as 已撤销, and the enrollment may be certified again."""
        oid = parse_object_id(certificate_id, "证书不存在")
        doc = await self.certificates.find_one_and_update(
            {"_id": oid, "status": "valid"},
            {"$set": {"status": "revoked", "revoked": {"reason": body.reason, "by": staff.account_id, "at": self.now()}},
             "$unset": {"live": ""}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            if await self.certificates.count_documents({"_id": oid}, limit=1):
                raise errors.conflict("already_revoked", "该证书已撤销")
            raise errors.not_found("证书不存在")
        await self.audit.record("certificate.revoke", actor_id=staff.account_id, actor_role=staff.role,
                                subject=doc["number"], subject_id=oid, ip=ip, details={"reason": body.reason})
        return self.shown(doc)

    async def has_valid(self, enrollment_id: ObjectId) -> bool:
        """Whether the enrollment has a valid certificate (the results area asks before a correction)."""
        return bool(await self.certificates.count_documents({"live": enrollment_id}, limit=1))

    # ---- reading -----------------------------------------------------------------------------

    async def list_visible(
        self, principal: Principal, *, session_id: str | None, skip: int, limit: int,
    ) -> tuple[list[CertificateOut], int]:
        """A trainee's own certificates, a unit's staff's, or any for staff; newest first."""
        query = self._scope(principal)
        if session_id:
            query["session_id"] = ObjectId(session_id)
        total = await self.certificates.count_documents(query)
        docs = await self.certificates.find(query).sort("issued_at", -1).skip(skip).limit(limit).to_list()
        return [self.shown(d) for d in docs], total

    async def get_visible(self, principal: Principal, certificate_id: str) -> dict[str, Any]:
        """A certificate the caller may see; another's is 404 (never 403: it does not exist for them)."""
        oid = parse_object_id(certificate_id, "证书不存在")
        doc = await self.certificates.find_one({"_id": oid, **self._scope(principal)})
        if doc is None:
            raise errors.not_found("证书不存在")
        return doc

    @staticmethod
    def _scope(principal: Principal) -> dict[str, Any]:
        if principal.role == "trainee":
            return {"trainee_id": principal.account_id}
        if principal.role == "unit":
            return {"unit_id": principal.account_id}
        return {}

    def shown(self, doc: dict[str, Any]) -> CertificateOut:
        """The certificate as its readers see it."""
        return CertificateOut.from_doc(doc, self.base_url)

    async def pdf(self, principal: Principal, certificate_id: str) -> tuple[str, bytes]:
        """(file name, PDF) of a certificate the caller may see; rendered in the CPU executor."""
        doc = await self.get_visible(principal, certificate_id)
        if doc["status"] != "valid":
            raise errors.conflict("certificate_revoked", "该证书已撤销，不能下载")
        sheet = await self.sheet(doc, await self.seal_png())
        return f"{doc['number']}.pdf", await self.run_cpu(render_certificate, sheet)

    async def sheet(self, doc: dict[str, Any], seal: bytes | None) -> CertificateSheet:
        """What the certificate prints (the photo read now)."""
        p = doc["printed"]
        account = await self.accounts.find_one({"_id": doc["trainee_id"]}, {"trainee.photo": 1})
        photo = await self.photos.read_file(account) if account else None
        return CertificateSheet(
            association=self.association, number=doc["number"], name=p["name"], id_masked=p["id_masked"],
            unit=p.get("unit") or "", course=p["course"], hours=p["hours"], start_date=p["start_date"],
            end_date=p["end_date"], verdict=p["verdict"], issued_on=doc["issued_on"],
            verify_url=make_verify_url(self.base_url, doc["code"]), photo=photo, seal=seal)

    # ---- public verification --------------------------------------------------------------------

    async def verify_public(self, code: str, *, ip: str) -> VerificationOut:
        """:meth:`verify` for anyone, rate-limited per client address (429 past ``verify_rate`` a minute)."""
        await self.limiter.hit(f"certificate_verify:{ip}", limit=self.verify_rate, window_seconds=60,
                               message="验证过于频繁，请稍后再试")
        return await self.verify(code)

    async def verify(self, code: str) -> VerificationOut:
        """What the certificate of ``code`` shows anyone; one 404 for every wrong code."""
        doc = await self.certificates.find_one({"code": code[:64].lower()}, {"printed": 1, "issued_on": 1, "status": 1})
        if doc is None:
            raise errors.not_found(NOT_FOUND_MESSAGE, "certificate_not_found")
        p = doc["printed"]
        return VerificationOut(name=p["name"], id_masked=p["id_masked"], course=p["course"], hours=p["hours"],
                               issued_on=doc["issued_on"], status=doc["status"], status_label=STATUS_LABELS[doc["status"]])

    # ---- the seal ---------------------------------------------------------------------------------

    async def set_seal(self, admin: Principal, data: bytes, *, ip: str | None) -> SealOut:
        """Replace the seal (a transparent PNG, checked and re-encoded in the CPU executor)."""
        png = await self.run_cpu(clean_seal, data)
        now = self.now()
        await self.settings.update_one({"_id": "seal"}, {"$set": {"png": Binary(png), "updated_at": now}}, upsert=True)
        await self.audit.record("certificate.seal", actor_id=admin.account_id, actor_role=admin.role, ip=ip,
                                details={"bytes": len(png)})
        return SealOut(set=True, updated_at=now)

    async def seal(self) -> SealOut:
        """Whether a seal is set."""
        doc = await self.settings.find_one({"_id": "seal"}, {"updated_at": 1})
        return SealOut(set=doc is not None, updated_at=(doc or {}).get("updated_at"))

    async def seal_png(self) -> bytes | None:
        """The seal PNG, or None before an admin sets one."""
        doc = await self.settings.find_one({"_id": "seal"})
        return bytes(doc["png"]) if doc else None

    # ---- the rights of the person (services/privacy) ------------------------------------------

    async def of_trainee(self, trainee_id: ObjectId) -> list[dict[str, Any]]:
        """Every certificate of the trainee (for the data export), without the verification code."""
        return await self.certificates.find({"trainee_id": trainee_id}, {"code": 0}).to_list()

    async def anonymize(self, trainee_id: ObjectId, *, at: datetime, session: AsyncClientSession | None) -> None:
        """Keep the record (number, course, dates, status: the association keeps them; the number stays
        taken), drop the name and masked ID number: a verification then shows 已注销."""
        await self.certificates.update_many(
            {"trainee_id": trainee_id},
            {"$set": {"printed.name": "已注销", "printed.id_masked": "已注销", "anonymized_at": at}}, session=session)
