"""Enrollment guards under concurrency: no overbooking, one per course, seats freed once.

Each guard has a control run that must observe the bug without it, so these tests are known to be
able to fail. The broken versions live here, not in the service: a ledger subclass that counts
then acts, an enrollment service subclass that reads the status before writing it, and the real
unique index dropped from the test's database.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.enrollments import EnrollmentStatus, UnitEnrollmentCreate
from server.services import Principal
from server.services.accounts.identity import today_shanghai
from server.services.catalog.seats import SeatLedger, seats_left
from server.services.container import Services
from server.services.enrollment import lifecycle
from server.services.enrollment.enrollments import EnrollmentService
from server.services.enrollment.lifecycle import Transition
from tests.outbox import wait_for_lines
from tests.services.enrollment.helpers import (
    as_trainee,
    enroll,
    make_session,
    make_trainees,
    rewire,
    seat_problems,
)


class CountThenActLedger(SeatLedger):
    """Control: read the session, compare, then increment — the race the guarded update prevents."""

    async def take(self, session_id: ObjectId, holder_id: ObjectId, *, s: AsyncClientSession | None = None) -> bool:
        session = await self.sessions.find_one({"_id": session_id}, session=s)
        if session is None or seats_left(session) == 0:
            return False
        await self.sessions.update_one({"_id": session_id},
                                       {"$inc": {"seats_taken": 1}, "$push": {"holders": holder_id}}, session=s)
        return True


class ReadThenWriteStatus(EnrollmentService):
    """Control: check the status with a read of its own, then write by id — racing callers both pass.

    The read is the one a slow caller took before the others wrote (cached per query, so the race
    is certain rather than left to the scheduler): every caller then writes on a stale "cancellable".
    """

    stale_reads: dict[str, dict[str, Any]]

    async def _transition(
        self, query: dict[str, Any], transition: Transition, *, s: AsyncClientSession | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        reads = self.__dict__.setdefault("stale_reads", {})
        key = repr(sorted(query.items()))
        found = reads.get(key) or await self.enrollments.find_one({**query, **lifecycle.guard(transition)})
        if found is None:
            return None
        reads[key] = found
        anything = dataclasses.replace(transition, sources=frozenset(EnrollmentStatus))
        return await super()._transition({"_id": found["_id"]}, anything, s=s, extra=extra)


async def seats(db: AsyncDatabase[dict[str, Any]], session: dict[str, Any]) -> int:
    return int((await db["sessions"].find_one({"_id": session["_id"]}))["seats_taken"])


async def active_count(db: AsyncDatabase[dict[str, Any]], session: dict[str, Any]) -> int:
    return await db["enrollments"].count_documents(
        {"session_id": session["_id"], "status": "pending_payment"})


async def _rush(services: Services, db: AsyncDatabase[dict[str, Any]], capacity: int, people: int,
                enrollments: EnrollmentService | None = None) -> tuple[int, int]:
    """``people`` enroll at once (half by themselves, half by their unit); (enrollments, seats_taken)."""
    session = await make_session(services, capacity=capacity)
    unit = Principal(ObjectId(), "unit")
    trainees = await make_trainees(db, people, unit_id=unit.account_id)
    sid = str(session["_id"])
    service = enrollments or services.enrollments

    async def one(i: int, trainee: dict[str, Any]) -> None:
        if i % 2:
            await service.enroll_staff(
                unit, UnitEnrollmentCreate(session_id=sid, trainee_ids=[str(trainee["_id"])]), ip=None)
            return
        try:
            await service.enroll(trainee, sid, by=as_trainee(trainee), address_id=None, ip=None)
        except errors.AppError as refusal:
            assert refusal.code == "session_full"

    await asyncio.gather(*(one(i, t) for i, t in enumerate(trainees)))
    return await active_count(db, session), await seats(db, session)


@pytest.mark.parametrize("run", range(20))
async def test_no_overbooking_under_a_rush(services: Services, db: AsyncDatabase[dict[str, Any]], run: int) -> None:
    assert await _rush(services, db, capacity=30, people=200) == (30, 30)


async def test_control_without_the_seat_guard_overbooks(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    broken = rewire(services, seats=CountThenActLedger(db))
    outcomes = [await _rush(services, db, capacity=30, people=200, enrollments=broken) for _ in range(3)]
    assert any(enrolled > 30 or taken > 30 for enrolled, taken in outcomes), outcomes


async def _both_ways(services: Services, db: AsyncDatabase[dict[str, Any]]) -> int:
    """A trainee enrolled at the same moment by himself and by his unit; how many enrollments."""
    session = await make_session(services, capacity=10)
    unit = Principal(ObjectId(), "unit")
    (trainee,) = await make_trainees(db, 1, unit_id=unit.account_id)
    sid = str(session["_id"])

    async def by_self() -> None:
        try:
            await services.enrollments.enroll(trainee, sid, by=as_trainee(trainee), address_id=None, ip=None)
        except errors.AppError as refusal:
            assert refusal.code == "already_enrolled"

    async def by_unit() -> None:
        result = await services.enrollments.enroll_staff(
            unit, UnitEnrollmentCreate(session_id=sid, trainee_ids=[str(trainee["_id"])]), ip=None)
        assert result.results[0].verdict in ("ok", "already_enrolled")

    await asyncio.gather(by_self(), by_unit())
    return await db["enrollments"].count_documents({"trainee_id": trainee["_id"], "status": "pending_payment"})


async def test_self_and_unit_at_once_make_one_enrollment(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    counts = [await _both_ways(services, db) for _ in range(50)]
    assert counts == [1] * 50


async def test_control_without_the_unique_index_duplicates(services: Services,
                                                           db: AsyncDatabase[dict[str, Any]]) -> None:
    await db["enrollments"].drop_index("one_active_per_course")  # the real index, in this test's database only
    counts = [await _both_ways(services, db) for _ in range(30)]
    assert any(c > 1 for c in counts), counts


async def _double_cancel(services: Services, db: AsyncDatabase[dict[str, Any]],
                         enrollments: EnrollmentService | None = None) -> tuple[int, int]:
    """Five cancels of one enrollment at once; (cancels that succeeded, seats freed)."""
    service = enrollments or services.enrollments
    session = await make_session(services, capacity=5)
    trainees = await make_trainees(db, 3)
    docs = [await enroll(service, t, session) for t in trainees]
    outcomes = await asyncio.gather(
        *(service.cancel(as_trainee(trainees[0]), str(docs[0]["_id"]), ip=None) for _ in range(5)),
        return_exceptions=True)
    assert {o.code for o in outcomes if isinstance(o, errors.AppError)} <= {"not_cancellable"}
    return sum(not isinstance(o, Exception) for o in outcomes), 3 - await seats(db, session)


async def test_double_cancel_frees_the_seat_once(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    assert await _double_cancel(services, db) == (1, 1)


async def test_control_without_the_status_guard_cancels_twice(services: Services,
                                                              db: AsyncDatabase[dict[str, Any]]) -> None:
    broken = rewire(services, enrollments_cls=ReadThenWriteStatus)
    outcomes = [await _double_cancel(services, db, broken) for _ in range(5)]
    # The ledger's own guard (``holders: id``) still frees the seat once; see test_seats for its control.
    assert any(succeeded > 1 for succeeded, _ in outcomes), outcomes


async def test_a_cancelled_enrollment_does_not_block_a_new_one(services: Services,
                                                               db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services, capacity=5)
    (trainee,) = await make_trainees(db, 1)
    sid = str(session["_id"])
    first = await services.enrollments.enroll(trainee, sid, by=as_trainee(trainee), address_id=None, ip=None)
    await services.enrollments.cancel(as_trainee(trainee), str(first["_id"]), ip=None)
    again = await services.enrollments.enroll(trainee, sid, by=as_trainee(trainee), address_id=None, ip=None)
    assert again["status"] == "pending_payment" and await seats(db, session) == 1


async def _expiry_against_payment(services: Services, db: AsyncDatabase[dict[str, Any]],
                                  enrollments: EnrollmentService | None = None) -> tuple[int, int, int]:
    """Expiry and payment race over 20 overdue enrollments; (expired, paid, seats held by the paid)."""
    service = enrollments or services.enrollments
    session = await make_session(services, capacity=50)
    trainees = await make_trainees(db, 20)
    docs = [await enroll(service, t, session) for t in trainees]
    ids = [d["_id"] for d in docs]
    await db["enrollments"].update_many({"_id": {"$in": ids}},
                                        {"$set": {"pay_by": datetime.now(UTC) - timedelta(seconds=1)}})
    expired, paid = await asyncio.gather(service.expire_unpaid(), service.mark_payment_submitted(ids))
    holders = set((await db["sessions"].find_one({"_id": session["_id"]}))["holders"])
    statuses = {d["_id"]: d["status"] async for d in db["enrollments"].find({"_id": {"$in": ids}})}
    assert sum(s == "expired" for s in statuses.values()) <= expired
    paid_holding = sum(statuses[i] == "payment_submitted" and i in holders for i in ids)
    return expired, len(paid), paid_holding


async def test_expiry_racing_a_payment_has_one_outcome(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    expired, paid, paid_holding = await _expiry_against_payment(services, db)
    assert expired + paid == 20 and paid_holding == paid


async def test_control_without_the_status_guard_has_two_outcomes(services: Services,
                                                                 db: AsyncDatabase[dict[str, Any]]) -> None:
    broken = rewire(services, enrollments_cls=ReadThenWriteStatus)
    outcomes = [await _expiry_against_payment(services, db, broken) for _ in range(5)]
    assert any(expired + paid > 20 or holding < paid for expired, paid, holding in outcomes), outcomes


async def test_pay_by_is_never_after_the_start(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services, start_in_days=2)
    (trainee,) = await make_trainees(db, 1)
    doc = await services.enrollments.enroll(trainee, str(session["_id"]), by=as_trainee(trainee),
                                            address_id=None, ip=None)
    start = datetime.fromisoformat(f"{session['start_date']}T00:00:00+08:00")
    assert doc["pay_by"] <= start < datetime.now(UTC) + timedelta(days=7)


async def test_a_freed_seat_is_offered_to_the_waitlist(
    services: Services, db: AsyncDatabase[dict[str, Any]], settings: Any
) -> None:
    session = await make_session(services, capacity=1)
    first, waiting, other = await make_trainees(db, 3)
    sid = str(session["_id"])
    enrolled = await services.enrollments.enroll(first, sid, by=as_trainee(first), address_id=None, ip=None)
    await services.enrollments.join_waitlist(as_trainee(waiting), sid, None)
    await services.enrollments.cancel(as_trainee(first), str(enrolled["_id"]), ip=None)
    # The seat is held for the first in line: someone else cannot take it ...
    with pytest.raises(errors.AppError) as refused:
        await services.enrollments.enroll(other, sid, by=as_trainee(other), address_id=None, ip=None)
    assert refused.value.code == "session_full"
    assert (await wait_for_lines(settings.notify_outbox, 1))[0]["kind"] == "waitlist_offer"
    # ... but the offered trainee can.
    doc = await services.enrollments.enroll(waiting, sid, by=as_trainee(waiting), address_id=None, ip=None)
    assert doc["status"] == "pending_payment"
    stored = await db["sessions"].find_one({"_id": session["_id"]})
    assert stored["seats_taken"] == 1 and stored["held_for"] == []
    assert await seat_problems(db, session["_id"]) == []


async def test_an_unused_offer_passes_to_the_next(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services, capacity=1)
    first, second, third = await make_trainees(db, 3)
    sid = str(session["_id"])
    enrolled = await services.enrollments.enroll(first, sid, by=as_trainee(first), address_id=None, ip=None)
    await services.enrollments.join_waitlist(as_trainee(second), sid, None)
    await services.enrollments.join_waitlist(as_trainee(third), sid, None)
    await services.enrollments.cancel(as_trainee(first), str(enrolled["_id"]), ip=None)
    await db["waitlist"].update_one({"trainee_id": second["_id"]},
                                    {"$set": {"offer_until": datetime.now(UTC) - timedelta(seconds=1)}})
    assert await services.enrollments.waitlist.lapse_offers() == 1
    offered = await db["waitlist"].find_one({"trainee_id": third["_id"]})
    assert offered["status"] == "offered"
    with pytest.raises(errors.AppError):
        await services.enrollments.enroll(second, sid, by=as_trainee(second), address_id=None, ip=None)
    await services.enrollments.enroll(third, sid, by=as_trainee(third), address_id=None, ip=None)


async def _freed_seat_race(services: Services, db: AsyncDatabase[dict[str, Any]], newcomers: int = 4) -> tuple[int, str]:
    """A full session with one person waiting; its seat is freed while newcomers try to enroll.

    (newcomers who got a seat, the waiting person's status).
    """
    session = await make_session(services, capacity=1)
    first, waiting, *others = await make_trainees(db, 2 + newcomers)
    enrolled = await enroll(services.enrollments, first, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)

    async def newcomer(i: int, trainee: dict[str, Any]) -> bool:
        await asyncio.sleep(i * 0.002)  # spread over the moments of the cancel
        try:
            await enroll(services.enrollments, trainee, session)
        except errors.AppError as refusal:
            assert refusal.code == "session_full"
            return False
        return True

    _, *got = await asyncio.gather(
        services.enrollments.cancel(as_trainee(first), str(enrolled["_id"]), ip=None),
        *(newcomer(i, t) for i, t in enumerate(others)))
    entry = await db["waitlist"].find_one({"trainee_id": waiting["_id"]})
    return sum(got), entry["status"]


async def test_a_seat_freed_while_people_wait_goes_to_them(services: Services,
                                                           db: AsyncDatabase[dict[str, Any]]) -> None:
    outcomes = [await _freed_seat_race(services, db) for _ in range(10)]
    assert outcomes == [(0, "offered")] * 10


async def test_a_unit_hears_of_the_offer_for_its_staff(services: Services, db: AsyncDatabase[dict[str, Any]],
                                                       settings: Any) -> None:
    session = await make_session(services, capacity=1)
    unit = Principal(ObjectId(), "unit")
    first, staff = await make_trainees(db, 2, unit_id=unit.account_id)
    enrolled = await enroll(services.enrollments, first, session)
    await services.enrollments.join_waitlist(unit, str(session["_id"]), str(staff["_id"]))
    await services.enrollments.cancel(as_trainee(first), str(enrolled["_id"]), ip=None)
    lines = await wait_for_lines(settings.notify_outbox, 2)
    assert {(n["account_id"], n["kind"]) for n in lines} == {(str(staff["_id"]), "waitlist_offer"),
                                                           (str(unit.account_id), "waitlist_offer")}
    to_unit = next(n for n in lines if n["account_id"] == str(unit.account_id))
    assert to_unit["data"]["trainee_id"] == str(staff["_id"]) and "贵单位" in to_unit["text"]


async def test_an_offer_never_outlasts_the_window(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services, capacity=1, start_in_days=1)  # today is the last day to enroll
    first, waiting = await make_trainees(db, 2)
    enrolled = await enroll(services.enrollments, first, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    await services.enrollments.cancel(as_trainee(first), str(enrolled["_id"]), ip=None)
    entry = await db["waitlist"].find_one({"trainee_id": waiting["_id"]})
    midnight = datetime.combine(today_shanghai() + timedelta(days=1), datetime.min.time(), ZoneInfo("Asia/Shanghai"))
    assert entry["status"] == "offered" and entry["offer_until"] == midnight
    assert entry["offer_until"] < datetime.now(UTC) + timedelta(hours=24)


async def test_no_hold_once_the_window_has_closed(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services, capacity=1)
    first, waiting, late = await make_trainees(db, 3)
    enrolled = await enroll(services.enrollments, first, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    yesterday = (today_shanghai() - timedelta(days=1)).isoformat()
    await db["sessions"].update_one({"_id": session["_id"]}, {"$set": {"enroll_end": yesterday}})
    await services.enrollments.cancel(as_trainee(first), str(enrolled["_id"]), ip=None)
    stored = await db["sessions"].find_one({"_id": session["_id"]})
    assert stored.get("held_for", []) == [] and stored["seats_taken"] == 0
    assert (await db["waitlist"].find_one({"trainee_id": waiting["_id"]}))["status"] == "waiting"
    await services.reconciler.reconcile()  # nor later
    assert (await db["sessions"].find_one({"_id": session["_id"]})).get("held_for", []) == []
    with pytest.raises(errors.AppError) as refused:  # and nobody joins a closed line
        await services.enrollments.join_waitlist(as_trainee(late), str(session["_id"]), None)
    assert refused.value.code == "outside_enrollment_window"


async def test_enrolling_in_the_course_leaves_its_lines(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    full = await make_session(services, capacity=1)
    offered = await make_session(services, capacity=1, course=await services.catalog.get_course(full["course_id"]))
    other = await make_session(services, capacity=5, course=await services.catalog.get_course(full["course_id"]))
    holder, holder2, trainee, next_in_line = await make_trainees(db, 4)
    await enroll(services.enrollments, holder, full)
    second = await enroll(services.enrollments, holder2, offered)
    for session in (full, offered):
        await services.enrollments.join_waitlist(as_trainee(trainee), str(session["_id"]), None)
    await services.enrollments.join_waitlist(as_trainee(next_in_line), str(offered["_id"]), None)
    await services.enrollments.cancel(as_trainee(holder2), str(second["_id"]), ip=None)  # an offer for trainee
    await enroll(services.enrollments, trainee, other)  # a session of the same course with seats
    statuses = {e["session_id"]: e["status"] async for e in db["waitlist"].find({"trainee_id": trainee["_id"]})}
    assert statuses == {full["_id"]: "withdrawn", offered["_id"]: "withdrawn"}
    assert (await db["sessions"].find_one({"_id": full["_id"]}))["waiting"] == []
    # The offer they no longer need passed to the next in line.
    assert (await db["waitlist"].find_one({"trainee_id": next_in_line["_id"]}))["status"] == "offered"
    assert len((await db["sessions"].find_one({"_id": offered["_id"]}))["held_for"]) == 1
    for session in (full, offered, other):
        assert await seat_problems(db, session["_id"]) == []


def test_today_is_a_beijing_date() -> None:
    assert isinstance(today_shanghai(), date)


async def test_an_offer_whose_hold_went_missing_enrolls_as_a_newcomer(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    """A live offer without its held seat (a hand edit, a bug): the claim is undone with its transaction,
    the trainee gets a free seat if there is one, and the offer leaves the line."""
    session = await make_session(services, capacity=2)
    holder, waiting = await make_trainees(db, 2)
    doc = await enroll(services.enrollments, holder, session)
    await db["sessions"].update_one({"_id": session["_id"]}, {"$set": {"capacity": 1}})
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    await services.enrollments.cancel(as_trainee(holder), str(doc["_id"]), ip=None)
    entry = await db["waitlist"].find_one({"trainee_id": waiting["_id"]})
    assert entry["status"] == "offered"
    await db["sessions"].update_one({"_id": session["_id"]}, {"$set": {"held_for": [ObjectId()], "capacity": 3}})
    mine = await enroll(services.enrollments, waiting, await services.catalog.get_session(session["_id"]))
    assert mine["status"] == "pending_payment"
    assert (await db["waitlist"].find_one({"_id": entry["_id"]}))["status"] == "withdrawn"
    stored = await db["sessions"].find_one({"_id": session["_id"]})
    assert stored["holders"] == [mine["_id"]]
    await services.reconciler.reconcile()  # the stray hold
    assert await seat_problems(db, session["_id"]) == []
