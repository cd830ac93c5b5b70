"""Entering, publishing and reading exam results (see the package notes for the invariants).

- **Drafts**: staff (reviewer / admin) enter a score (0–100) or 缺考 per enrollment whose payment was
  approved; the verdict comes from the course's pass mark (合格 ≥ pass mark). A draft can be changed
  freely; nobody but staff sees it.
- **Publishing** (a reviewer, per session) is one transaction: every draft of the session becomes
  ``published`` and every enrollment takes its verdict as status (``completed_passed`` /
  ``completed_failed`` / ``absent``, no longer active: a failed trainee may enroll again). It needs a
  result for every enrollment that sat the exam (409 ``results_missing`` otherwise, nothing written).
  Two publishes at once: one wins, the other finds nothing to publish (409).
- **Corrections** after publishing need a reason; the result, its ``corrections`` history, the
  enrollment's status and a ``results_published`` notification (成绩已更正) change in one transaction,
  and the audit log keeps old value, new value, reason.
  A correction that takes a 合格 away while a valid certificate exists is refused (revoke it first).
- Trainees and units read **published** results only: their own, or their staff's (the unit that
  enrolled them, or the unit they belong to when the result was entered).
- **Attendance** (出勤) shows beside every result and roster row: the distinct training days the
  enrollment checked in at the venue door, read from the passes area (the owner of ``checkins``),
  of the session's training days. A course may set a minimum (``min_attendance_percent``); the
  roster says who falls short, and the certificates area refuses those (:meth:`attendance`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.models.enrollments import EnrollmentStatus
from server.models.results import (
    VERDICT_LABELS,
    AttendanceOut,
    PublishOut,
    ResultIn,
    ResultOut,
    RosterRow,
    SessionResultsOut,
    verdict_of,
)
from server.services import Principal
from server.services.accounts.personal import id_masked_of
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.catalog.catalog import CatalogService
from server.services.catalog.seats import in_transaction
from server.services.enrollment.enrollments import EnrollmentService
from server.services.ids import parse_object_id
from server.services.jobs.notify import enqueue_notification
from server.services.jobs.queue import JobQueue
from server.services.passes.checkins import CheckinService
from server.services.passes.passes import training_days
from server.services.pii import FieldCipher

COLLECTION = "results"
PUBLISHED_KIND = "results_published"
# Enrollments that sit the exam (paid and approved; ``completed`` when the session ended first).
SITTING = (str(EnrollmentStatus.approved), str(EnrollmentStatus.completed))
FINISHED = tuple(str(s) for s in (EnrollmentStatus.completed_passed, EnrollmentStatus.completed_failed,
                                  EnrollmentStatus.absent))

# A hook the certificates area gives: whether the enrollment has a valid certificate (checked before a
# correction takes a 合格 away). Given at wiring time, so the results area does not import it.
HasCertificate = Callable[[ObjectId], Awaitable[bool]]


class ResultService:
    """Drafts, publishing, corrections and the readers' views of exam results."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, enrollments: EnrollmentService, catalog: CatalogService,
        cipher: FieldCipher, jobs: JobQueue, audit: AuditLog, checkins: CheckinService,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.results = db[COLLECTION]
        self.enrollment_docs = db["enrollments"]
        self.accounts = AccountRepository(db)
        self.enrollments = enrollments
        self.catalog = catalog
        self.cipher = cipher
        self.jobs = jobs
        self.audit = audit
        self.checkins = checkins  # read only: attendance
        self.now = now or (lambda: datetime.now(UTC))
        self.has_certificate: HasCertificate | None = None

    # ---- staff: entering ------------------------------------------------------------------

    async def enter(self, staff: Principal, enrollment_id: str, body: ResultIn, *, ip: str | None) -> ResultOut:
        """Enter (or change) the result of one enrollment: a draft before publishing, an audited
        correction after it."""
        oid = parse_object_id(enrollment_id, "报名记录不存在")
        enrollment = await self.enrollment_docs.find_one({"_id": oid})
        if enrollment is None:
            raise errors.not_found("报名记录不存在")
        course = await self.catalog.get_course(enrollment["course_id"])
        score = None if body.absent else body.score
        verdict = verdict_of(score, course["pass_mark"])
        current = await self.results.find_one({"enrollment_id": oid})
        if current is not None and current["status"] == "published":
            return await self._correct(staff, current, score, verdict, body.reason, ip=ip)
        if enrollment["status"] not in SITTING:
            raise errors.conflict("not_sitting", "该报名未缴费审核通过，不能登记成绩")
        now = self.now()
        values = {"score": score, "verdict": verdict, "pass_mark": course["pass_mark"], "entered_by": staff.account_id,
                  "updated_at": now}
        if current is None:
            session = await self.catalog.get_session(enrollment["session_id"])
            doc = {"_id": ObjectId(), "enrollment_id": oid, "session_id": enrollment["session_id"],
                   "course_id": enrollment["course_id"], "trainee_id": enrollment["trainee_id"],
                   "unit_id": await self._unit_of(enrollment), "session_code": session["code"],
                   "course_name": course["name"], "status": "draft", "corrections": [], "created_at": now, **values}
            try:
                await self.results.insert_one(doc)
            except DuplicateKeyError:  # entered at the same moment by someone else: this one is the change
                current = await self.results.find_one({"enrollment_id": oid})
        if current is not None:
            doc = await self.results.find_one_and_update(
                {"_id": current["_id"], "status": "draft"}, {"$set": values}, return_document=True)
            if doc is None:  # published meanwhile
                raise errors.conflict("results_published", "成绩已发布，请刷新后填写更正原因再修改")
        await self.audit.record("result.enter", actor_id=staff.account_id, actor_role=staff.role, subject_id=oid,
                                ip=ip, details={"score": score, "verdict": verdict})
        return (await self._shown([doc]))[0]

    async def save_drafts(
        self, staff: Principal, session: dict[str, Any], drafts: list[dict[str, Any]], *, ip: str | None,
    ) -> None:
        """An import's rows (``{"enrollment": doc, "score": int | None}``) as drafts, all in one transaction;
        409 ``results_published`` (nothing written) when one was published meanwhile."""
        course = await self.catalog.get_course(session["course_id"])
        now = self.now()
        units = {d["enrollment"]["_id"]: await self._unit_of(d["enrollment"]) for d in drafts}

        async def work(s: AsyncClientSession) -> None:
            for d in drafts:
                e = d["enrollment"]
                values = {"score": d["score"], "verdict": verdict_of(d["score"], course["pass_mark"]),
                          "pass_mark": course["pass_mark"], "entered_by": staff.account_id, "updated_at": now}
                new = {"_id": ObjectId(), "session_id": session["_id"], "course_id": e["course_id"],
                       "trainee_id": e["trainee_id"], "unit_id": units[e["_id"]], "session_code": session["code"],
                       "course_name": course["name"], "corrections": [], "created_at": now}
                try:
                    await self.results.update_one({"enrollment_id": e["_id"], "status": "draft"},
                                                  {"$set": values, "$setOnInsert": new}, upsert=True, session=s)
                except DuplicateKeyError:  # a published result exists: the upsert tried a second document
                    raise errors.conflict("results_published", "有学员的成绩刚刚已发布，本次未导入任何成绩") from None

        await in_transaction(self.db, work)
        await self.audit.record("results.import", actor_id=staff.account_id, actor_role=staff.role,
                                subject=session["code"], subject_id=session["_id"], ip=ip,
                                details={"rows": len(drafts)})

    async def _correct(
        self, staff: Principal, current: dict[str, Any], score: int | None, verdict: str, reason: str | None, *,
        ip: str | None,
    ) -> ResultOut:
        if not reason:
            raise errors.validation(fields={"reason": "成绩已发布，更正须填写原因"})
        if current.get("score") == score and current["verdict"] == verdict:
            return (await self._shown([current]))[0]  # nothing changes: nothing to audit
        if (current["verdict"] == "passed" and verdict != "passed" and self.has_certificate is not None
                and await self.has_certificate(current["enrollment_id"])):
            raise errors.conflict("certificate_issued", "该学员已发合格证，请先撤销合格证再更正成绩")
        now = self.now()
        correction = {"old_score": current.get("score"), "old_verdict": current["verdict"], "new_score": score,
                      "new_verdict": verdict, "reason": reason, "by": staff.account_id, "at": now}

        async def work(s: AsyncClientSession) -> dict[str, Any] | None:
            doc = await self.results.find_one_and_update(
                {"_id": current["_id"], "status": "published", "score": current.get("score"),
                 "verdict": current["verdict"]},  # nobody corrected it meanwhile
                {"$set": {"score": score, "verdict": verdict, "updated_at": now}, "$push": {"corrections": correction}},
                return_document=True, session=s)
            if doc is not None:
                await self.enrollments.give_verdicts({doc["enrollment_id"]: verdict}, s=s)
                await enqueue_notification(  # the trainee saw the old one: tell them, with the publish's kind
                    self.jobs, doc["trainee_id"], PUBLISHED_KIND,
                    f"您参加的「{doc['course_name']}」（{doc['session_code']}）考试成绩已更正：{VERDICT_LABELS[verdict]}",
                    {"session_id": str(doc["session_id"]), "enrollment_id": str(doc["enrollment_id"]),
                     "verdict": verdict, "verdict_label": VERDICT_LABELS[verdict], "course_name": doc["course_name"]},
                    dedupe_key=f"{PUBLISHED_KIND}:{doc['_id']}:{len(doc['corrections'])}", session=s)
            return doc

        doc = await in_transaction(self.db, work)
        if doc is None:
            raise errors.conflict("result_changed", "该成绩刚被他人更正，请刷新后重试")
        await self.audit.record(
            "result.correct", actor_id=staff.account_id, actor_role=staff.role, subject_id=doc["enrollment_id"], ip=ip,
            details={"old_score": correction["old_score"], "old_verdict": correction["old_verdict"],
                     "new_score": score, "new_verdict": verdict, "reason": reason})
        return (await self._shown([doc]))[0]

    async def _unit_of(self, enrollment: dict[str, Any]) -> ObjectId | None:
        """The unit that sees the result: the one that enrolled the trainee, else the trainee's unit."""
        if enrollment.get("unit_id"):
            return enrollment["unit_id"]  # type: ignore[no-any-return]
        account = await self.accounts.find_one({"_id": enrollment["trainee_id"]}, {"trainee.unit_id": 1})
        return ((account or {}).get("trainee") or {}).get("unit_id")

    # ---- staff: the roster and publishing ------------------------------------------------------

    async def roster(self, session_id: str) -> SessionResultsOut:
        """Every enrollment of the session that sits (or sat) the exam, with its result if entered."""
        session = await self.catalog.get_session(session_id)
        course = await self.catalog.get_course(session["course_id"])
        enrollments = await self.enrollment_docs.find(
            {"session_id": session["_id"], "status": {"$in": [*SITTING, *FINISHED]}}).sort("created_at", 1).to_list()
        results = {r["enrollment_id"]: r for r in await self.results.find({"session_id": session["_id"]}).to_list()}
        people = await self._people([e["trainee_id"] for e in enrollments])
        attendance = await self.attendance(session, [e["_id"] for e in enrollments])
        minimum = course.get("min_attendance_percent") or None
        rows = []
        for e in enrollments:
            name, masked = people.get(e["trainee_id"], ("", None))
            result = results.get(e["_id"])
            shown = attendance[e["_id"]]
            rows.append(RosterRow(enrollment_id=str(e["_id"]), trainee_id=str(e["trainee_id"]), name=name,
                                  id_masked=masked, enrollment_status=e["status"], attendance=shown,
                                  meets_attendance=shown.meets(minimum),
                                  result=None if result is None else self._out(result, people, shown)))
        return SessionResultsOut(
            session_id=str(session["_id"]), pass_mark=course["pass_mark"], min_attendance_percent=minimum,
            training_days=training_days(session), rows=rows,
            drafts=sum(r["status"] == "draft" for r in results.values()),
            published=sum(r["status"] == "published" for r in results.values()))

    async def publish(self, reviewer: Principal, session_id: str, *, ip: str | None) -> PublishOut:
        """Publish the session's drafts and finish its enrollments with their verdicts, in one transaction."""
        session = await self.catalog.get_session(session_id)
        now = self.now()

        async def work(s: AsyncClientSession) -> list[dict[str, Any]]:
            sitting = await self.enrollment_docs.find(
                {"session_id": session["_id"], "status": {"$in": list(SITTING)}}, {"_id": 1}, session=s).to_list()
            drafts = await self.results.find({"session_id": session["_id"], "status": "draft"}, session=s).to_list()
            missing = {e["_id"] for e in sitting} - {d["enrollment_id"] for d in drafts}
            if missing:
                raise errors.conflict("results_missing", f"还有 {len(missing)} 名学员未登记成绩，不能发布",
                                      {"enrollment_ids": sorted(str(m) for m in missing)})
            if not drafts:
                raise errors.conflict("nothing_to_publish", "该班次没有待发布的成绩")
            await self.results.update_many(
                {"_id": {"$in": [d["_id"] for d in drafts]}, "status": "draft"},
                {"$set": {"status": "published", "published_at": now, "published_by": reviewer.account_id,
                          "updated_at": now}}, session=s)
            await self.enrollments.give_verdicts({d["enrollment_id"]: d["verdict"] for d in drafts}, s=s)
            for d in drafts:  # the outbox is the job queue: the messages commit with the publish
                await enqueue_notification(
                    self.jobs, d["trainee_id"], PUBLISHED_KIND,
                    f"您参加的「{d['course_name']}」（{d['session_code']}）考试成绩已发布：{VERDICT_LABELS[d['verdict']]}",
                    {"session_id": str(session["_id"]), "enrollment_id": str(d["enrollment_id"]),
                     "verdict": d["verdict"], "verdict_label": VERDICT_LABELS[d["verdict"]],
                     "course_name": d["course_name"]},
                    dedupe_key=f"{PUBLISHED_KIND}:{d['_id']}", session=s)
            return drafts

        drafts = await in_transaction(self.db, work)
        counts = {v: sum(d["verdict"] == v for d in drafts) for v in VERDICT_LABELS}
        await self.audit.record("results.publish", actor_id=reviewer.account_id, actor_role=reviewer.role,
                                subject=session["code"], subject_id=session["_id"], ip=ip,
                                details={"published": len(drafts), **counts})
        return PublishOut(published=len(drafts), **counts)

    # ---- trainees and units: published results only ---------------------------------------------

    async def list_visible(
        self, principal: Principal, *, session_id: str | None, skip: int, limit: int,
    ) -> tuple[list[ResultOut], int]:
        """Published results the caller may see: a trainee's own, a unit's staff's; newest first."""
        key = "trainee_id" if principal.role == "trainee" else "unit_id"
        query: dict[str, Any] = {key: principal.account_id, "status": "published"}
        if session_id:
            query["session_id"] = ObjectId(session_id)
        total = await self.results.count_documents(query)
        docs = await self.results.find(query).sort("published_at", -1).skip(skip).limit(limit).to_list()
        return await self._shown(docs), total

    async def published_for(self, enrollment_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        """Published results of these enrollments, by enrollment (the certificates area reads them)."""
        docs = await self.results.find({"enrollment_id": {"$in": enrollment_ids}, "status": "published"}).to_list()
        return {d["enrollment_id"]: d for d in docs}

    async def passed_in_session(self, session_id: ObjectId) -> list[dict[str, Any]]:
        """The published 合格 results of a session, oldest enrollment first (for certificates)."""
        return await self.results.find(
            {"session_id": session_id, "status": "published", "verdict": "passed"}).sort("_id", 1).to_list()

    # ---- the rights of the person (services/privacy) ------------------------------------------

    async def of_trainee(self, trainee_id: ObjectId) -> list[dict[str, Any]]:
        """Every result of the trainee (for the data export)."""
        return await self.results.find({"trainee_id": trainee_id}, {"entered_by": 0}).to_list()

    async def anonymize(self, trainee_id: ObjectId, *, at: datetime, session: AsyncClientSession | None) -> None:
        """Keep the record (the association keeps results), drop what names the person: correction
        reasons may name them."""
        await self.results.update_many(
            {"trainee_id": trainee_id}, {"$set": {"corrections.$[].reason": "（已注销）", "anonymized_at": at}},
            session=session)

    # ---- shown --------------------------------------------------------------------------------

    async def _people(self, trainee_ids: list[ObjectId]) -> dict[ObjectId, tuple[str, str | None]]:
        accounts = await self.accounts.find({"_id": {"$in": trainee_ids}}, {"name": 1, "trainee": 1}).to_list()
        return {a["_id"]: (a.get("name") or "", id_masked_of(self.cipher, a.get("trainee") or {})) for a in accounts}

    async def attendance(self, session: dict[str, Any], enrollment_ids: list[ObjectId]) -> dict[ObjectId, AttendanceOut]:
        """Each enrollment's attendance in ``session``: training days checked in (from the passes area)
        of the session's training days."""
        total = training_days(session)
        days = await self.checkins.days_attended(enrollment_ids)
        return {e: AttendanceOut.of(days.get(e, 0), total) for e in enrollment_ids}

    async def _shown(self, docs: list[dict[str, Any]]) -> list[ResultOut]:
        people = await self._people([d["trainee_id"] for d in docs])
        attendance: dict[ObjectId, AttendanceOut] = {}
        for session_id in {d["session_id"] for d in docs}:
            session = await self.catalog.get_session(session_id)
            attendance |= await self.attendance(session, [d["enrollment_id"] for d in docs if d["session_id"] == session_id])
        return [self._out(d, people, attendance.get(d["enrollment_id"])) for d in docs]

    @staticmethod
    def _out(doc: dict[str, Any], people: dict[ObjectId, tuple[str, str | None]],
             attendance: AttendanceOut | None) -> ResultOut:
        name, masked = people.get(doc["trainee_id"], ("", None))
        return ResultOut.from_doc({**doc, "name": name, "id_masked": masked, "attendance": attendance})
