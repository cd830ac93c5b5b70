"""Pass PDFs: one pass for its trainee or unit, or all of a unit's passes of one session.

Gathers what the page shows (masked ID number, unit, session facts, the ID photo) and renders it
with the pure renderer in the CPU executor. Passes are issued through :class:`PassService`.

A unit's download of up to ``INLINE_PAGES`` passes is answered at once; a larger one is a job
(``pass_pdf``) on the job runner: ``pass_pdf_jobs`` (owned here, same id as the job) holds its
progress (``done`` of ``total``) and, once done, the id of the PDF in the job files bucket, which
the job queue's purge removes about an hour later (the unit downloads it before).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from gridfs.errors import NoFile
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.config import Settings
from server.documents.attendance_xlsx import AttendanceRow, render_attendance
from server.documents.pass_pdf import CONTENT_TYPE, PassCard, render_passes
from server.models.enrollments import EnrollmentStatus
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.identity import SHANGHAI
from server.services.catalog.seats import in_transaction
from server.services.ids import parse_object_id
from server.services.jobs.queue import Job, JobQueue
from server.services.passes.passes import PassService
from server.services.profile.photos import PhotoService

MAX_PAGES = 600  # one unit's passes of one session; more is refused with a clear message
INLINE_PAGES = 60  # up to this many in the request (about 2 s here); more through the job runner
PDF_JOB_KIND = "pass_pdf"


class PassDocuments:
    """Build pass PDFs off the event loop."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, passes: PassService, accounts: AccountService,
                 photos: PhotoService, settings: Settings, run_cpu: Callable[..., Awaitable[Any]],
                 jobs: JobQueue) -> None:
        self.db = db
        self.progress = db["pass_pdf_jobs"]
        self.jobs = jobs
        self.accounts_coll = db["accounts"]  # read only
        self.sessions = db["sessions"]  # read only
        self.enrollments = db["enrollments"]  # read only
        self.passes = passes
        self.accounts = accounts
        self.photos = photos
        self.settings = settings
        self.run_cpu = run_cpu

    async def one(self, principal: Principal, enrollment_id: str) -> tuple[str, str, bytes]:
        """The pass PDF of one approved enrollment (its trainee, its unit, staff)."""
        enrollment = await self.passes.enrollment_for(principal, enrollment_id)
        pass_doc = await self.passes.ensure(enrollment)
        card = await self._card(pass_doc)
        return await self.run_cpu(self._render, [card], f"听课证-{pass_doc['serial']}.pdf")

    async def of_unit_session(self, unit: Principal, session_id: str) -> tuple[str, str, bytes]:
        """Every pass of the unit's approved enrollments in one session, one page each."""
        enrollments = await self._unit_enrollments(unit.account_id, parse_object_id(session_id, "班次不存在"))
        if len(enrollments) > INLINE_PAGES:
            raise errors.conflict("use_pass_job", f"超过 {INLINE_PAGES} 张听课证，请使用后台生成（POST /api/v1/unit/pass-jobs）")
        cards = [await self._card(await self.passes.ensure(e)) for e in enrollments]
        return await self.run_cpu(self._render, cards, f"听课证-{session_id}.pdf")

    async def _unit_enrollments(self, unit_id: ObjectId, session_id: ObjectId) -> list[dict[str, Any]]:
        enrollments = await self.enrollments.find(
            {"unit_id": unit_id, "session_id": session_id, "status": str(EnrollmentStatus.approved)}
        ).sort("created_at", 1).to_list(MAX_PAGES + 1)
        if not enrollments:
            raise errors.not_found("本单位在该班次没有审核通过的报名", "no_passes")
        if len(enrollments) > MAX_PAGES:
            raise errors.conflict("too_many_passes", f"一次最多下载 {MAX_PAGES} 张听课证")
        return enrollments

    # ---- large downloads on the job runner ---------------------------------------------------

    async def start_job(self, unit: Principal, session_id: str) -> dict[str, Any]:
        """Queue the PDF of all the unit's passes of a session; its progress document."""
        oid = parse_object_id(session_id, "班次不存在")
        total = len(await self._unit_enrollments(unit.account_id, oid))
        now = datetime.now(UTC)
        state = {"_id": ObjectId(), "unit_id": unit.account_id, "session_id": oid, "status": "running",
                 "total": total, "done": 0, "file_id": None, "created_at": now, "expires_at": now + timedelta(days=1)}

        async def both(s: AsyncClientSession) -> None:
            await self.progress.insert_one(state, session=s)
            await self.jobs.enqueue(PDF_JOB_KIND, {"unit_id": str(unit.account_id), "session_id": str(oid)},
                                    session=s, job_id=state["_id"])

        await in_transaction(self.db, both)
        return state

    async def run_job(self, job: Job) -> dict[str, Any]:
        """The ``pass_pdf`` job: cards with progress, the PDF rendered off the loop, stored for download."""
        state = await self.progress.find_one({"_id": job.id})
        if state is None or state["status"] == "done":
            return {"skipped": True}
        enrollments = await self._unit_enrollments(state["unit_id"], state["session_id"])
        cards = []
        for i, enrollment in enumerate(enrollments, 1):
            cards.append(await self._card(await self.passes.ensure(enrollment)))
            if i % 10 == 0:
                await self.progress.update_one({"_id": job.id}, {"$set": {"done": i, "total": len(enrollments)}})
        filename = f"听课证-{state['session_id']}.pdf"
        _, _, pdf = await self.run_cpu(self._render, cards, filename)
        file_id = await self.jobs.put_file(filename, pdf)
        await self.progress.update_one({"_id": job.id}, {"$set": {
            "status": "done", "done": len(cards), "total": len(cards), "file_id": file_id, "filename": filename}})
        return {"pages": len(cards)}

    async def job_state(self, unit: Principal, job_id: str) -> dict[str, Any]:
        """The progress of one of the unit's PDF jobs; 404 for anyone else's."""
        state = await self.progress.find_one({"_id": parse_object_id(job_id, "任务不存在"), "unit_id": unit.account_id})
        if state is None:
            raise errors.not_found("任务不存在")
        return state

    async def job_file(self, unit: Principal, job_id: str) -> tuple[str, str, bytes]:
        """The finished PDF of one of the unit's jobs (409 while running, 404 once purged)."""
        state = await self.job_state(unit, job_id)
        if state["status"] != "done" or state.get("file_id") is None:
            raise errors.conflict("job_running", "听课证仍在生成中，请稍后再下载")
        try:
            data = await self.jobs.read_file(state["file_id"])
        except NoFile:
            raise errors.not_found("文件已过期，请重新生成", "file_expired") from None
        return state.get("filename", "听课证.pdf"), CONTENT_TYPE, data

    async def attendance_xlsx(self, session_id: str, checkins: list[dict[str, Any]]) -> tuple[str, str, bytes]:
        """The session's check-ins as an xlsx (names and masked ID numbers; a deleted person shows as such)."""
        session = await self.sessions.find_one({"_id": parse_object_id(session_id, "班次不存在")})
        if session is None:
            raise errors.not_found("班次不存在")
        people: dict[Any, dict[str, Any]] = {}
        rows = []
        for c in checkins:
            key = c.get("trainee_id")
            if key not in people:
                people[key] = (await self.accounts_coll.find_one({"_id": key}) if key else None) or {}
            person = people[key]
            rows.append(AttendanceRow(
                day=c["day"], time=c["at"].astimezone(SHANGHAI).strftime("%H:%M:%S"),
                name=person.get("name", "已注销用户"),
                id_masked=self.accounts.account_masked(person) if person.get("trainee") else "已注销",
                unit=await self._unit_name(person) if person else "", serial=c["serial"],
                device=c.get("device_id", ""), source=c.get("source", "online")))
        return await self.run_cpu(render_attendance, session["code"], rows)

    def _render(self, cards: list[PassCard], filename: str) -> tuple[str, str, bytes]:
        return render_passes(cards, font_path=self.settings.pass_font, filename=filename)

    async def _card(self, pass_doc: dict[str, Any]) -> PassCard:
        trainee = await self.accounts_coll.find_one({"_id": pass_doc["trainee_id"]}) or {}
        session = await self.sessions.find_one({"_id": pass_doc["session_id"]}) or {}
        return PassCard(
            association=self.settings.association_name,
            name=trainee.get("name", ""),
            id_masked=self.accounts.account_masked(trainee) if trainee.get("trainee") else "",
            unit=await self._unit_name(trainee),
            course=session.get("course_name", ""),
            session=f"{session.get('code', '')} {session.get('round', '')}".strip(),
            days=f"{session.get('start_date', '')} 至 {session.get('end_date', '')}",
            venue=session.get("venue", ""),
            serial=pass_doc["serial"],
            token=pass_doc["token"],
            photo=await self.photos.read_file(trainee) if trainee else None,
        )

    async def _unit_name(self, trainee: dict[str, Any]) -> str:
        unit_id = (trainee.get("trainee") or {}).get("unit_id")
        if isinstance(unit_id, ObjectId):
            unit = await self.accounts_coll.find_one({"_id": unit_id}, {"name": 1})
            if unit is not None:
                return str(unit.get("name", ""))
        return str((trainee.get("trainee") or {}).get("company") or "个人")
