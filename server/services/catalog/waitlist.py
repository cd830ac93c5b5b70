"""The waitlist (beyond the manual): a full session's freed seat goes to the first in line.

Joining inserts a ``waiting`` entry and records its place in the session's ``waiting`` (one
transaction); a newcomer may only take a seat beyond those owed to the people in line (the seat
ledger counts ``waiting``), so a seat freed while people wait is never taken by someone who just
arrived.

The hand-off is one step: in one transaction the first ``waiting`` entry (oldest first) gets a
held seat (its id moves from ``waiting`` to ``held_for`` in the ledger) and becomes ``offered``.
Callers that free a seat (cancel, expiry, a lapsed or withdrawn offer) run it inside their own
transaction, so a freed seat is never left free while someone waits; two seats freed at once go
to the first two in line, in order (the second transaction conflicts on the same documents and is
retried after the first). The trainee (and the unit that put them in line) is notified after the
commit. The offer lasts 48 hours but never beyond the enrollment window; no seat is held once the
window has closed. The trainee then enrolls as usual and the held seat becomes theirs; an offer
that lapses releases the hold, which passes to the next in line. A trainee who enrolls in the
course leaves every line of that course.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.audit import AuditLog
from server.services.batching import matches_batcher
from server.services.catalog.seats import SeatLedger, in_transaction, seats_left
from server.services.catalog.window import check_enrollment_open, enrollment_closes_at
from server.services.ids import parse_object_id
from server.services.jobs.notify import enqueue_notification
from server.services.jobs.queue import JobQueue

log = logging.getLogger(__name__)

OFFER_LIFETIME = timedelta(hours=48)
LINE_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]

# An offer made in a transaction, announced after its commit: (the offered entry, the session after the hold).
Offer = tuple[dict[str, Any], dict[str, Any]]


class WaitlistService:
    """Join the line, hand freed seats to the first in line, lapse unused offers."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        seats: SeatLedger,
        jobs: JobQueue,
        audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.entries = db["waitlist"]
        self.enrollments = db["enrollments"]
        # "In line for this course?", asked after every enrollment: those of the same moment share a query.
        self._in_line = matches_batcher(self.entries, by="trainee_id", within="course_id",
                                        where={"status": {"$in": ["waiting", "offered"]}}, projection={"_id": 1},
                                        name="waitlist places in a course")
        self.seats = seats
        self.jobs = jobs  # notifications go through the outbox: a failing notifier never fails an action
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    # ---- joining and leaving ------------------------------------------------------------

    async def join(self, session: dict[str, Any], trainee_id: ObjectId, *, by: Principal) -> dict[str, Any]:
        """Put the trainee in line for a full session (once; not when already enrolled in the course)."""
        check_enrollment_open(session, self.now().astimezone(SHANGHAI).date())
        if seats_left(session) > 0:
            raise errors.conflict("seats_available", "该班次尚有名额，请直接报名")
        if await self.enrollments.count_documents(
            {"trainee_id": trainee_id, "course_id": session["course_id"], "active": True}
        ):
            raise errors.conflict("already_enrolled", "该学员已报名此课程")
        entry = {
            "_id": ObjectId(), "session_id": session["_id"], "course_id": session["course_id"],
            "trainee_id": trainee_id, "created_by": {"account_id": by.account_id, "role": by.role},
            "status": "waiting", "active": True, "created_at": self.now(),
        }

        async def work(s: AsyncClientSession) -> list[Offer]:
            await self.entries.insert_one(entry, session=s)
            await self.seats.join_line(session["_id"], entry["_id"], s=s)
            # A seat freed between our look at the session and our joining goes to the line now.
            return await self.hand_off(session["_id"], s=s)

        try:
            offers = await in_transaction(self.db, work)
        except DuplicateKeyError:
            raise errors.conflict("already_waitlisted", "该学员已在候补名单中") from None
        await self.audit.record("waitlist.join", actor_id=by.account_id, actor_role=by.role, subject_id=entry["_id"])
        await self.announce(offers)
        return await self.entries.find_one({"_id": entry["_id"]}) or entry

    async def of_trainee(self, trainee_id: ObjectId) -> list[dict[str, Any]]:
        """Every waitlist entry of the trainee, as stored (for the data export)."""
        return await self.entries.find({"trainee_id": trainee_id}).to_list()

    async def leave_all(self, trainee_ids: list[ObjectId]) -> None:
        """Take these people out of every line (deleted accounts): no seat is held or offered for them."""
        entries = await self.entries.find(
            {"trainee_id": {"$in": trainee_ids}, "status": {"$in": ["waiting", "offered"]}},
            {"trainee_id": 1, "course_id": 1}).to_list()
        for pair in {(e["trainee_id"], e["course_id"]) for e in entries}:
            await self.leave_course(*pair)

    async def mine(self, principal: Principal) -> list[dict[str, Any]]:
        """The caller's places in line still open (waiting or offered), oldest first, with the session's
        code and course name and the place (``position``; 0 once offered).

        A trainee sees their own; a unit those it put in line for its staff.
        """
        entries = await self.entries.find(
            {**_owner_query(principal), "status": {"$in": ["waiting", "offered"]}}).sort(LINE_ORDER).to_list()
        sessions = {s["_id"]: s async for s in self.db["sessions"].find(
            {"_id": {"$in": list({e["session_id"] for e in entries})}}, {"code": 1, "course_name": 1})}
        for entry in entries:
            session = sessions.get(entry["session_id"], {})
            entry["session_code"], entry["course_name"] = session.get("code"), session.get("course_name")
            entry["position"] = await self.position(entry) if entry["status"] == "waiting" else 0
        return entries

    async def leave(self, principal: Principal, entry_id: str, *, ip: str | None = None) -> dict[str, Any]:
        """Leave a line (the trainee, or the unit that put them in it): a waiting place is given up; an
        offer's held seat goes to the next in line in the same transaction. Exactly once: a second
        leave, or one racing it, is 409 ``waitlist_closed``; another's entry is 404."""
        oid = parse_object_id(entry_id, "候补记录不存在")
        entry = await self.entries.find_one({"_id": oid, **_owner_query(principal)})
        if entry is None:
            raise errors.not_found("候补记录不存在")
        left, offers = await in_transaction(self.db, lambda s: self._withdraw(oid, s))
        if not left:
            raise errors.conflict("waitlist_closed", "该候补已结束（已退出、已报名或保留已过期），无需再退出")
        await self.audit.record("waitlist.leave", actor_id=principal.account_id, actor_role=principal.role,
                                subject_id=oid, ip=ip)
        await self.announce(offers)
        return await self.entries.find_one({"_id": oid}) or entry

    async def position(self, entry: dict[str, Any]) -> int:
        """1 for the first in line."""
        ahead = await self.entries.count_documents(
            {"session_id": entry["session_id"], "status": "waiting", "created_at": {"$lt": entry["created_at"]}})
        return ahead + 1

    async def leave_course(self, trainee_id: ObjectId, course_id: ObjectId) -> int:
        """The trainee enrolled in the course: drop their places and offers in its lines; how many."""
        dropped = 0
        for entry in await self._in_line((trainee_id, course_id)):
            left, offers = await in_transaction(self.db, lambda s, e=entry: self._withdraw(e["_id"], s))
            await self.announce(offers)
            dropped += left
        return dropped

    async def _withdraw(self, entry_id: ObjectId, s: AsyncClientSession) -> tuple[bool, list[Offer]]:
        """Take a waiting or offered entry out of line; an offer's seat goes to the next in line at once."""
        left = await self.entries.find_one_and_update(
            {"_id": entry_id, "status": {"$in": ["waiting", "offered"]}},
            {"$set": {"status": "withdrawn", "withdrawn_at": self.now()}, "$unset": {"active": ""}}, session=s)
        if left is None:
            return False, []
        if left["status"] == "waiting":
            await self.seats.leave_line(left["session_id"], entry_id, s=s)
            return True, []
        await self.seats.release_hold(left["session_id"], entry_id, s=s)
        return True, await self.hand_off(left["session_id"], s=s)

    # ---- the hand-off ---------------------------------------------------------------------

    async def offer_next(self, session_id: ObjectId) -> int:
        """Hand each free seat of the session to the first in line (its own transaction); offers made."""
        offers = await in_transaction(self.db, lambda s: self.hand_off(session_id, s=s))
        await self.announce(offers)
        return len(offers)

    async def hand_off(self, session_id: ObjectId, *, s: AsyncClientSession) -> list[Offer]:
        """Inside the caller's transaction: hold each free seat for the first in line and offer it.

        Stops at the first hold refused (no free seat, window closed): nothing of that step is
        written. Entries whose trainee enrolled in the course meanwhile leave the line on the way.
        Call :meth:`announce` with the result after the commit.
        """
        offers: list[Offer] = []
        today = self.now().astimezone(SHANGHAI).date()
        while True:
            head = await self.entries.find_one({"session_id": session_id, "status": "waiting"},
                                               sort=LINE_ORDER, session=s)
            if head is None:
                return offers
            if await self._enrolled_in_course(head, s):
                await self._drop_enrolled(head, s)
                continue
            session = await self.seats.hold(session_id, head["_id"], today, s=s)
            if session is None:
                return offers
            until = min(self.now() + OFFER_LIFETIME, enrollment_closes_at(session))
            offered = await self.entries.find_one_and_update(
                {"_id": head["_id"], "status": "waiting"},
                {"$set": {"status": "offered", "offered_at": self.now(), "offer_until": until}},
                return_document=ReturnDocument.AFTER, session=s)
            if offered is None:  # only outside a snapshot; abort rather than hold a seat for nobody
                raise RuntimeError(f"waitlist entry {head['_id']} left the line during its hand-off")
            offers.append((offered, session))

    async def _enrolled_in_course(self, entry: dict[str, Any], s: AsyncClientSession) -> bool:
        """Whether the entry's trainee enrolled in the course (racing their joining)."""
        return entry.get("course_id") is not None and bool(await self.enrollments.count_documents(
            {"trainee_id": entry["trainee_id"], "course_id": entry["course_id"], "active": True},
            limit=1, session=s))

    # ---- for the reconciler (reconcile.py rebuilds the session's line fields itself) ----------

    async def withdraw_enrolled(self, entry_id: ObjectId, *, s: AsyncClientSession) -> None:
        """Take an entry out of line because its trainee is enrolled in the course."""
        await self.entries.update_one({"_id": entry_id}, {
            "$set": {"status": "withdrawn", "withdrawn_at": self.now()}, "$unset": {"active": ""}}, session=s)

    async def put_back_in_line(self, entry_id: ObjectId, *, s: AsyncClientSession) -> None:
        """An entry whose offer holds no seat (or a half-made legacy offer) waits in line again."""
        await self.entries.update_one({"_id": entry_id}, {
            "$set": {"status": "waiting"}, "$unset": {"offered_at": "", "offer_until": "", "offering_at": ""}},
            session=s)

    async def _drop_enrolled(self, entry: dict[str, Any], s: AsyncClientSession) -> None:
        await self.entries.update_one(
            {"_id": entry["_id"], "status": "waiting"},
            {"$set": {"status": "withdrawn", "withdrawn_at": self.now()}, "$unset": {"active": ""}}, session=s)
        await self.seats.leave_line(entry["session_id"], entry["_id"], s=s)

    async def announce(self, offers: list[Offer]) -> None:
        """Tell each offered trainee (and unit) of their offer; only after the offers' commit."""
        for entry, session in offers:
            await self._offer(entry, session)

    async def _offer(self, offered: dict[str, Any], session: dict[str, Any]) -> None:
        """Notify an offer made: until 48 hours from then or the window's end, whichever is first."""
        until = offered["offer_until"]
        shown = until.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M")
        data = {"session_id": str(offered["session_id"]), "trainee_id": str(offered["trainee_id"]),
                "offer_until": until.isoformat()}
        await enqueue_notification(
            self.jobs, offered["trainee_id"], "waitlist_offer",
            f"您候补的班次 {session['code']} 有空位了，名额为您保留至 {shown}（北京时间），请尽快完成报名。", data,
            dedupe_key=f"waitlist_offer:{offered['_id']}:trainee")
        creator = offered.get("created_by") or {}
        if creator.get("role") == "unit":
            await enqueue_notification(
                self.jobs, creator["account_id"], "waitlist_offer",
                f"贵单位为员工候补的班次 {session['code']} 有空位了，名额保留至 {shown}（北京时间），请尽快为其完成报名。",
                data, dedupe_key=f"waitlist_offer:{offered['_id']}:unit")

    # ---- offers ---------------------------------------------------------------------------

    async def claim_offer(
        self, session_id: ObjectId, trainee_id: ObjectId, *, s: AsyncClientSession
    ) -> dict[str, Any] | None:
        """Inside the enrollment's transaction: the trainee's live offer for the session, now used."""
        return await self.entries.find_one_and_update(  # type: ignore[no-any-return]
            {"session_id": session_id, "trainee_id": trainee_id, "status": "offered",
             "offer_until": {"$gt": self.now()}},
            {"$set": {"status": "enrolled", "enrolled_at": self.now()}, "$unset": {"active": ""}}, session=s)

    async def lapse_offers(self) -> int:
        """Offers past their time release their seat to the next in line (safe in many processes)."""
        count = 0
        while True:
            lapsed, offers = await in_transaction(self.db, self._lapse_one)
            if not lapsed:
                return count
            count += 1
            await self.announce(offers)

    async def _lapse_one(self, s: AsyncClientSession) -> tuple[bool, list[Offer]]:
        lapsed = await self.entries.find_one_and_update(
            {"status": "offered", "offer_until": {"$lte": self.now()}},
            {"$set": {"status": "lapsed"}, "$unset": {"active": ""}}, session=s)
        if lapsed is None:
            return False, []
        await self.seats.release_hold(lapsed["session_id"], lapsed["_id"], s=s)
        return True, await self.hand_off(lapsed["session_id"], s=s)


def _owner_query(principal: Principal) -> dict[str, Any]:
    """Whose entries the caller holds: a trainee their own, a unit those it created."""
    if principal.role == "unit":
        return {"created_by.account_id": principal.account_id, "created_by.role": "unit"}
    return {"trainee_id": principal.account_id}
