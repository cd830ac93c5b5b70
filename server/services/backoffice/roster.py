"""A session's enrollments for association staff (报名管理): the list and its Excel export.

Reads enrollments (index ``session_status``), the people and units named in them (accounts), and
the session. ID numbers are masked, computed from the decrypted value as every list does
(:func:`id_masked_of`); the export is masked the same way (as the payments and attendance exports)
and every download is audited (``session.enrollments_export``).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.documents.roster_xlsx import RosterSheetRow, render_roster
from server.models.enrollments import EnrollmentStatus, MyStatusOut
from server.models.roster import (
    CheckinConflictOut,
    CheckinConflictPage,
    SessionEnrollmentFilter,
    SessionEnrollmentPage,
    SessionEnrollmentQuery,
    SessionEnrollmentRow,
    SessionEnrollmentUnit,
)
from server.services import Principal
from server.services.accounts.personal import id_masked_of
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.catalog.catalog import CatalogService
from server.services.cpu import CpuRunner
from server.services.pii import FieldCipher

EXPORT_MAX_ROWS = 20_000  # far above a session's capacity; a bound, not a limit anyone meets


class SessionRoster:
    """List and export the enrollments of one session."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, catalog: CatalogService, cipher: FieldCipher,
                 audit: AuditLog, run_cpu: CpuRunner) -> None:
        self.enrollments = db["enrollments"]
        self.conflicts = db["checkin_conflicts"]
        self.accounts = AccountRepository(db)
        self.catalog = catalog
        self.cipher = cipher
        self.audit = audit
        self.run_cpu = run_cpu

    async def page(self, session_id: str, query: SessionEnrollmentQuery) -> SessionEnrollmentPage:
        """One page of the session's enrollments (enrollment order), with counts by status and the units."""
        session = await self.catalog.get_session(session_id)
        where = _filter(session["_id"], query)
        total = await self.enrollments.count_documents(where)
        docs = await self.enrollments.find(where).sort([("created_at", 1), ("_id", 1)]) \
            .skip(query.skip).limit(query.page_size).to_list()
        by_status = {row["_id"]: row["n"] async for row in await self.enrollments.aggregate([
            {"$match": {"session_id": session["_id"]}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}])}
        unit_counts = {row["_id"]: row["n"] async for row in await self.enrollments.aggregate([
            {"$match": {"session_id": session["_id"], "unit_id": {"$type": "objectId"}}},
            {"$group": {"_id": "$unit_id", "n": {"$sum": 1}}}])}
        people = await self._people({d["trainee_id"] for d in docs} | set(unit_counts))
        units = sorted((SessionEnrollmentUnit(id=str(u), name=people.get(u, {}).get("name", ""), count=n)
                        for u, n in unit_counts.items()), key=lambda u: u.name)
        return SessionEnrollmentPage(items=[self._row(d, people) for d in docs], total=total, by_status=by_status, units=units)

    async def export(self, principal: Principal, session_id: str, query: SessionEnrollmentFilter, *,
                     ip: str | None) -> tuple[str, str, bytes]:
        """The session's enrollments (filtered) as xlsx, masked; audited ``session.enrollments_export``."""
        session = await self.catalog.get_session(session_id)
        docs = await self.enrollments.find(_filter(session["_id"], query)) \
            .sort([("created_at", 1), ("_id", 1)]).to_list(EXPORT_MAX_ROWS)
        people = await self._people({d["trainee_id"] for d in docs} | {d["unit_id"] for d in docs if d.get("unit_id")})
        rows = [RosterSheetRow.of(self._row(d, people)) for d in docs]
        await self.audit.record(
            "session.enrollments_export", actor_id=principal.account_id, actor_role=principal.role,
            subject=f"session:{session['code']}", subject_id=session["_id"], ip=ip,
            details={"rows": len(rows), **query.model_dump(mode="json", exclude_defaults=True)})
        title = f"{session.get('course_name', '')}（{session['code']} {session.get('round', '')}）"
        return await self.run_cpu(render_roster, title, session["code"], rows)  # type: ignore[no-any-return]

    async def conflicts_of(self, session_id: str, day: str | None) -> CheckinConflictPage:
        """The check-in conflicts of a session (one day, or all), by time."""
        session = await self.catalog.get_session(session_id)
        where: dict[str, Any] = {"session_id": session["_id"]}
        if day is not None:
            where["day"] = day
        docs = await self.conflicts.find(where).sort([("day", 1), ("at", 1)]).to_list(1000)
        people = await self._people({d["trainee_id"] for d in docs if d.get("trainee_id")})
        return CheckinConflictPage(items=[CheckinConflictOut(
            id=str(d["_id"]), day=d["day"], serial=d.get("serial", ""),
            name=people.get(d.get("trainee_id"), {}).get("name", "已注销"),
            id_masked=id_masked_of(self.cipher, people.get(d.get("trainee_id"), {}).get("trainee") or {}),
            at=d["at"], device_id=d.get("device_id", ""), first_at=d["first_at"], first_device=d.get("first_device"),
        ) for d in docs])

    async def _people(self, ids: set[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        found = self.accounts.find({"_id": {"$in": list(ids)}}, {"name": 1, "role": 1, "trainee.id_number": 1},
                                   include_pending=True)
        return {a["_id"]: a async for a in found}

    def _row(self, doc: dict[str, Any], people: dict[ObjectId, dict[str, Any]]) -> SessionEnrollmentRow:
        person = people.get(doc["trainee_id"], {})
        unit_id = doc.get("unit_id")
        return SessionEnrollmentRow(
            id=str(doc["_id"]), trainee_id=str(doc["trainee_id"]), name=person.get("name", ""),
            id_masked=id_masked_of(self.cipher, person.get("trainee") or {}),
            unit_id=str(unit_id) if unit_id else None,
            unit_name=people.get(unit_id, {}).get("name", "") if unit_id else None,
            status=MyStatusOut.of(doc["status"]), fee_fen=doc["fee_fen"],
            pay_by=doc.get("pay_by") if doc["status"] == EnrollmentStatus.pending_payment else None,
            created_at=doc["created_at"], created_by_role=(doc.get("created_by") or {}).get("role", ""),
        )


def _filter(session_id: ObjectId, query: SessionEnrollmentFilter) -> dict[str, Any]:
    where: dict[str, Any] = {"session_id": session_id}
    if query.status is not None:
        where["status"] = str(query.status)
    if query.no_unit:
        where["unit_id"] = None
    elif query.unit_id is not None:
        where["unit_id"] = ObjectId(query.unit_id)
    return where

