"""The waitlist (beyond the manual): a full session's freed seat goes to the first in line.

Joining inserts a ``waiting`` entry and pushes its id into the session's
``waiting``; a newcomer may only take a seat beyond those owed to the people in
line (the enrollment guard counts ``waiting``), so a seat freed while people
wait is never taken by someone who just arrived.

When a seat frees, the first waiting entry is claimed (``offering``), then one
guarded update of the session moves its id from ``waiting`` to ``held_for`` —
seats general enrollment may not take — and it is offered, with a notification
to the trainee (and to the unit that put them in line). The offer lasts 48 hours
but never beyond the enrollment window; no seat is held once the window has
closed. The trainee then enrolls as usual and the held seat becomes theirs; an
offer that lapses releases the hold, which passes to the next in line. A
trainee who enrolls in the course leaves every line of that course.

Each step is a guarded single-document transition, so several processes may
run the jobs at once, and because holds and places are entry ids (not counters)
every state a crash can leave is recognizable: :meth:`repair` finishes or undoes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.audit import AuditLog
from server.services.catalog.catalog import HELD_SEATS, check_enrollment_open, enrollment_closes_at, seats_left
from server.services.jobs.notify import enqueue_notification
from server.services.jobs.queue import JobQueue

log = logging.getLogger(__name__)

OFFER_LIFETIME = timedelta(hours=48)
STALE_STEP = timedelta(minutes=2)  # a claimed step not finished by then was cut short by a crash
IN_LINE = ("waiting", "offering")  # entries whose id belongs in the session's ``waiting`` (until held)


class WaitlistService:
    """Join the line, offer freed seats, lapse unused offers."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        jobs: JobQueue,
        audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.entries = db["waitlist"]
        self.sessions = db["sessions"]
        self.enrollments = db["enrollments"]
        self.jobs = jobs  # notifications go through the outbox: a failing notifier never fails an action
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    def _today_iso(self) -> str:
        return self.now().astimezone(SHANGHAI).date().isoformat()

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
        try:
            await self.entries.insert_one(entry)
        except DuplicateKeyError:
            raise errors.conflict("already_waitlisted", "该学员已在候补名单中") from None
        await self.sessions.update_one({"_id": session["_id"], "waiting": {"$ne": entry["_id"]}},
                                       {"$push": {"waiting": entry["_id"]}})
        await self.audit.record("waitlist.join", actor_id=by.account_id, actor_role=by.role, subject_id=entry["_id"])
        # A seat freed between our look at the session and our joining is offered now.
        await self.offer_next(session["_id"])
        return await self.entries.find_one({"_id": entry["_id"]}) or entry

    async def position(self, entry: dict[str, Any]) -> int:
        """1 for the first in line."""
        ahead = await self.entries.count_documents(
            {"session_id": entry["session_id"], "status": "waiting", "created_at": {"$lt": entry["created_at"]}})
        return ahead + 1

    async def leave_course(self, trainee_id: ObjectId, course_id: ObjectId) -> int:
        """The trainee enrolled in the course: drop their places and offers in its lines; how many."""
        dropped = 0
        async for entry in self.entries.find({"trainee_id": trainee_id, "course_id": course_id,
                                              "status": {"$in": ["waiting", "offered"]}}):
            left = await self._withdraw(entry)
            if left is not None and left["status"] == "offered":
                # An offer they can no longer use: its seat goes to the next in line now.
                await self._release_hold(left)
                await self.offer_next(left["session_id"])
            dropped += left is not None
        return dropped

    async def _withdraw(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """Take a waiting or offered entry out of line; the entry as it was, or None if it moved on."""
        left = await self.entries.find_one_and_update(
            {"_id": entry["_id"], "status": {"$in": ["waiting", "offered"]}},
            {"$set": {"status": "withdrawn", "withdrawn_at": self.now()}, "$unset": {"active": ""}},
        )
        if left is not None:
            await self.sessions.update_one({"_id": left["session_id"]}, {"$pull": {"waiting": left["_id"]}})
        return left

    # ---- offering -----------------------------------------------------------------------

    async def offer_next(self, session_id: ObjectId) -> None:
        """Hold each free seat for the first in line, while there are both and the window is open."""
        while True:
            entry = await self.entries.find_one_and_update(
                {"session_id": session_id, "status": "waiting"},
                {"$set": {"status": "offering", "offering_at": self.now()}},
                sort=[("created_at", ASCENDING)],
            )
            if entry is None:
                return
            if await self._enrolled_meanwhile(entry):
                continue
            session = await self._hold_a_seat(session_id, entry["_id"])
            if session is None:
                await self.entries.update_one({"_id": entry["_id"], "status": "offering"},
                                              {"$set": {"status": "waiting"}})
                return
            await self._offer(entry, session)

    async def _enrolled_meanwhile(self, entry: dict[str, Any]) -> bool:
        """An entry whose trainee enrolled in the course (racing their joining) leaves the line."""
        if entry.get("course_id") is None or not await self.enrollments.count_documents(
            {"trainee_id": entry["trainee_id"], "course_id": entry["course_id"], "active": True}, limit=1
        ):
            return False
        await self.entries.update_one(
            {"_id": entry["_id"], "status": "offering"},
            {"$set": {"status": "withdrawn", "withdrawn_at": self.now()}, "$unset": {"active": ""}})
        await self.sessions.update_one({"_id": entry["session_id"]}, {"$pull": {"waiting": entry["_id"]}})
        return True

    async def _hold_a_seat(self, session_id: ObjectId, entry_id: ObjectId) -> dict[str, Any] | None:
        """Move the entry from ``waiting`` to ``held_for`` if a seat is free and enrolling still open."""
        today = self._today_iso()
        return await self.sessions.find_one_and_update(
            {"_id": session_id, "status": "published", "held_for": {"$ne": entry_id},
             "enroll_start": {"$lte": today}, "enroll_end": {"$gte": today}, "start_date": {"$gt": today},
             "$expr": {"$lt": [{"$add": ["$seats_taken", HELD_SEATS]}, "$capacity"]}},
            {"$push": {"held_for": entry_id}, "$pull": {"waiting": entry_id}},
            return_document=ReturnDocument.AFTER,
        )

    async def _offer(self, entry: dict[str, Any], session: dict[str, Any]) -> None:
        """Make the offer of a held seat: until 48 hours from now or the window's end, whichever is first."""
        until = min(self.now() + OFFER_LIFETIME, enrollment_closes_at(session))
        offered = await self.entries.find_one_and_update(
            {"_id": entry["_id"], "status": "offering"},
            {"$set": {"status": "offered", "offered_at": self.now(), "offer_until": until}},
            return_document=ReturnDocument.AFTER,
        )
        if offered is None:
            return
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

    async def claim_offer(self, session_id: ObjectId, trainee_id: ObjectId) -> dict[str, Any] | None:
        """The trainee's live offer for the session, now used; None when there is none."""
        return await self.entries.find_one_and_update(
            {"session_id": session_id, "trainee_id": trainee_id, "status": "offered",
             "offer_until": {"$gt": self.now()}},
            {"$set": {"status": "enrolled", "enrolled_at": self.now()}, "$unset": {"active": ""}},
        )

    async def restore_offer(self, entry: dict[str, Any]) -> None:
        """Put back an offer whose enrollment failed after it was claimed."""
        await self.entries.update_one(
            {"_id": entry["_id"], "status": "enrolled"}, {"$set": {"status": "offered", "active": True}})

    async def lapse_offers(self) -> int:
        """Offers past their time release their seat to the next in line (safe in many processes)."""
        count = 0
        while True:
            lapsed = await self.entries.find_one_and_update(
                {"status": "offered", "offer_until": {"$lte": self.now()}},
                {"$set": {"status": "lapsed"}, "$unset": {"active": ""}},
            )
            if lapsed is None:
                return count
            count += 1
            await self._release_hold(lapsed)
            await self.offer_next(lapsed["session_id"])

    async def _release_hold(self, entry: dict[str, Any]) -> None:
        await self.sessions.update_one(
            {"_id": entry["session_id"], "held_for": entry["_id"]}, {"$pull": {"held_for": entry["_id"]}})

    # ---- repair -------------------------------------------------------------------------

    async def repair(self) -> int:
        """Finish or undo what a crash left half done; only steps older than a few minutes."""
        stale = self.now() - STALE_STEP
        fixed = await self._repair_claims(stale) + await self._repair_holds(stale) + await self._repair_places(stale)
        # A seat freed by a step cut short before its offer: offer it now.
        open_sessions = {"waiting.0": {"$exists": True}, "status": "published", "enroll_end": {"$gte": self._today_iso()}}
        async for session in self.sessions.find(open_sessions, {"_id": 1}):
            await self.offer_next(session["_id"])
        return fixed

    async def _repair_claims(self, stale: datetime) -> int:
        """Entries claimed for an offer long ago: offer if their seat was held, else back in line."""
        fixed = 0
        async for entry in self.entries.find({"status": "offering", "offering_at": {"$lt": stale}}):
            session = await self.sessions.find_one({"_id": entry["session_id"], "held_for": entry["_id"]})
            if session is not None:
                await self._offer(entry, session)
            else:
                await self.entries.update_one({"_id": entry["_id"], "status": "offering"},
                                              {"$set": {"status": "waiting"}})
            fixed += 1
        return fixed

    async def _repair_holds(self, stale: datetime) -> int:
        """A hold whose entry is no longer offered (used, lapsed, withdrawn) goes back."""
        fixed = 0
        async for session in self.sessions.find({"held_for.0": {"$exists": True}}, {"held_for": 1}):
            for entry_id in session["held_for"]:
                entry = await self.entries.find_one({"_id": entry_id})
                if entry is None or (entry["status"] not in ("offering", "offered")
                                     and entry.get("enrolled_at", stale) <= stale):
                    await self._release_hold({"_id": entry_id, "session_id": session["_id"]})
                    fixed += 1
        return fixed

    async def _repair_places(self, stale: datetime) -> int:
        """``waiting`` lists exactly the entries in line: drop ids that left, add ids a crash missed."""
        fixed = 0
        async for session in self.sessions.find({"waiting.0": {"$exists": True}}, {"waiting": 1}):
            for entry_id in session["waiting"]:
                entry = await self.entries.find_one({"_id": entry_id}, {"status": 1})
                if entry is None or entry["status"] not in IN_LINE:
                    await self.sessions.update_one({"_id": session["_id"]}, {"$pull": {"waiting": entry_id}})
                    fixed += 1
        async for entry in self.entries.find({"status": "waiting", "created_at": {"$lt": stale}}):
            result = await self.sessions.update_one({"_id": entry["session_id"], "waiting": {"$ne": entry["_id"]}},
                                                    {"$push": {"waiting": entry["_id"]}})
            fixed += result.modified_count
        return fixed
