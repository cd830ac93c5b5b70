"""Seat reconciliation: the ledger compared with the enrollments and the waitlist, and repaired.

Whatever caused a difference — a crash between the two writes of an enrollment, a failover, a
bug, a hand edit — the ledger of a session must say what the documents say:

- ``holders`` are exactly the enrollments of the session whose status holds a seat (待缴费, 待审核,
  通过, 驳回), and ``seats_taken`` is their number;
- ``held_for`` are exactly its ``offered`` waitlist entries, ``waiting`` its ``waiting`` ones;
- nobody stays in a line of a course they are enrolled in, and a free seat does not stay free
  while someone waits (it is handed to the first in line).

Each session is checked and repaired in one transaction, so its reads are one snapshot and a
change made meanwhile by anyone else conflicts and makes the check run again. The one exception
to "the documents win" is a seat whose enrollment does not exist yet: the hot path takes the seat
just before inserting the enrollment, so such a seat is only given back once its holder id (an
ObjectId, which tells its age) is a few minutes old. Every repair is logged in words an operator
can read, and recorded in the audit log (``seats.reconcile``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.models.enrollments import ACTIVE_STATUS_VALUES
from server.services.accounts.identity import SHANGHAI
from server.services.audit import AuditLog
from server.services.catalog.seats import SeatLedger, in_transaction
from server.services.catalog.waitlist import Offer, WaitlistService

if TYPE_CHECKING:  # the enrollment package builds on this one: no import at run time
    from server.services.enrollment.enrollments import EnrollmentService

log = logging.getLogger(__name__)

# Statuses of an enrollment that holds its seat (cancelled and expired ones gave it back).
SEAT_HOLDING = ACTIVE_STATUS_VALUES
IN_FLIGHT = timedelta(minutes=2)  # a seat taken by an enrollment not inserted yet, for at most this long
CHECKED_AFTER_END = timedelta(days=60)  # sessions ended longer ago than this are left alone
LEGACY_RESERVING = "reserving"  # the invisible first state of an enrollment before the ledger
LEGACY_OFFERING = "offering"  # the half-made offer of the waitlist before the one-step hand-off


class SeatReconciler:
    """Compare every live session's seats with its enrollments and waitlist; repair and log."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        seats: SeatLedger,
        waitlist: WaitlistService,
        enrollment_service: EnrollmentService,
        audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.sessions = db["sessions"]
        self.enrollments = db["enrollments"]
        self.entries = db["waitlist"]
        self.seats = seats
        self.waitlist = waitlist
        self.enrollment_service = enrollment_service  # the owner of ``enrollments``: its writes go there
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    async def reconcile(self) -> int:
        """Check and repair every session not ended long ago; the number of repairs (safe in many processes)."""
        cutoff = (self.now().astimezone(SHANGHAI) - CHECKED_AFTER_END).date().isoformat()
        repaired = 0
        async for session in self.sessions.find({"status": {"$ne": "draft"}, "end_date": {"$gte": cutoff}},
                                                {"_id": 1, "code": 1}):
            repaired += await self.reconcile_session(session["_id"])
        return repaired

    async def reconcile_session(self, session_id: ObjectId) -> int:
        """Check and repair one session in one transaction; the number of repairs."""
        fixes, offers, code = await in_transaction(self.db, lambda s: self._check(session_id, s))
        for fix in fixes:
            log.warning("seat reconciliation: session %s (%s): %s", code, session_id, fix)
        if fixes:
            await self.audit.record("seats.reconcile", actor_id=None, subject=code, subject_id=session_id,
                                    details={"repairs": fixes})
        await self.waitlist.announce(offers)
        return len(fixes)

    async def _check(self, session_id: ObjectId, s: AsyncClientSession) -> tuple[list[str], list[Offer], str]:
        session = await self.sessions.find_one({"_id": session_id}, session=s)
        if session is None:
            return [], [], "?"
        fixes: list[str] = []
        holders = await self._holders(session, fixes, s)
        held_for, waiting = await self._line(session, len(holders), fixes, s)
        if (set(holders) != set(session.get("holders", [])) or session["seats_taken"] != len(holders)
                or set(held_for) != set(session.get("held_for", []))
                or set(waiting) != set(session.get("waiting", []))):
            if session["seats_taken"] != len(holders):
                fixes.append(f"seats_taken {session['seats_taken']} → {len(holders)}")
            await self.seats.rewrite(session_id, holders=holders, held_for=held_for, waiting=waiting, s=s)
        offers: list[Offer] = []
        if waiting and len(holders) + len(held_for) < session["capacity"]:
            offers = await self.waitlist.hand_off(session_id, s=s)
            fixes.extend(f"free seat handed to waitlist entry {entry['_id']}" for entry, _ in offers)
        return fixes, offers, str(session.get("code", "?"))

    async def _holders(self, session: dict[str, Any], fixes: list[str], s: AsyncClientSession) -> list[ObjectId]:
        """The enrollments that hold a seat, in the ledger's order, repairing both ways."""
        statuses = {d["_id"]: d["status"] async for d in self.enrollments.find(
            {"session_id": session["_id"], "status": {"$in": [*SEAT_HOLDING, LEGACY_RESERVING]}},
            {"status": 1, "created_at": 1}, session=s)}
        ledger = list(dict.fromkeys(session.get("holders", [])))
        await self._settle_reserving(session, statuses, set(ledger), fixes, s)
        gone = [h for h in ledger if h not in statuses]
        known = {d["_id"]: d["status"] async for d in self.enrollments.find(
            {"_id": {"$in": gone}}, {"status": 1}, session=s)} if gone else {}
        young = self.now() - IN_FLIGHT
        holders = []
        for holder in ledger:
            if holder in statuses or (holder not in known and holder.generation_time > young):
                holders.append(holder)  # holds its seat, or an enrollment being inserted right now
            else:
                fixes.append(f"seat of enrollment {holder} released (its status: {known.get(holder, 'missing')})")
        for enrollment_id, status in statuses.items():
            if enrollment_id not in ledger:
                # The enrollment is the truth a person relies on: it gets its seat back, even past capacity.
                holders.append(enrollment_id)
                fixes.append(f"seat given back to enrollment {enrollment_id} ({status}) that had none")
        return holders

    async def _settle_reserving(
        self, session: dict[str, Any], statuses: dict[ObjectId, str], ledger: set[ObjectId], fixes: list[str],
        s: AsyncClientSession,
    ) -> None:
        """Enrollments left ``reserving`` by the design before the ledger: kept if seated, else dropped."""
        for enrollment_id in [e for e, status in statuses.items() if status == LEGACY_RESERVING]:
            del statuses[enrollment_id]
            if enrollment_id in ledger:
                await self.enrollment_service.settle_reserving(enrollment_id, seated_as=SEAT_HOLDING[0], s=s)
                statuses[enrollment_id] = SEAT_HOLDING[0]
                fixes.append(f"reservation {enrollment_id} with a seat became {SEAT_HOLDING[0]}")
            elif enrollment_id.generation_time <= self.now() - IN_FLIGHT:
                await self.enrollment_service.settle_reserving(enrollment_id, seated_as=None, s=s)
                fixes.append(f"reservation {enrollment_id} without a seat dropped")

    async def _line(
        self, session: dict[str, Any], taken: int, fixes: list[str], s: AsyncClientSession
    ) -> tuple[list[ObjectId], list[ObjectId]]:
        """``held_for`` (offered entries) and ``waiting`` (waiting entries) as the waitlist says, repaired."""
        entries = await self.entries.find(
            {"session_id": session["_id"], "status": {"$in": ["waiting", "offered", LEGACY_OFFERING]}},
            session=s).to_list()
        enrolled = await self._enrolled_in_course(session, entries, s)
        held_before = set(session.get("held_for", []))
        held_for: list[ObjectId] = []
        waiting: list[ObjectId] = []
        for entry in sorted(entries, key=lambda e: (e["created_at"], e["_id"])):
            if entry["trainee_id"] in enrolled:
                await self.waitlist.withdraw_enrolled(entry["_id"], s=s)
                fixes.append(f"waitlist entry {entry['_id']} ({entry['status']}) withdrawn: enrolled in the course")
            elif entry["status"] == "offered" and (entry["_id"] in held_before
                                                   or taken + len(held_for) < session["capacity"]):
                held_for.append(entry["_id"])
                if entry["_id"] not in held_before:
                    fixes.append(f"seat held again for the offer of waitlist entry {entry['_id']}")
            else:
                await self._back_in_line(entry, fixes, s)
                waiting.append(entry["_id"])
        for entry_id in held_before - set(held_for):
            fixes.append(f"seat held for waitlist entry {entry_id} released: no live offer")
        return held_for, waiting

    async def _back_in_line(self, entry: dict[str, Any], fixes: list[str], s: AsyncClientSession) -> None:
        """An entry that is not (or can no longer be) offered a seat waits in line."""
        if entry["status"] == "waiting":
            return
        await self.waitlist.put_back_in_line(entry["_id"], s=s)
        fixes.append(f"waitlist entry {entry['_id']} ({entry['status']}) without a held seat back in line")

    async def _enrolled_in_course(
        self, session: dict[str, Any], entries: list[dict[str, Any]], s: AsyncClientSession
    ) -> set[ObjectId]:
        if not entries:
            return set()
        trainees = [e["trainee_id"] for e in entries]
        return {d["trainee_id"] async for d in self.enrollments.find(
            {"course_id": session["course_id"], "trainee_id": {"$in": trainees}, "active": True},
            {"trainee_id": 1}, session=s)}
