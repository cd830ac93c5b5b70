"""The rush path of ``enroll_self`` (catalog/admission.py): the line, the one-step seat, the sold-out hint.

- No overbooking when everyone takes the one-step seat at once; the control run replaces
  :meth:`SeatLedger.take_open` with a count-then-act version and must oversell.
- The database commands of a success and of a refusal, counted by a command listener on the
  client the services use: a refusal once sold out costs one read.
- The hint only refuses: a seat freed in this process is open at once; an offered trainee always
  reaches the seat held for them; a trainee already in the course is told so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.config import Settings
from server.db import make_client
from server.metrics import CommandCounter
from server.models.enrollments import EnrollmentCreate
from server.services.catalog.seats import SeatLedger, seats_left
from server.services.catalog.window import open_window_filter
from server.services.container import Services, build_services
from server.services.enrollment.enrollments import EnrollmentService
from tests.services.enrollment.helpers import as_trainee, make_session, make_trainees, rewire, seat_problems


class CountThenActOpenLedger(SeatLedger):
    """Control: read the session, compare, then take — the race the guarded one-step update prevents."""

    async def take_open(self, session_id: ObjectId, holder_id: ObjectId, today: date) -> dict[str, Any] | None:
        session = await self.sessions.find_one({"_id": session_id, **open_window_filter(today)})
        if session is None or seats_left(session) == 0:
            return None
        await asyncio.sleep(0.01)  # the others read the same count meanwhile
        return await self.sessions.find_one_and_update(  # type: ignore[no-any-return]
            {"_id": session_id}, {"$inc": {"seats_taken": 1}, "$push": {"holders": holder_id}},
            return_document=ReturnDocument.AFTER)


async def _all_at_once(service: EnrollmentService, session: dict[str, Any], trainees: list[dict[str, Any]]
                       ) -> list[str]:
    """Every trainee enrolls at the same moment, in list order; "ok" or the refusal's code of each."""
    body = EnrollmentCreate(session_id=str(session["_id"]))

    async def one(trainee: dict[str, Any]) -> str:
        try:
            await service.enroll_self(as_trainee(trainee), body, ip=None)
        except errors.AppError as refusal:
            return refusal.code
        return "ok"

    return list(await asyncio.gather(*(one(t) for t in trainees)))


async def _rush(service: EnrollmentService, services: Services, db: AsyncDatabase[dict[str, Any]],
                capacity: int, people: int) -> tuple[list[str], dict[str, Any]]:
    session = await make_session(services, capacity=capacity)
    verdicts = await _all_at_once(service, session, await make_trainees(db, people))
    return verdicts, await db["sessions"].find_one({"_id": session["_id"]}) or {}


@pytest.mark.parametrize("line", [4, 100])
@pytest.mark.parametrize("run", range(3))
async def test_the_rush_never_oversells(services: Services, db: AsyncDatabase[dict[str, Any]], run: int,
                                        line: int) -> None:
    """With the line as configured, and with a line so wide it does not order anything (as with many
    processes): the guarded update alone keeps the count."""
    services.seats.admission.concurrency = line
    verdicts, session = await _rush(services.enrollments, services, db, capacity=5, people=60)
    assert verdicts.count("ok") == 5 and set(verdicts) == {"ok", "session_full"}
    assert session["seats_taken"] == 5
    assert await db["enrollments"].count_documents({"session_id": session["_id"]}) == 5
    assert await seat_problems(db, session["_id"]) == []


async def test_control_count_then_act_oversells(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    ledger = CountThenActOpenLedger(services.db)
    ledger.admission.concurrency = 100  # as many at once as with many processes
    broken = rewire(services, seats=ledger)
    verdicts, session = await _rush(broken, services, db, capacity=5, people=60)
    assert verdicts.count("ok") > 5 and session["seats_taken"] > session["capacity"]  # the bug


@pytest.fixture
async def counted(settings: Settings, db: AsyncDatabase[dict[str, Any]], mongo_url: str
                  ) -> AsyncIterator[tuple[Services, CommandCounter]]:
    """Every service on a client whose commands are counted (the test's database)."""
    counter = CommandCounter()
    client = make_client(mongo_url, event_listeners=[counter])
    built = build_services(settings, client[db.name])
    try:
        yield built, counter
    finally:
        await built.close()
        await client.close()


async def _commands(counter: CommandCounter, work: Any) -> dict[tuple[str, str], int]:
    """The commands ``work`` (an awaitable) sent."""
    before = dict(counter.counts)
    await work
    return {k: n - before.get(k, 0) for k, n in counter.counts.items() if n - before.get(k, 0)}


async def test_round_trips_of_a_success_and_of_a_refusal(
    counted: tuple[Services, CommandCounter], db: AsyncDatabase[dict[str, Any]]
) -> None:
    services, counter = counted
    session = await make_session(services, capacity=1)
    winner, first_loser, loser = await make_trainees(db, 3)
    body = EnrollmentCreate(session_id=str(session["_id"]))
    success = await _commands(counter, services.enrollments.enroll_self(as_trainee(winner), body, ip=None))
    assert success == {("find", "accounts"): 1, ("findAndModify", "sessions"): 1, ("insert", "enrollments"): 1,
                       ("insert", "audit_log"): 1, ("find", "waitlist"): 1}
    with pytest.raises(errors.AppError):  # the first refusal takes the full path and learns "sold out"
        await services.enrollments.enroll_self(as_trainee(first_loser), body, ip=None)
    before = dict(counter.counts)
    with pytest.raises(errors.AppError) as refused:
        await services.enrollments.enroll_self(as_trainee(loser), body, ip=None)
    assert refused.value.code == "session_full"
    assert {k: n - before.get(k, 0) for k, n in counter.counts.items() if n - before.get(k, 0)} == {
        ("find", "enrollments"): 1}


async def test_the_hint_refuses_but_never_keeps_a_freed_seat(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    session = await make_session(services, capacity=1)
    holder, newcomer, late = await make_trainees(db, 3)
    body = EnrollmentCreate(session_id=str(session["_id"]))
    enrollment = await services.enrollments.enroll_self(as_trainee(holder), body, ip=None)
    for trainee in (newcomer, late):
        with pytest.raises(errors.AppError) as refused:
            await services.enrollments.enroll_self(as_trainee(trainee), body, ip=None)
        assert refused.value.code == "session_full"
    assert services.seats.admission.sold_out(session["_id"], services.catalog.generation) is not None
    with pytest.raises(errors.AppError) as again:  # the one already in hears so, not "full"
        await services.enrollments.enroll_self(as_trainee(holder), body, ip=None)
    assert again.value.code == "already_enrolled"
    await services.enrollments.cancel(as_trainee(holder), str(enrollment["_id"]), ip=None)
    assert (await services.enrollments.enroll_self(as_trainee(newcomer), body, ip=None))["status"] == \
        "pending_payment"  # at once: the release dropped the hint


async def test_an_offered_trainee_reaches_the_held_seat(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services, capacity=1)
    holder, waiting, newcomer = await make_trainees(db, 3)
    body = EnrollmentCreate(session_id=str(session["_id"]))
    enrollment = await services.enrollments.enroll_self(as_trainee(holder), body, ip=None)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    await services.enrollments.cancel(as_trainee(holder), str(enrollment["_id"]), ip=None)  # held for `waiting`
    for _ in range(2):
        with pytest.raises(errors.AppError) as refused:
            await services.enrollments.enroll_self(as_trainee(newcomer), body, ip=None)
        assert refused.value.code == "session_full"
    assert services.seats.admission.sold_out(session["_id"], services.catalog.generation) is None
    assert (await services.enrollments.enroll_self(as_trainee(waiting), body, ip=None))["status"] == \
        "pending_payment"
    assert await seat_problems(db, session["_id"]) == []


async def test_the_first_to_come_are_the_first_served(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    """Arrival order decides, also inside one shared seat update: the first five callers win."""
    session = await make_session(services, capacity=5)
    verdicts = await _all_at_once(services.enrollments, session, await make_trainees(db, 20))
    assert verdicts == ["ok"] * 5 + ["session_full"] * 15
    assert await seat_problems(db, session["_id"]) == []


async def test_a_rush_shares_its_database_commands(
    counted: tuple[Services, CommandCounter], db: AsyncDatabase[dict[str, Any]]
) -> None:
    """60 at once for 5 seats: the reads and writes of the same moment are one command each
    (services/batching.py), and the 55 refused hear "full" together — far fewer commands than
    requests (one each would be 60 refusal reads alone)."""
    services, counter = counted
    session = await make_session(services, capacity=5)
    trainees = await make_trainees(db, 60)
    sent = await _commands(counter, _all_at_once(services.enrollments, session, trainees))
    assert await db["enrollments"].count_documents({"session_id": session["_id"]}) == 5
    assert sum(sent.values()) <= 15, sent
    # The sixteen in the line ask together, a read finds five seats left, the first five take them.
    assert sent[("findAndModify", "sessions")] == 2, sent
