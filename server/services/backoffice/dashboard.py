"""The back office's home (工作台): a few indexed reads, one request.

- open sessions: the published ones (index ``status_created``), by training start; their seats
  come from the session documents themselves (the seat ledger keeps them there);
- payments waiting for review: a count and the oldest few (index ``queue_page``);
- today's check-ins (Beijing day): the sessions in training today, each with the check-in
  service's attendance counts (indexes ``session_status``, ``session_day``);
- failed and dead jobs: two counts (index ``status_run_at``).

Reads only; the parts a role may not see are not read at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.models.dashboard import (
    JobsPart,
    OfficeDashboardOut,
    OpenSessionOut,
    ReviewPart,
    TodayCheckinsOut,
    WaitingPaymentOut,
)
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.accounts.repository import AccountRepository
from server.services.catalog.seats import seats_left
from server.services.passes.checkins import CheckinService

OPEN_SESSIONS_SHOWN = 50
OLDEST_PAYMENTS_SHOWN = 5
PAYER_KINDS = {"trainee": "个人", "unit": "单位"}


class DashboardService:
    """Build the dashboard for one staff member's role."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, checkins: CheckinService,
                 today: Callable[[], date] = today_shanghai) -> None:
        self.sessions = db["sessions"]
        self.payments = db["payments"]
        self.jobs = db["jobs"]
        self.accounts = AccountRepository(db)
        self.checkins = checkins
        self.today = today

    async def build(self, viewer: Principal) -> OfficeDashboardOut:
        """The parts of the dashboard ``viewer``'s role may see (see the module notes)."""
        today = self.today()
        sees_office = viewer.role in ("admin", "reviewer")
        sessions, total = await self.open_sessions() if sees_office else (None, None)
        return OfficeDashboardOut(
            today=today, open_sessions=sessions, open_sessions_total=total,
            review=await self.review() if sees_office else None,
            checkins_today=await self.checkins_today(today),
            jobs=await self.failed_jobs() if viewer.role == "admin" else None,
        )

    async def open_sessions(self) -> tuple[list[OpenSessionOut], int]:
        """Published sessions by training start, with seats taken, held and waiting."""
        query = {"status": "published"}
        total = await self.sessions.count_documents(query)
        docs = await self.sessions.find(query).sort([("start_date", 1), ("_id", 1)]).to_list(OPEN_SESSIONS_SHOWN)
        return [OpenSessionOut(
            id=str(s["_id"]), code=s["code"], round=s.get("round", ""), course_name=s.get("course_name", ""),
            enroll_start=s["enroll_start"], enroll_end=s["enroll_end"], start_date=s["start_date"],
            end_date=s["end_date"], capacity=s["capacity"], seats_taken=s["seats_taken"],
            seats_held=len(s.get("held_for", [])), waitlist=len(s.get("waiting", [])), seats_left=seats_left(s),
        ) for s in docs], total

    async def review(self) -> ReviewPart:
        """How many payments wait for review, and the oldest few, oldest first."""
        query = {"status": "submitted"}
        waiting = await self.payments.count_documents(query)
        docs = await self.payments.find(
            query, {"reference": 1, "payer": 1, "lines": 1, "enrollment_ids": 1, "amount_fen": 1, "submitted_at": 1},
        ).sort([("submitted_at", 1), ("_id", 1)]).to_list(OLDEST_PAYMENTS_SHOWN)
        names = {a["_id"]: a.get("name", "") async for a in self.accounts.find(
            {"_id": {"$in": [d["payer"]["account_id"] for d in docs]}}, {"name": 1}, include_pending=True)}
        return ReviewPart(waiting=waiting, oldest=[WaitingPaymentOut(
            id=str(d["_id"]), reference=d.get("reference", ""), payer_name=names.get(d["payer"]["account_id"], ""),
            payer_kind=PAYER_KINDS.get(d["payer"]["role"], ""),
            people=len(d.get("lines") or d.get("enrollment_ids") or []), amount_fen=d["amount_fen"],
            submitted_at=d["submitted_at"],
        ) for d in docs])

    async def checkins_today(self, today: date) -> list[TodayCheckinsOut]:
        """The sessions in training today and their attendance so far."""
        day = today.isoformat()
        docs = await self.sessions.find(
            {"status": {"$in": ["published", "closed"]}, "start_date": {"$lte": day}, "end_date": {"$gte": day}},
            {"code": 1, "course_name": 1},
        ).sort([("code", 1)]).to_list(OPEN_SESSIONS_SHOWN)
        rows = []
        for s in docs:
            counts = await self.checkins.attendance(s["_id"], today)
            rows.append(TodayCheckinsOut(session_id=str(s["_id"]), code=s["code"],
                                         course_name=s.get("course_name", ""), **counts))
        return rows

    async def failed_jobs(self) -> JobsPart:
        """Jobs failed (waiting for a retry) and dead (no more retries)."""
        return JobsPart(failed=await self.jobs.count_documents({"status": "failed"}),
                        dead=await self.jobs.count_documents({"status": "dead"}))
