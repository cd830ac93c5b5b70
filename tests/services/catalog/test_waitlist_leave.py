"""Leaving a waitlist happens once: the status guard in the withdrawal's filter, under concurrency, and
a control run without it (the same writes, the guard stripped by ``tests.faults`` ``rewrite``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.config import Settings
from server.services.container import Services, build_services
from tests.faults import FaultPlan, FaultyDatabase
from tests.services.enrollment.helpers import as_trainee, enroll, make_session, make_trainees, seat_problems


def without_the_status_guard(collection: str, method: str, args: tuple[Any, ...],
                             kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The withdrawal's filter without ``status in (waiting, offered)``: any entry of the id is withdrawn."""
    if collection == "waitlist" and method == "find_one_and_update" and "status" in args[0]:
        args = ({k: v for k, v in args[0].items() if k != "status"}, *args[1:])
    return args, kwargs


async def _twenty_leaves(services: Services, db: AsyncDatabase[dict[str, Any]], leaver: Services) -> tuple[int, Any]:
    """A one-seat session with two in line; the first leaves 20 times at once: the successes, the session."""
    session = await make_session(services, capacity=1)
    holder, first, second = await make_trainees(db, 3)
    await enroll(services.enrollments, holder, session)
    session = await services.catalog.get_session(session["_id"])  # now full
    entry = await services.enrollments.waitlist.join(session, first["_id"], by=as_trainee(first))
    await services.enrollments.waitlist.join(session, second["_id"], by=as_trainee(second))

    async def leave() -> bool:
        try:
            await leaver.enrollments.waitlist.leave(as_trainee(first), str(entry["_id"]))
            return True
        except errors.AppError as refused:
            assert refused.code == "waitlist_closed"
            return False

    done = await asyncio.gather(*(leave() for _ in range(20)))
    return sum(done), session


async def test_twenty_concurrent_leaves_leave_once(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    left, session = await _twenty_leaves(services, db, services)
    assert left == 1
    assert await db["audit_log"].count_documents({"action": "waitlist.leave"}) == 1
    assert await seat_problems(db, session["_id"]) == []


@pytest.mark.parametrize("guarded", [True, False])
async def test_control_an_enrolled_entry_is_not_rewritten_as_withdrawn(
    services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings, guarded: bool
) -> None:
    plan = FaultPlan(rewrite=None if guarded else without_the_status_guard)
    faulty = build_services(settings, FaultyDatabase(db, plan))
    try:
        left, _ = await _twenty_leaves(services, db, faulty)
        # And an entry whose trainee took the offered seat: leaving it now must change nothing.
        session = await make_session(services, capacity=1)
        holder, waiting = await make_trainees(db, 2)
        taken = await enroll(services.enrollments, holder, session)
        session = await services.catalog.get_session(session["_id"])
        entry = await services.enrollments.waitlist.join(session, waiting["_id"], by=as_trainee(waiting))
        await services.enrollments.cancel(as_trainee(holder), str(taken["_id"]), ip=None)
        await enroll(services.enrollments, waiting, session)  # claims the offer: the entry is `enrolled`
        try:
            await faulty.enrollments.waitlist.leave(as_trainee(waiting), str(entry["_id"]))
            refused = False
        except errors.AppError:
            refused = True
        stored = await db["waitlist"].find_one({"_id": entry["_id"]})
    finally:
        await faulty.close()
    if guarded:
        assert left == 1 and refused and stored["status"] == "enrolled"
    else:  # without the guard every leave "succeeds", and the enrolled trainee's history says withdrawn
        assert left > 1 and not refused and stored["status"] == "withdrawn"
