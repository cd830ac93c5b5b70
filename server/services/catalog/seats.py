"""The seat ledger: the only code that changes a session's seats.

A session document keeps its seats as ids, never as bare counters alone:

- ``holders``: the ids of the enrollments holding a seat; ``seats_taken`` is its length, kept
  beside it so that the capacity guard is one ``$expr`` on the document;
- ``held_for``: the ids of the waitlist entries a seat is held for (an offer), counted as taken;
- ``waiting``: the ids of the waitlist entries in line; a newcomer may not take a seat they are owed.

Every change is one guarded update of the session document, so it holds across processes
(``take`` cannot overbook, ``release`` frees a seat once), and takes an optional client session
``s`` so that callers can make it part of one transaction with the enrollment or waitlist change
that goes with it. Because every seat names its owner, :mod:`reconcile` can compare the ledger with
the enrollments and waitlist entries and repair any difference, whatever caused it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.services.batching import Batcher
from server.services.catalog.admission import Admission
from server.services.catalog.window import open_window_filter

T = TypeVar("T")

# Seats held for waitlist offers (``held_for``: their waitlist entry ids) count as taken.
HELD_SEATS = {"$size": {"$ifNull": ["$held_for", []]}}
# People waiting in line (``waiting``: their waitlist entry ids) come before a newcomer.
WAITING = {"$size": {"$ifNull": ["$waiting", []]}}


def seats_left(session: dict[str, Any]) -> int:
    """Seats a newcomer may still take: capacity less those taken, held, and owed to people waiting."""
    owed = len(session.get("held_for", [])) + len(session.get("waiting", []))
    return max(0, session["capacity"] - session["seats_taken"] - owed)


def committed_seats(session: dict[str, Any]) -> int:
    """Seats taken by enrollments plus seats held for offers: the capacity may not drop below it."""
    return int(session["seats_taken"]) + len(session.get("held_for", []))


async def in_transaction(db: AsyncDatabase[dict[str, Any]], work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run ``work(s)`` in one transaction; retried whole on a transient conflict, so ``work`` must
    have no effect outside the database (notifications go after this returns)."""
    async with db.client.start_session() as s:
        return await s.with_transaction(work)


class SeatLedger:
    """Take, release and hold the seats of sessions; each change is one guarded update."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.sessions = db["sessions"]
        # The rush: a line per session and the sold-out hint, dropped by every release below.
        self.admission = Admission()
        self._takes = Batcher(self._take_open_batch, name="seats taken in one step")

    # ---- enrollments ---------------------------------------------------------------------

    async def take(self, session_id: ObjectId, holder_id: ObjectId, *, s: AsyncClientSession | None = None) -> bool:
        """A free seat for the enrollment ``holder_id``: neither taken, nor held, nor owed to people waiting."""
        result = await self.sessions.update_one(
            {"_id": session_id, "status": "published", "holders": {"$ne": holder_id},
             "$expr": {"$lt": [{"$add": ["$seats_taken", HELD_SEATS, WAITING]}, "$capacity"]}},
            {"$inc": {"seats_taken": 1}, "$push": {"holders": holder_id}},
            session=s,
        )
        return result.modified_count == 1

    async def take_open(
        self, session_id: ObjectId, holder_id: ObjectId, today: date
    ) -> dict[str, Any] | None:
        """The rush's one step: a free seat in a session open on ``today`` that holds no seat for an
        offer and mails no books; the session after, or None (then the caller takes the full path,
        which explains the refusal or uses the offer).

        The takes of the same moment for one session are one guarded update for all of them
        (:meth:`_take_together`); the first callers get the seats when fewer are left.
        """
        return await self._takes((session_id, holder_id, today))

    async def _take_open_batch(self, items: list[tuple[ObjectId, ObjectId, date]]) -> list[dict[str, Any] | None]:
        groups: dict[tuple[ObjectId, date], list[ObjectId]] = {}
        for session_id, holder_id, today in items:
            groups.setdefault((session_id, today), []).append(holder_id)
        taken: dict[ObjectId, dict[str, Any] | None] = {}

        async def group(session_id: ObjectId, today: date, holders: list[ObjectId]) -> None:
            after, count = await self._take_together(session_id, holders, today)
            for n, holder in enumerate(holders):
                if after is None or n >= count:
                    taken[holder] = None
                else:  # each winner gets its own copy of the session after
                    taken[holder] = after if n == 0 else copy.deepcopy(after)

        await asyncio.gather(*(group(s, d, h) for (s, d), h in groups.items()))
        return [taken[holder_id] for _, holder_id, _ in items]

    async def _take_together(
        self, session_id: ObjectId, holders: list[ObjectId], today: date
    ) -> tuple[dict[str, Any] | None, int]:
        """Seats for the first ``count`` of ``holders`` in one guarded update: (the session after, count).

        All of them when that many are free; when fewer are, one read of the session tells how many,
        and the update is tried again for that many (at most three tries: other processes take seats
        too). (None, 0) when the session is full, or not open to the one step (closed, seats held for
        offers, books to mail): the callers' full path explains.
        """
        want = len(holders)
        for _ in range(3):
            after = await self.sessions.find_one_and_update(
                {"_id": session_id, **open_window_filter(today), "holders": {"$nin": holders[:want]},
                 "held_for.0": {"$exists": False}, "mails_books": {"$ne": True},
                 "$expr": {"$lte": [{"$add": ["$seats_taken", WAITING, want]}, "$capacity"]}},
                {"$inc": {"seats_taken": want}, "$push": {"holders": {"$each": holders[:want]}}},
                return_document=ReturnDocument.AFTER,
            )
            if after is not None:
                return after, want
            if want == 1:
                break
            now = await self.sessions.find_one({"_id": session_id}, {"capacity": 1, "seats_taken": 1, "waiting": 1})
            left = 0 if now is None else now["capacity"] - now["seats_taken"] - len(now.get("waiting", []))
            if left <= 0 or left >= want:  # full, or refused for another reason
                break
            want = left
        return None, 0

    async def take_held(
        self, session_id: ObjectId, holder_id: ObjectId, entry_id: ObjectId, *, s: AsyncClientSession | None = None
    ) -> bool:
        """Turn the seat held for waitlist entry ``entry_id`` into the seat of enrollment ``holder_id``."""
        result = await self.sessions.update_one(
            {"_id": session_id, "held_for": entry_id, "holders": {"$ne": holder_id}},
            {"$inc": {"seats_taken": 1}, "$pull": {"held_for": entry_id}, "$push": {"holders": holder_id}},
            session=s,
        )
        return result.modified_count == 1

    async def release(
        self, session_id: ObjectId, holder_id: ObjectId, *, s: AsyncClientSession | None = None
    ) -> dict[str, Any] | None:
        """Give the seat of ``holder_id`` back, exactly once; the session after, or None if it held none."""
        after = await self.sessions.find_one_and_update(
            {"_id": session_id, "holders": holder_id},
            {"$inc": {"seats_taken": -1}, "$pull": {"holders": holder_id}},
            return_document=ReturnDocument.AFTER, session=s,
        )
        self.admission.seat_freed(session_id)  # after the write: a refusal that read before it is dropped too
        return after  # type: ignore[no-any-return]

    # ---- the waitlist --------------------------------------------------------------------

    async def join_line(self, session_id: ObjectId, entry_id: ObjectId, *, s: AsyncClientSession | None = None) -> None:
        """Record a place in line: from now on a newcomer leaves a seat to this entry."""
        await self.sessions.update_one({"_id": session_id, "waiting": {"$ne": entry_id}},
                                       {"$push": {"waiting": entry_id}}, session=s)

    async def leave_line(self, session_id: ObjectId, entry_id: ObjectId, *, s: AsyncClientSession | None = None) -> None:
        """Drop a place in line (the entry withdrew)."""
        await self.sessions.update_one({"_id": session_id, "waiting": entry_id},
                                       {"$pull": {"waiting": entry_id}}, session=s)
        self.admission.seat_freed(session_id)

    async def hold(
        self, session_id: ObjectId, entry_id: ObjectId, today: date, *, s: AsyncClientSession | None = None
    ) -> dict[str, Any] | None:
        """Move the entry from ``waiting`` to ``held_for`` if a seat is free and enrolling is open on ``today``.

        The session after, or None (no free seat, window closed, already held).
        """
        return await self.sessions.find_one_and_update(  # type: ignore[no-any-return]
            {"_id": session_id, **open_window_filter(today), "held_for": {"$ne": entry_id},
             "$expr": {"$lt": [{"$add": ["$seats_taken", HELD_SEATS]}, "$capacity"]}},
            {"$push": {"held_for": entry_id}, "$pull": {"waiting": entry_id}},
            return_document=ReturnDocument.AFTER, session=s,
        )

    async def release_hold(
        self, session_id: ObjectId, entry_id: ObjectId, *, s: AsyncClientSession | None = None
    ) -> dict[str, Any] | None:
        """Give back the seat held for an entry (lapsed, withdrawn); the session after, or None if none was held."""
        after = await self.sessions.find_one_and_update(
            {"_id": session_id, "held_for": entry_id}, {"$pull": {"held_for": entry_id}},
            return_document=ReturnDocument.AFTER, session=s,
        )
        self.admission.seat_freed(session_id)
        return after  # type: ignore[no-any-return]

    # ---- capacity and repair -------------------------------------------------------------

    @staticmethod
    def capacity_guard(capacity: int) -> dict[str, Any]:
        """The filter a capacity change adds to its update: never below the seats taken and held."""
        return {"$expr": {"$lte": [{"$add": ["$seats_taken", HELD_SEATS]}, capacity]}}

    async def rewrite(
        self, session_id: ObjectId, *, holders: list[ObjectId], held_for: list[ObjectId], waiting: list[ObjectId],
        s: AsyncClientSession,
    ) -> None:
        """Set the seats of a session as reconciliation found them (only inside its transaction)."""
        await self.sessions.update_one(
            {"_id": session_id},
            {"$set": {"holders": holders, "seats_taken": len(holders), "held_for": held_for, "waiting": waiting}},
            session=s,
        )
        self.admission.seat_freed(session_id)
