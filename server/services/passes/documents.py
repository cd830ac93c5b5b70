"""Pass PDFs: one pass for its trainee or unit, or all of a unit's passes of one session.

Gathers what the page shows (masked ID number, unit, session facts, the ID photo) and renders it
with the pure renderer in the CPU executor. Reads accounts and sessions; writes nothing itself
(passes are issued through :class:`PassService`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.config import Settings
from server.documents.attendance_xlsx import AttendanceRow, render_attendance
from server.documents.pass_pdf import PassCard, render_passes
from server.models.enrollments import EnrollmentStatus
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.identity import SHANGHAI
from server.services.ids import parse_object_id
from server.services.passes.passes import PassService
from server.services.profile.photos import PhotoService

MAX_PAGES = 600  # one unit's passes of one session; more is refused with a clear message


class PassDocuments:
    """Build pass PDFs off the event loop."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, passes: PassService, accounts: AccountService,
                 photos: PhotoService, settings: Settings, run_cpu: Callable[..., Awaitable[Any]]) -> None:
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
        oid = parse_object_id(session_id, "班次不存在")
        enrollments = await self.enrollments.find(
            {"unit_id": unit.account_id, "session_id": oid, "status": str(EnrollmentStatus.approved)}
        ).sort("created_at", 1).to_list(MAX_PAGES + 1)
        if not enrollments:
            raise errors.not_found("本单位在该班次没有审核通过的报名", "no_passes")
        if len(enrollments) > MAX_PAGES:
            raise errors.conflict("too_many_passes", f"一次最多下载 {MAX_PAGES} 张听课证")
        cards = [await self._card(await self.passes.ensure(e)) for e in enrollments]
        return await self.run_cpu(self._render, cards, f"听课证-{session_id}.pdf")

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
            association=self.settings.pass_association_name,
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
