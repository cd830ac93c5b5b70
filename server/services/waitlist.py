"""The waitlist (beyond the manual): a full session's freed seat goes to the first in line.

When a seat frees, the first waiting entry is claimed (``offering``), a seat is
*held* for it — its id pushed into the session's ``held_for``, seats general
enrollment may not take — and it is offered for 48 hours, with a notification.
The trainee then enrolls as usual and the held seat becomes theirs; an offer
that lapses releases the hold, which passes to the next in line.

Each step is a guarded single-document transition, so several processes may
run the jobs at once, and because holds are entry ids (not a counter) every
state a crash can leave is recognizable: :meth:`repair` finishes or undoes it.
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
from server.integrations.notifier import Notifier
from server.services import Principal
from server.services.audit import AuditLog
from server.services.catalog import HELD_SEATS, seats_left

log = logging.getLogger(__name__)

OFFER_LIFETIME = timedelta(hours=48)
STALE_STEP = timedelta(minutes=2)  # a claimed step not finished by then was cut short by a crash


class WaitlistService:
    """Join the line, offer freed seats, lapse unused offers."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        notifier: Notifier,
        audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.entries = db["waitlist"]
        self.sessions = db["sessions"]
        self.enrollments = db["enrollments"]
        self.notifier = notifier
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    async def join(self, session: dict[str, Any], trainee_id: ObjectId, *, by: Principal) -> dict[str, Any]:
        """Put the trainee in line for a full session (once; not when already enrolled in the course)."""
        if session["status"] != "published":
            raise errors.conflict("session_not_open", "该班次未开放报名")
        if seats_left(session) > 0:
            raise errors.conflict("seats_available", "该班次尚有名额，请直接报名")
        if await self.enrollments.count_documents(
            {"trainee_id": trainee_id, "course_id": session["course_id"], "active": True}
        ):
            raise errors.conflict("already_enrolled", "该学员已报名此课程")
        entry = {
            "_id": ObjectId(), "session_id": session["_id"], "trainee_id": trainee_id,
            "created_by": {"account_id": by.account_id, "role": by.role},
            "status": "waiting", "active": True, "created_at": self.now(),
        }
        try:
            await self.entries.insert_one(entry)
        except DuplicateKeyError:
            raise errors.conflict("already_waitlisted", "该学员已在候补名单中") from None
        await self.audit.record("waitlist.join", actor_id=by.account_id, actor_role=by.role, subject_id=entry["_id"])
        return entry

    async def position(self, entry: dict[str, Any]) -> int:
        """1 for the first in line."""
        ahead = await self.entries.count_documents(
            {"session_id": entry["session_id"], "status": "waiting", "created_at": {"$lt": entry["created_at"]}})
        return ahead + 1

    async def offer_next(self, session_id: ObjectId) -> None:
        """Hold each free seat for the first in line, while there are both."""
        while True:
            entry = await self.entries.find_one_and_update(
                {"session_id": session_id, "status": "waiting"},
                {"$set": {"status": "offering", "offering_at": self.now()}},
                sort=[("created_at", ASCENDING)],
            )
            if entry is None:
                return
            if not await self._hold_a_seat(session_id, entry["_id"]):
                await self.entries.update_one({"_id": entry["_id"], "status": "offering"},
                                              {"$set": {"status": "waiting"}})
                return
            await self._offer(entry)

    async def _hold_a_seat(self, session_id: ObjectId, entry_id: ObjectId) -> bool:
        result = await self.sessions.update_one(
            {"_id": session_id, "status": "published", "held_for": {"$ne": entry_id},
             "$expr": {"$lt": [{"$add": ["$seats_taken", HELD_SEATS]}, "$capacity"]}},
            {"$push": {"held_for": entry_id}},
        )
        return result.modified_count == 1

    async def _offer(self, entry: dict[str, Any]) -> None:
        offered = await self.entries.find_one_and_update(
            {"_id": entry["_id"], "status": "offering"},
            {"$set": {"status": "offered", "offered_at": self.now(), "offer_until": self.now() + OFFER_LIFETIME}},
            return_document=ReturnDocument.AFTER,
        )
        if offered is not None:
            await self.notifier.notify(
                offered["trainee_id"], "waitlist_offer",
                "您候补的班次有空位了，名额为您保留 48 小时，请尽快完成报名。",
                {"session_id": str(offered["session_id"]), "offer_until": offered["offer_until"].isoformat()},
            )

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
        """Offers past their 48 hours release their seat to the next in line (safe in many processes)."""
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

    async def repair(self) -> int:
        """Finish or undo what a crash left half done; only steps older than a few minutes."""
        fixed = 0
        stale = self.now() - STALE_STEP
        async for entry in self.entries.find({"status": "offering", "offering_at": {"$lt": stale}}):
            if await self.sessions.count_documents({"_id": entry["session_id"], "held_for": entry["_id"]}):
                await self._offer(entry)  # the seat was held: make the offer
            else:
                await self.entries.update_one({"_id": entry["_id"], "status": "offering"},
                                              {"$set": {"status": "waiting"}})
            fixed += 1
        # A hold whose entry is no longer offered (used, lapsed, cancelled) goes back.
        async for session in self.sessions.find({"held_for.0": {"$exists": True}}, {"held_for": 1}):
            for entry_id in session["held_for"]:
                entry = await self.entries.find_one({"_id": entry_id})
                if entry is None or (entry["status"] not in ("offering", "offered")
                                     and entry.get("enrolled_at", stale) <= stale):
                    await self._release_hold({"_id": entry_id, "session_id": session["_id"]})
                    fixed += 1
        return fixed
