"""Crash injection: kill cancel, expiry, the hand-offs and enrolling between every pair of writes.

For n = 1, 2, 3… the action runs on services built on ``FaultyDatabase(db, FaultPlan(crash_before=n))``
until it completes without a crash. After each crash, reconciliation runs on the real database (an
hour later, as the periodic job would) and the seats must agree with the enrollments and the
waitlist: ``seats_taken == len(holders)``, holders are the seat-holding enrollments, ``held_for`` the
offered entries, ``waiting`` the waiting ones, nobody in a limbo state, no free seat while people wait.

What is done in one transaction must be consistent even before reconciliation; the control run
(status first, seat second, as before the ledger) shows that the crash tests can see the difference.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.config import Settings
from server.models.catalog import SessionUpdate
from server.services.catalog.waitlist import Offer
from server.services.container import Services, build_services
from server.services.enrollment.enrollments import EnrollmentService
from server.services.enrollment.lifecycle import Transition
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.services.enrollment.helpers import (
    ADMIN,
    as_trainee,
    enroll,
    later_reconciler,
    make_session,
    make_trainees,
    rewire,
    seat_problems,
)

Action = Callable[[Services], Awaitable[Any]]
Setup = Callable[[Services, AsyncDatabase[dict[str, Any]]], Awaitable[tuple[list[ObjectId], Action]]]


async def crash_everywhere(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings,
                           setup: Setup, *, wire: Callable[[Services], Services] | None = None,
                           ) -> dict[int, list[str]]:
    """Run the action crashing before write 1, 2, 3… until it completes; after every crash reconcile
    and check (every session of the earlier runs too: a job like expiry also finds what they left).
    The problems seen *before* reconciliation, by crash point."""
    before: dict[int, list[str]] = {}
    checked: list[ObjectId] = []
    for n in range(1, 30):
        session_ids, action = await setup(services, db)
        checked += session_ids
        plan = FaultPlan(crash_before=n)
        faulty = build_services(settings, FaultyDatabase(db, plan))
        try:
            await action(wire(faulty) if wire else faulty)
        except Crash:
            pass
        except errors.AppError:
            pass  # a refusal the scenario provokes (a duplicate enrollment)
        finally:
            await faulty.close()
        problems = [p for sid in checked for p in await seat_problems(db, sid)]
        if problems:
            before[n] = problems
        await later_reconciler(services, db).reconcile()
        for sid in checked:
            assert await seat_problems(db, sid) == [], (n, plan.writes)
        if not plan.crashed:
            assert n > 1, "the action wrote nothing"
            return before
    raise AssertionError("the action never completed")


# ---- scenarios: (sessions to check, the action on the faulty services) -----------------

async def _cancel_while_one_waits(services: Services, db: AsyncDatabase[dict[str, Any]]) -> tuple[list[ObjectId], Action]:
    session = await make_session(services, capacity=1)
    holder, waiting = await make_trainees(db, 2)
    doc = await enroll(services.enrollments, holder, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    return [session["_id"]], lambda f: f.enrollments.cancel(as_trainee(holder), str(doc["_id"]), ip=None)


async def _expiry_while_one_waits(services: Services, db: AsyncDatabase[dict[str, Any]]) -> tuple[list[ObjectId], Action]:
    session = await make_session(services, capacity=1)
    holder, waiting = await make_trainees(db, 2)
    doc = await enroll(services.enrollments, holder, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    await db["enrollments"].update_one({"_id": doc["_id"]}, {"$set": {"pay_by": datetime.now(UTC) - timedelta(1)}})
    return [session["_id"]], lambda f: f.enrollments.expire_unpaid()


async def _offer_lapses_to_the_next(services: Services, db: AsyncDatabase[dict[str, Any]]) -> tuple[list[ObjectId], Action]:
    session = await make_session(services, capacity=1)
    holder, first, second = await make_trainees(db, 3)
    doc = await enroll(services.enrollments, holder, session)
    for trainee in (first, second):
        await services.enrollments.join_waitlist(as_trainee(trainee), str(session["_id"]), None)
    await services.enrollments.cancel(as_trainee(holder), str(doc["_id"]), ip=None)  # an offer for ``first``
    await db["waitlist"].update_one({"trainee_id": first["_id"]},
                                    {"$set": {"offer_until": datetime.now(UTC) - timedelta(seconds=1)}})
    return [session["_id"]], lambda f: f.enrollments.waitlist.lapse_offers()


async def _enrolling_elsewhere_passes_the_offer_on(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> tuple[list[ObjectId], Action]:
    full = await make_session(services, capacity=1)
    other = await make_session(services, capacity=5, course=await services.catalog.get_course(full["course_id"]))
    holder, trainee, next_in_line = await make_trainees(db, 3)
    doc = await enroll(services.enrollments, holder, full)
    for waiting in (trainee, next_in_line):
        await services.enrollments.join_waitlist(as_trainee(waiting), str(full["_id"]), None)
    await services.enrollments.cancel(as_trainee(holder), str(doc["_id"]), ip=None)  # an offer for ``trainee``
    return [full["_id"], other["_id"]], lambda f: enroll(f.enrollments, trainee, other)


async def _enrolling_on_an_offer(services: Services, db: AsyncDatabase[dict[str, Any]]) -> tuple[list[ObjectId], Action]:
    session = await make_session(services, capacity=1)
    holder, waiting = await make_trainees(db, 2)
    doc = await enroll(services.enrollments, holder, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    await services.enrollments.cancel(as_trainee(holder), str(doc["_id"]), ip=None)
    return [session["_id"]], lambda f: enroll(f.enrollments, waiting, session)


async def _joining_the_line(services: Services, db: AsyncDatabase[dict[str, Any]]) -> tuple[list[ObjectId], Action]:
    session = await make_session(services, capacity=1)
    holder, waiting = await make_trainees(db, 2)
    await enroll(services.enrollments, holder, session)
    return [session["_id"]], lambda f: f.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)


async def _enrolling_a_newcomer(services: Services, db: AsyncDatabase[dict[str, Any]]) -> tuple[list[ObjectId], Action]:
    session = await make_session(services, capacity=2)
    (trainee,) = await make_trainees(db, 1)
    return [session["_id"]], lambda f: enroll(f.enrollments, trainee, session)


async def _enrolling_twice_in_a_course(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> tuple[list[ObjectId], Action]:
    """The duplicate's seat, taken before the unique index refuses it, goes back."""
    first = await make_session(services, capacity=5)
    second = await make_session(services, capacity=1, course=await services.catalog.get_course(first["course_id"]))
    (trainee,) = await make_trainees(db, 1)
    await enroll(services.enrollments, trainee, first)
    return [first["_id"], second["_id"]], lambda f: enroll(f.enrollments, trainee, second)


async def _raising_the_capacity(services: Services, db: AsyncDatabase[dict[str, Any]]) -> tuple[list[ObjectId], Action]:
    session = await make_session(services, capacity=1)
    holder, waiting = await make_trainees(db, 2)
    await enroll(services.enrollments, holder, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    return [session["_id"]], lambda f: f.catalog.update_session(str(session["_id"]), SessionUpdate(capacity=2), by=ADMIN)


# ---- the tests -------------------------------------------------------------------------

async def test_cancel(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings) -> None:
    assert await crash_everywhere(services, db, settings, _cancel_while_one_waits) == {}


async def test_expiry(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings) -> None:
    assert await crash_everywhere(services, db, settings, _expiry_while_one_waits) == {}


async def test_hand_off_of_a_lapsed_offer(services: Services, db: AsyncDatabase[dict[str, Any]],
                                          settings: Settings) -> None:
    assert await crash_everywhere(services, db, settings, _offer_lapses_to_the_next) == {}


async def test_enrolling_on_an_offer(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings) -> None:
    assert await crash_everywhere(services, db, settings, _enrolling_on_an_offer) == {}


async def test_joining_the_line(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings) -> None:
    assert await crash_everywhere(services, db, settings, _joining_the_line) == {}


async def test_enrolling_elsewhere_in_the_course(services: Services, db: AsyncDatabase[dict[str, Any]],
                                                 settings: Settings) -> None:
    """Enrolling (two writes) then leaving the other lines (one transaction each): only a seat taken
    for an enrollment not yet inserted needs reconciliation, or a line left too late."""
    before = await crash_everywhere(services, db, settings, _enrolling_elsewhere_passes_the_offer_on)
    assert all(all("holders" in p or "free seat" in p or "enrolled" in p for p in ps) for ps in before.values()), before


async def test_enrolling_a_newcomer(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings) -> None:
    """The hot path is two writes without a transaction: a crash between them leaves a seat without
    its enrollment (never an enrollment without a seat), which reconciliation gives back."""
    before = await crash_everywhere(services, db, settings, _enrolling_a_newcomer)
    assert list(before) == [2] and "holders" in before[2][0], before


async def test_enrolling_twice_gives_the_seat_back(services: Services, db: AsyncDatabase[dict[str, Any]],
                                                   settings: Settings) -> None:
    before = await crash_everywhere(services, db, settings, _enrolling_twice_in_a_course)
    assert before and all(all("holders" in p for p in ps) for ps in before.values()), before


async def test_raising_the_capacity(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings) -> None:
    """The raise and its hand-off are two steps: a crash between them leaves a free seat that the
    ledger keeps from newcomers and reconciliation hands to the first in line."""
    before = await crash_everywhere(services, db, settings, _raising_the_capacity)
    assert all(all("free seat" in p for p in ps) for ps in before.values()), before


# ---- the control: status first, seat second ---------------------------------------------

class StatusThenSeat(EnrollmentService):
    """Control: the enrollment leaves, then (another write, outside any transaction) its seat goes back."""

    async def _leave(
        self, query: dict[str, Any], transition: Transition, s: AsyncClientSession,
    ) -> tuple[dict[str, Any] | None, list[Offer]]:
        done = await self._transition(query, transition)
        if done is None:
            return None, []
        await self.seats.release(done["session_id"], done["_id"])
        return done, []


def _status_then_seat(faulty: Services) -> Services:
    faulty.enrollments = rewire(faulty, enrollments_cls=StatusThenSeat, db=faulty.db)
    return faulty


async def test_control_status_then_seat_leaves_a_cancelled_enrollment_holding_its_seat(
    services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings
) -> None:
    before = await crash_everywhere(services, db, settings, _cancel_while_one_waits, wire=_status_then_seat)
    assert any("holders" in p for ps in before.values() for p in ps), before
