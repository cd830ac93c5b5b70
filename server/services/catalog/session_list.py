"""The session list and detail everyone browses, with the caller's own status (审批状态).

Non-staff see published and closed sessions (closed ones keep showing the
trainee's result of past enrollments); drafts only exist for staff, in the
admin list. For a logged-in trainee, each row carries ``my_status``, read for
the whole page with one query on ``enrollments`` (shared by the pages asked at the same
moment: services/batching.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.catalog import SessionDetail, SessionListQuery, SessionPage, SessionRow, SessionStatus
from server.models.enrollments import ACTIVE_STATUS_VALUES, MyStatusOut
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.batching import Batcher
from server.services.catalog.catalog import CatalogService, enrollment_window_open, seats_left, text_filter

_MAX_CACHED_PAGES = 512
VISIBLE_STATUSES = (str(SessionStatus.published), str(SessionStatus.closed))
# Stored fields a row shows as they are (ids, fee text, window and my_status are computed).
_ROW_FIELDS = tuple(k for k in SessionRow.model_fields if k not in ("id", "course_id", "fee_yuan", "open_now", "my_status"))


class SessionListService:
    """Read-only views of the catalog for trainees, units and visitors."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, catalog: CatalogService,
        today: Callable[[], date] = today_shanghai, cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = db["sessions"]
        self.enrollments = db["enrollments"]
        self.catalog = catalog
        self.today = today
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._pages: dict[tuple[Any, ...], tuple[float, list[SessionRow], int]] = {}
        self._unapplied: dict[int, tuple[SessionRow, SessionRow]] = {}
        self._statuses = Batcher(self._statuses_of_many, name="my statuses of a page")

    async def list(self, query: SessionListQuery, *, viewer: Principal | None) -> SessionPage:
        """A page of visible sessions, newest first; ``my_status`` per row for a trainee."""
        rows, total = await self._page(query, self.today())
        statuses = await self._my_statuses(viewer, [ObjectId(r.id) for r in rows])
        if statuses is not None:
            # Most rows have no status of this trainee: those share one "not applied" copy per cached row.
            mine = [statuses[ObjectId(r.id)] for r in rows]
            rows = [r.model_copy(update={"my_status": MyStatusOut.of(status)}) if status is not None
                    else self._not_applied(r) for r, status in zip(rows, mine, strict=True)]
        return SessionPage(items=rows, total=total)

    def _not_applied(self, row: SessionRow) -> SessionRow:
        """The row with ``my_status`` "not applied", built once per cached row (rows are never mutated)."""
        copy = self._unapplied.get(id(row))
        if copy is None or copy[0] is not row:
            if len(self._unapplied) >= 4 * _MAX_CACHED_PAGES:
                self._unapplied.clear()
            copy = self._unapplied[id(row)] = (row, row.model_copy(update={"my_status": MyStatusOut.of(None)}))
        return copy[1]

    async def _page(self, query: SessionListQuery, today: date) -> tuple[list[SessionRow], int]:
        """The rows (without my_status) and total of a page, shared for ``cache_seconds``.

        Everyone reads the same pages; only my_status differs. A catalog change made
        through this process shows at once (the key holds the catalog's generation);
        one made by another process within ``cache_seconds``.
        """
        key = (self.catalog.generation, today, query.model_dump_json())
        hit = self._pages.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1], hit[2]
        mongo = self._filter(query, today)
        cursor = self.sessions.find(mongo).sort([("created_at", -1), ("_id", -1)])
        docs, total = await asyncio.gather(
            cursor.skip(query.skip).limit(query.page_size).to_list(), self.sessions.count_documents(mongo)
        )
        rows = [_row(d, today, None) for d in docs]
        if self.cache_seconds > 0:
            if len(self._pages) >= _MAX_CACHED_PAGES:
                self._pages.clear()
            self._pages[key] = (self.clock() + self.cache_seconds, rows, total)
        return rows, total

    async def detail(self, session_id: str, *, viewer: Principal | None) -> SessionDetail:
        """One visible session with seats left and the course facts (hours, pass mark, books)."""
        session = await self.catalog.get_session(session_id)
        if session["status"] not in VISIBLE_STATUSES:
            raise errors.not_found("班次不存在", "session_not_found")
        course = await self.catalog.get_course(session["course_id"])
        statuses = await self._my_statuses(viewer, [session["_id"]])
        row = _row(session, self.today(), statuses)
        return SessionDetail(
            **row.model_dump(), start_date=session["start_date"], end_date=session["end_date"],
            venue=session["venue"], capacity=session["capacity"],
            seats_left=seats_left(session),
            hours=course["hours"], pass_mark=course["pass_mark"], mails_books=course["mails_books"],
            min_attendance_percent=course.get("min_attendance_percent") or None,
        )

    def _filter(self, query: SessionListQuery, today: date) -> dict[str, Any]:
        mongo: dict[str, Any] = {"status": {"$in": list(VISIBLE_STATUSES)}, **text_filter(query.q, ("code", "course_name"))}
        if query.course_type:
            mongo["course_type"] = query.course_type
        if query.specialty:
            mongo["specialty"] = query.specialty
        if query.open_now:
            day = today.isoformat()
            mongo.update(status=str(SessionStatus.published), enroll_start={"$lte": day}, enroll_end={"$gte": day})
        return mongo

    async def _my_statuses(self, viewer: Principal | None, session_ids: list[ObjectId]) -> dict[ObjectId, str | None] | None:
        """The trainee's active enrollment status per session (one query); None for anyone else."""
        if viewer is None or viewer.role != "trainee":
            return None
        if not session_ids:
            return {}
        return await self._statuses((viewer.account_id, tuple(session_ids)))

    async def _statuses_of_many(
        self, asked: list[tuple[ObjectId, tuple[ObjectId, ...]]]
    ) -> list[dict[ObjectId, str | None]]:
        """The pages of the same moment (services/batching.py): one query for all their trainees and
        sessions, then each page gets its own trainee's statuses of its own sessions."""
        trainees = list(dict.fromkeys(trainee for trainee, _ in asked))
        sessions = list(dict.fromkeys(sid for _, ids in asked for sid in ids))
        found: dict[tuple[ObjectId, ObjectId], str] = {}
        async for enrollment in self.enrollments.find(
            {"trainee_id": {"$in": trainees}, "session_id": {"$in": sessions},
             "status": {"$in": list(ACTIVE_STATUS_VALUES)}},
            {"trainee_id": 1, "session_id": 1, "status": 1},
        ):
            found[(enrollment["trainee_id"], enrollment["session_id"])] = enrollment["status"]
        return [{sid: found.get((trainee, sid)) for sid in ids} for trainee, ids in asked]

def _row(doc: dict[str, Any], today: date, statuses: dict[ObjectId, str | None] | None) -> SessionRow:
    values = {k: doc[k] for k in _ROW_FIELDS if k in doc}
    return SessionRow(
        **values, id=str(doc["_id"]), course_id=str(doc["course_id"]),
        fee_yuan=f"{doc['fee_fen'] // 100}.{doc['fee_fen'] % 100:02d}",
        open_now=enrollment_window_open(doc, today),
        my_status=None if statuses is None else MyStatusOut.of(statuses.get(doc["_id"])),
    )
