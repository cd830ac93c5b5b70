"""The seat ledger and the waitlist hand-off under concurrency, each guard with its control run.

The broken versions (controls) are subclasses defined here: production code has no switch.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.catalog import SessionUpdate
from server.services.accounts.identity import SHANGHAI
from server.services.catalog.catalog import CatalogService
from server.services.catalog.seats import HELD_SEATS, SeatLedger
from server.services.catalog.waitlist import OFFER_LIFETIME, Offer, WaitlistService
from server.services.catalog.window import enrollment_closes_at
from server.services.container import Services
from server.services.enrollment.enrollments import EnrollmentService
from tests.services.enrollment.helpers import (
    ADMIN,
    as_trainee,
    enroll,
    make_session,
    make_trainees,
    rewire,
    seat_problems,
)

SERVER = Path(__file__).resolve().parents[3] / "server"


# ---- releasing a seat: exactly once ------------------------------------------------------

class CountThenActRelease(SeatLedger):
    """Control: look whether the enrollment holds a seat, then decrement — racing releases all pass."""

    async def release(
        self, session_id: ObjectId, holder_id: ObjectId, *, s: AsyncClientSession | None = None
    ) -> dict[str, Any] | None:
        if await self.sessions.find_one({"_id": session_id, "holders": holder_id}, session=s) is None:
            return None
        return await self.sessions.find_one_and_update(  # type: ignore[no-any-return]
            {"_id": session_id}, {"$inc": {"seats_taken": -1}, "$pull": {"holders": holder_id}}, session=s)


async def _release_five_times(services: Services, ledger: SeatLedger) -> int:
    """Five releases of one seat at once; how many seats they freed."""
    session = await make_session(services, capacity=5)
    holders = [ObjectId() for _ in range(3)]
    for holder in holders:
        assert await ledger.take(session["_id"], holder)
    await asyncio.gather(*(ledger.release(session["_id"], holders[0]) for _ in range(5)))
    stored = await services.db["sessions"].find_one({"_id": session["_id"]})
    return 3 - int(stored["seats_taken"])


async def test_a_seat_is_released_once(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    assert [await _release_five_times(services, SeatLedger(db)) for _ in range(5)] == [1] * 5


async def test_control_without_the_holder_guard_releases_twice(services: Services,
                                                               db: AsyncDatabase[dict[str, Any]]) -> None:
    freed = [await _release_five_times(services, CountThenActRelease(db)) for _ in range(5)]
    assert any(n > 1 for n in freed), freed


# ---- the hand-off: freed seats go to the first in line, in order -----------------------

class HandOffAfterCommit(WaitlistService):
    """Control: the hand-off as the old two steps after the cancel's commit (find the head, hold its seat,
    then mark it offered), not in the cancel's transaction. The two cancels' transactions conflict and
    so finish one after the other; their hand-offs, outside, are let run at the same moment."""

    together = asyncio.Barrier(2)

    async def hand_off(self, session_id: ObjectId, *, s: AsyncClientSession) -> list[Offer]:
        return [({"_id": None, "session_id": session_id}, {})]  # done in announce, after the commit

    async def announce(self, offers: list[Offer]) -> None:
        for entry, _ in offers:
            if entry["_id"] is None:
                try:
                    await asyncio.wait_for(self.together.wait(), 2)
                except TimeoutError:
                    await self.together.reset()
                await self._two_steps(entry["session_id"])

    async def _two_steps(self, session_id: ObjectId) -> None:
        head = await self.entries.find_one({"session_id": session_id, "status": "waiting"},
                                           sort=[("created_at", ASCENDING)])
        if head is None:
            return
        session = await self.seats.hold(session_id, head["_id"], self.now().astimezone(SHANGHAI).date())
        if session is None:
            return  # somebody else held for this head: the seat stays free for the repair job
        until = min(self.now() + OFFER_LIFETIME, enrollment_closes_at(session))
        await self.entries.update_one({"_id": head["_id"]}, {"$set": {"status": "offered", "offer_until": until}})


async def _two_seats_freed_at_once(services: Services, db: AsyncDatabase[dict[str, Any]],
                                   enrollments: EnrollmentService) -> tuple[list[str], list[str]]:
    """Two holders of a full session cancel at the same moment while three wait; (line statuses, problems)."""
    session = await make_session(services, capacity=2)
    a, b, *line = await make_trainees(db, 5)
    docs = [await enroll(enrollments, t, session) for t in (a, b)]
    for trainee in line:  # (the control's hand-off only for the cancels)
        await services.enrollments.join_waitlist(as_trainee(trainee), str(session["_id"]), None)
    await asyncio.gather(*(enrollments.cancel(as_trainee(t), str(d["_id"]), ip=None)
                           for t, d in zip((a, b), docs, strict=True)))
    statuses = [(await db["waitlist"].find_one({"trainee_id": t["_id"]}))["status"] for t in line]
    return statuses, await seat_problems(db, session["_id"])


async def test_two_seats_freed_at_once_go_to_the_first_two_in_order(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    for _ in range(5):
        statuses, problems = await _two_seats_freed_at_once(services, db, services.enrollments)
        assert statuses == ["offered", "offered", "waiting"] and problems == []


async def test_control_a_hand_off_after_the_commit_leaves_a_seat_free(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    broken = rewire(services, waitlist_cls=HandOffAfterCommit)
    outcomes = [await _two_seats_freed_at_once(services, db, broken) for _ in range(5)]
    assert any(statuses != ["offered", "offered", "waiting"] for statuses, _ in outcomes), outcomes
    assert any(any("free seat" in p for p in problems) for _, problems in outcomes), outcomes


async def test_a_failed_hold_writes_nothing(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    """The window closed: the cancel frees the seat, the hold is refused, the head stays waiting, nothing half done."""
    session = await make_session(services, capacity=1)
    first, waiting = await make_trainees(db, 2)
    doc = await enroll(services.enrollments, first, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    yesterday = (datetime.now(SHANGHAI).date() - timedelta(days=1)).isoformat()
    await db["sessions"].update_one({"_id": session["_id"]}, {"$set": {"enroll_end": yesterday}})
    await services.enrollments.cancel(as_trainee(first), str(doc["_id"]), ip=None)
    stored = await db["sessions"].find_one({"_id": session["_id"]})
    assert stored["holders"] == [] and stored.get("held_for", []) == [] and len(stored["waiting"]) == 1
    assert (await db["waitlist"].find_one({"trainee_id": waiting["_id"]}))["status"] == "waiting"
    assert await seat_problems(db, session["_id"]) == []


# ---- the people in line before newcomers ---------------------------------------------------

class NoLineLedger(SeatLedger):
    """Control: a newcomer's seat counts taken and held seats, but not the people waiting."""

    async def take(self, session_id: ObjectId, holder_id: ObjectId, *, s: AsyncClientSession | None = None) -> bool:
        result = await self.sessions.update_one(
            {"_id": session_id, "status": "published", "holders": {"$ne": holder_id},
             "$expr": {"$lt": [{"$add": ["$seats_taken", HELD_SEATS]}, "$capacity"]}},
            {"$inc": {"seats_taken": 1}, "$push": {"holders": holder_id}}, session=s)
        return result.modified_count == 1


async def _raise_while_newcomers_ask(services: Services, db: AsyncDatabase[dict[str, Any]],
                                     enrollments: EnrollmentService) -> tuple[int, str]:
    """Capacity 1 → 2 with one person waiting; newcomers ask in the moment between the raise and its
    hand-off (the catalog's hand-off hook runs them first). (newcomers seated, the waiting one's status)."""
    session = await make_session(services, capacity=1)
    first, waiting, *newcomers = await make_trainees(db, 5)
    await enroll(enrollments, first, session)
    await enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    seated = 0

    async def newcomers_first(session_id: ObjectId) -> None:
        nonlocal seated
        for trainee in newcomers:
            try:
                await enroll(enrollments, trainee, session)
                seated += 1
            except errors.AppError as refusal:
                assert refusal.code == "session_full"
        await enrollments.waitlist.offer_next(session_id)

    catalog = CatalogService(db, audit=services.audit, hand_off=newcomers_first)
    await catalog.update_session(str(session["_id"]), SessionUpdate(capacity=2), by=ADMIN)
    return seated, (await db["waitlist"].find_one({"trainee_id": waiting["_id"]}))["status"]


async def test_a_raised_capacity_is_owed_to_the_line_before_its_hand_off(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    assert await _raise_while_newcomers_ask(services, db, services.enrollments) == (0, "offered")


async def test_control_without_the_line_in_the_seat_guard_a_newcomer_takes_it(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    broken = rewire(services, seats=NoLineLedger(db))
    assert await _raise_while_newcomers_ask(services, db, broken) == (1, "waiting")


# ---- one owner ---------------------------------------------------------------------------

SEAT_WRITE = re.compile(r'"\$(inc|push|pull|set|addToSet)":\s*\{[^{}]*"(seats_taken|holders|held_for|waiting)":')


def test_only_the_ledger_writes_seats() -> None:
    writers = sorted(str(p.relative_to(SERVER)) for p in SERVER.rglob("*.py") if SEAT_WRITE.search(p.read_text()))
    assert writers == ["services/catalog/seats.py"]


def test_catalog_and_waitlist_do_not_import_each_other() -> None:
    catalog = (SERVER / "services/catalog/catalog.py").read_text()
    waitlist = (SERVER / "services/catalog/waitlist.py").read_text()
    assert "catalog.waitlist" not in catalog and "catalog.catalog" not in waitlist
