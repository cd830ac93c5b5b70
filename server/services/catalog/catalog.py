"""Catalog: courses and their sessions, as association staff manage them.

Sessions carry a copy of the course fields the session list shows and filters
on (name, course type, activity type, specialty, mails_books): the list — the
most read page of the system — is then one indexed ``find`` with no ``$lookup``.
A course change refreshes the copies (``update_many``); a session created while
its course changes re-reads the course after its insert (``course_rev``), so a
copy is never left stale.

The seats of a session belong to the seat ledger (:mod:`seats`); here they are
only read, and guard capacity changes: the capacity never drops below the seats
taken and held. A capacity raised while people wait hands the new seats to the
waitlist (``hand_off``, wired at start-up: catalog and waitlist do not import
each other).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.models.catalog import (
    SESSION_DATE_FIELDS,
    CourseCreate,
    CourseUpdate,
    SessionCreate,
    SessionStatus,
    SessionUpdate,
    date_order_problem,
)
from server.services import Principal
from server.services.accounts.identity import SHANGHAI, today_shanghai
from server.services.audit import AuditLog
from server.services.catalog.seats import HELD_SEATS, WAITING, SeatLedger, committed_seats, seats_left
from server.services.catalog.window import (
    check_enrollment_open,
    enrollment_closes_at,
    enrollment_window_open,
    training_started,
)
from server.services.ids import parse_object_id

__all__ = [  # the window and seat helpers others import from here
    "HELD_SEATS", "SHANGHAI", "WAITING", "CatalogService", "check_enrollment_open", "enrollment_closes_at",
    "enrollment_window_open", "seats_left", "today_shanghai", "training_started",
]

# The course fields copied into each session (the list shows and filters on them).
COURSE_COPY = {"name": "course_name", "course_type": "course_type", "activity_type": "activity_type",
               "specialty": "specialty", "mails_books": "mails_books"}
_UPDATE_TRIES = 5


def text_filter(q: str | None, fields: tuple[str, ...]) -> dict[str, Any]:
    """A case-insensitive substring match of ``q`` over ``fields`` (empty: no filter)."""
    if not q:
        return {}
    pattern = {"$regex": re.escape(q), "$options": "i"}
    return {"$or": [{f: pattern} for f in fields]}


class CatalogService:
    """Courses and sessions: staff CRUD, status transitions, and lookups for other areas."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        audit: AuditLog,
        hand_off: Callable[[ObjectId], Awaitable[Any]] | None = None,
        now: Callable[[], datetime] | None = None,
        today: Callable[[], date] = today_shanghai,
    ) -> None:
        self.courses = db["courses"]
        self.sessions = db["sessions"]
        self.audit = audit
        self.hand_off = hand_off
        self.now = now or (lambda: datetime.now(UTC))
        self.today = today
        # Bumped by every change made through this service: readers key their caches on it.
        self.generation = 0

    # ---- lookups ------------------------------------------------------------------------

    async def get_course(self, course_id: str | ObjectId) -> dict[str, Any]:
        """The stored course, or 404 ``course_not_found`` (also for a malformed id)."""
        return await _get_or_404(self.courses, course_id, "课程不存在", "course_not_found")

    async def get_session(self, session_id: str | ObjectId) -> dict[str, Any]:
        """The stored session, or 404 ``session_not_found`` (also for a malformed id)."""
        return await _get_or_404(self.sessions, session_id, "班次不存在", "session_not_found")

    # ---- courses --------------------------------------------------------------------------

    async def list_courses(
        self, *, q: str | None, archived: bool | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Courses, newest first, with the total for paging."""
        query = text_filter(q, ("name",))
        if archived is not None:
            query["archived"] = archived
        total = await self.courses.count_documents(query)
        cursor = self.courses.find(query).sort([("created_at", -1), ("_id", -1)]).skip(skip).limit(limit)
        return await cursor.to_list(), total

    async def create_course(self, body: CourseCreate, *, by: Principal, ip: str | None = None) -> dict[str, Any]:
        """A new course."""
        now = self.now()
        doc = {"_id": ObjectId(), **body.model_dump(), "archived": False, "rev": 0,
               "created_at": now, "updated_at": now, "created_by": by.account_id}
        await self.courses.insert_one(doc)
        await self._record("course.create", by, doc["name"], doc["_id"], ip)
        return doc

    async def update_course(
        self, course_id: str, body: CourseUpdate, *, by: Principal, ip: str | None = None
    ) -> dict[str, Any]:
        """Change a course; its sessions' copies of the course fields follow."""
        oid = parse_object_id(course_id, "课程不存在", "course_not_found")
        changes = body.model_dump(exclude_unset=True)
        course = await self.courses.find_one_and_update(
            {"_id": oid}, {"$set": {**changes, "updated_at": self.now()}, "$inc": {"rev": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if course is None:
            raise errors.not_found("课程不存在", "course_not_found")
        if any(field in COURSE_COPY for field in changes):
            await self._refresh_copies(course)
        await self._record("course.update", by, course["name"], oid, ip, {"fields": sorted(changes)})
        return course

    async def _refresh_copies(self, course: dict[str, Any]) -> None:
        # Guarded by the revision: an older refresh never overwrites a newer one.
        await self.sessions.update_many(
            {"course_id": course["_id"], "course_rev": {"$lt": course["rev"]}},
            {"$set": {**_course_copy(course), "course_rev": course["rev"]}},
        )

    # ---- sessions ------------------------------------------------------------------------------

    async def list_sessions(
        self, *, q: str | None, course_id: str | None, status: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Every session (drafts too), newest first, with the total for paging."""
        query = text_filter(q, ("code", "course_name"))
        if course_id is not None:
            query["course_id"] = parse_object_id(course_id, "课程不存在", "course_not_found")
        if status is not None:
            query["status"] = status
        total = await self.sessions.count_documents(query)
        cursor = self.sessions.find(query).sort([("created_at", -1), ("_id", -1)]).skip(skip).limit(limit)
        return await cursor.to_list(), total

    async def create_session(self, body: SessionCreate, *, by: Principal, ip: str | None = None) -> dict[str, Any]:
        """A new draft session of a course that is not archived; 409 when the code is taken."""
        course = await self._course_for_session(body.course_id)
        now = self.now()
        doc: dict[str, Any] = {
            "_id": ObjectId(), "course_id": course["_id"], **_stored(body.model_dump(exclude={"course_id"})),
            "seats_taken": 0, "status": str(SessionStatus.draft), **_course_copy(course),
            "course_rev": course["rev"], "created_at": now, "updated_at": now, "created_by": by.account_id,
        }
        try:
            await self.sessions.insert_one(doc)
        except DuplicateKeyError:
            raise _code_taken(doc["code"]) from None
        latest = await self.courses.find_one({"_id": course["_id"]})
        if latest is not None and latest["rev"] != course["rev"]:  # the course changed meanwhile
            await self._refresh_copies(latest)
            doc = await self.get_session(doc["_id"])
        await self._record("session.create", by, doc["code"], doc["_id"], ip, {"course_id": str(course["_id"])})
        return doc

    async def _course_for_session(self, course_id: str) -> dict[str, Any]:
        try:
            course = await self.get_course(course_id)
        except errors.AppError:
            raise errors.validation(fields={"course_id": "课程不存在"}) from None
        if course["archived"]:
            raise errors.conflict("course_archived", "该课程已归档，不能新建班次")
        return course

    async def update_session(
        self, session_id: str, body: SessionUpdate, *, by: Principal, ip: str | None = None
    ) -> dict[str, Any]:
        """Change a draft or published session.

        The dates are checked together with the stored ones, and the update only
        applies if those stored dates are still the ones checked; the capacity only
        if it stays at or above ``seats_taken`` (409 ``capacity_below_taken``).
        """
        changes = _stored(body.model_dump(exclude_unset=True))
        for _ in range(_UPDATE_TRIES):
            current = await self.get_session(session_id)
            guard = self._update_guard(current, changes)
            try:
                updated = await self.sessions.find_one_and_update(
                    guard, {"$set": {**changes, "updated_at": self.now()}}, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError:
                raise _code_taken(changes["code"]) from None
            if updated is not None:
                await self._record("session.update", by, updated["code"], updated["_id"], ip,
                                   {"fields": sorted(changes)})
                if self.hand_off is not None and {"capacity", "enroll_end"} & changes.keys():
                    # Seats added (or a window reopened) go to the people in line first; a no-op
                    # when nobody waits or no seat is free. Until then the ledger keeps newcomers
                    # off the seats owed to the people waiting.
                    await self.hand_off(updated["_id"])
                    updated = await self.get_session(updated["_id"])
                return updated
            await self._explain_refused_update(current["_id"], changes)
        raise errors.conflict("concurrent_update", "班次正在被他人修改，请稍后重试")

    def _update_guard(self, current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        if current["status"] == SessionStatus.closed:
            raise errors.conflict("session_closed", "班次已结束，不能修改")
        problem = date_order_problem({**current, **changes})
        if problem is not None:
            raise errors.validation(fields={problem.field: str(problem)})
        guard: dict[str, Any] = {"_id": current["_id"], "status": {"$ne": str(SessionStatus.closed)}}
        guard.update({k: current[k] for k in SESSION_DATE_FIELDS})
        if "capacity" in changes:
            # Seats held for the waitlist count as taken.
            guard.update(SeatLedger.capacity_guard(changes["capacity"]))
        return guard

    async def _explain_refused_update(self, oid: ObjectId, changes: dict[str, Any]) -> None:
        """Raise the reason a guarded update did not apply; return when it is worth retrying."""
        fresh = await self.get_session(oid)
        taken = committed_seats(fresh)
        if "capacity" in changes and taken > changes["capacity"]:
            raise errors.conflict(
                "capacity_below_taken", f"计划人数不能少于已报名人数（{taken}）", {"seats_taken": taken},
            )

    async def publish_session(self, session_id: str, *, by: Principal, ip: str | None = None) -> dict[str, Any]:
        """draft → published."""
        return await self._transition(session_id, SessionStatus.draft, SessionStatus.published, by, ip)

    async def close_session(self, session_id: str, *, by: Principal, ip: str | None = None) -> dict[str, Any]:
        """published → closed."""
        return await self._transition(session_id, SessionStatus.published, SessionStatus.closed, by, ip)

    async def _transition(
        self, session_id: str, source: SessionStatus, target: SessionStatus, by: Principal, ip: str | None
    ) -> dict[str, Any]:
        oid = parse_object_id(session_id, "班次不存在", "session_not_found")
        now = self.now()
        updated = await self.sessions.find_one_and_update(
            {"_id": oid, "status": str(source)},
            {"$set": {"status": str(target), f"{target}_at": now, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            current = await self.get_session(oid)
            raise errors.conflict(
                "session_status_conflict",
                f"班次当前状态为「{SessionStatus(current['status']).label}」，不能{_VERBS[target]}",
                {"status": current["status"]},
            )
        await self._record(f"session.{_ACTIONS[target]}", by, updated["code"], oid, ip)
        return updated

    async def _record(
        self, action: str, by: Principal, subject: str, subject_id: ObjectId, ip: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.generation += 1
        await self.audit.record(action, actor_id=by.account_id, actor_role=by.role, subject=subject,
                                subject_id=subject_id, ip=ip, details=details)


_VERBS = {SessionStatus.published: "发布", SessionStatus.closed: "结束"}
_ACTIONS = {SessionStatus.published: "publish", SessionStatus.closed: "close"}


def _course_copy(course: dict[str, Any]) -> dict[str, Any]:
    return {target: course[source] for source, target in COURSE_COPY.items()}


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """Dates are stored as ISO strings (Beijing calendar days), compared as strings."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _code_taken(code: str) -> errors.AppError:
    return errors.conflict("session_code_exists", f"班次编号 {code} 已存在", {"code": code})


async def _get_or_404(collection: Any, doc_id: str | ObjectId, message: str, code: str) -> dict[str, Any]:
    doc = await collection.find_one({"_id": parse_object_id(doc_id, message, code)})
    if doc is None:
        raise errors.not_found(message, code)
    return doc  # type: ignore[no-any-return]
