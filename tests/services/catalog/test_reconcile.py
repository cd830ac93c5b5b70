"""Reconciliation: any difference between a session's seats and its enrollments/waitlist is repaired,
logged for an operator and audited — and a seat taken by an enrollment in flight is left alone."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.services.catalog.reconcile import SeatReconciler
from server.services.container import Services, start_jobs
from tests.faults import FaultPlan, FaultyDatabase
from tests.outbox import wait_for_lines
from tests.services.enrollment.helpers import (
    as_trainee,
    enroll,
    later_reconciler,
    make_session,
    make_trainees,
    rewire,
    seat_problems,
)

OLD = datetime.now(UTC) - timedelta(hours=1)


def _old_id() -> ObjectId:
    """A unique id made an hour ago."""
    return ObjectId(ObjectId.from_datetime(OLD).binary[:4] + ObjectId().binary[4:])


async def test_every_kind_of_difference_is_repaired_logged_and_audited(
    services: Services, db: AsyncDatabase[dict[str, Any]], caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    session = await make_session(services, capacity=4)
    sid = session["_id"]
    kept, cancelled, unseated, waiting_trainee, offered_trainee, lapsed_trainee = await make_trainees(db, 6)
    docs = {t: await enroll(services.enrollments, trainee, session)
            for t, trainee in (("kept", kept), ("cancelled", cancelled), ("unseated", unseated))}
    entry = {"session_id": sid, "course_id": session["course_id"], "created_at": OLD, "active": True}
    waiting_id, offered_id, lapsed_id, orphan = _old_id(), _old_id(), _old_id(), _old_id()
    await db["waitlist"].insert_many([
        {**entry, "_id": waiting_id, "trainee_id": waiting_trainee["_id"], "status": "waiting"},
        {**entry, "_id": offered_id, "trainee_id": offered_trainee["_id"], "status": "offered",
         "offer_until": datetime.now(UTC) + timedelta(hours=1)},
        {**entry, "_id": lapsed_id, "trainee_id": lapsed_trainee["_id"], "status": "lapsed"},
    ])
    # What a crash, a bug or a hand edit could leave: a cancelled enrollment still seated, a live one
    # without its seat, a seat whose enrollment never came (long ago), a wrong count, a hold for a lapsed
    # offer but none for the live one, and the waiting entry missing from the line.
    await db["enrollments"].update_one({"_id": docs["cancelled"]["_id"]}, {"$set": {"status": "cancelled"},
                                                                           "$unset": {"active": ""}})
    await db["sessions"].update_one({"_id": sid}, {"$set": {
        "holders": [docs["kept"]["_id"], docs["cancelled"]["_id"], orphan], "seats_taken": 7,
        "held_for": [lapsed_id], "waiting": []}})
    with caplog.at_level(logging.WARNING, logger="server.services.catalog.reconcile"):
        repaired = await services.reconciler.reconcile()
    assert await seat_problems(db, sid) == []
    stored = await db["sessions"].find_one({"_id": sid})
    assert set(stored["holders"]) == {docs["kept"]["_id"], docs["unseated"]["_id"]}
    # The live offer holds its seat again, and the seat left free went to the one waiting (same transaction).
    assert set(stored["held_for"]) == {offered_id, waiting_id} and stored["waiting"] == []
    assert (await db["waitlist"].find_one({"_id": waiting_id}))["status"] == "offered"
    lines = [r.getMessage() for r in caplog.records]
    assert repaired == len(lines) >= 6, lines
    assert all(session["code"] in line for line in lines)
    for needle in (f"seat of enrollment {docs['cancelled']['_id']} released (its status: cancelled)",
                   f"seat of enrollment {orphan} released (its status: missing)",
                   f"seat given back to enrollment {docs['unseated']['_id']}",
                   f"seat held for waitlist entry {lapsed_id} released",
                   f"seat held again for the offer of waitlist entry {offered_id}",
                   "seats_taken 7 → 2"):
        assert any(needle in line for line in lines), (needle, lines)
    audit, _ = await services.audit.list(action="seats.reconcile", subject_id=sid)
    assert len(audit) == 1 and len(audit[0]["details"]["repairs"]) == repaired
    told = await wait_for_lines(settings.notify_outbox, 1)  # after the commit, by the job runner
    assert str(waiting_trainee["_id"]) in json.dumps(told)
    assert await services.reconciler.reconcile() == 0  # and then there is nothing left to do


async def test_a_consistent_session_is_left_alone(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services, capacity=1)
    holder, waiting = await make_trainees(db, 2)
    await enroll(services.enrollments, holder, session)
    await services.enrollments.join_waitlist(as_trainee(waiting), str(session["_id"]), None)
    before = await db["sessions"].find_one({"_id": session["_id"]})
    assert await services.reconciler.reconcile() == 0
    assert await db["sessions"].find_one({"_id": session["_id"]}) == before
    assert await services.audit.list(action="seats.reconcile") == ([], 0)


async def test_the_states_of_the_design_before_the_ledger_are_settled(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    """A ``reserving`` enrollment (kept if seated, dropped if not) and an ``offering`` entry (back in line)."""
    session = await make_session(services, capacity=3)
    seated, unseated, entry_id = _old_id(), _old_id(), _old_id()
    a, b, c = await make_trainees(db, 3)
    for eid, trainee in ((seated, a), (unseated, b)):
        await db["enrollments"].insert_one({"_id": eid, "session_id": session["_id"], "course_id": session["course_id"],
                                            "trainee_id": trainee["_id"], "status": "reserving", "active": True,
                                            "created_at": OLD})
    await db["waitlist"].insert_one({"_id": entry_id, "session_id": session["_id"], "course_id": session["course_id"],
                                     "trainee_id": c["_id"], "status": "offering", "active": True, "created_at": OLD})
    await db["sessions"].update_one({"_id": session["_id"]}, {"$set": {"holders": [seated], "seats_taken": 1}})
    await services.reconciler.reconcile()
    assert (await db["enrollments"].find_one({"_id": seated}))["status"] == "pending_payment"
    assert await db["enrollments"].find_one({"_id": unseated}) is None
    assert (await db["waitlist"].find_one({"_id": entry_id}))["status"] == "offered"  # back in line, then handed a seat
    assert await seat_problems(db, session["_id"]) == []


# ---- racing the rush: a seat taken by an enrollment in flight is not taken away -------------------------

async def _slow_inserts(collection: str, method: str) -> None:
    # Widens the moment between an enrollment's seat and its insert, for both runs.
    if collection == "enrollments" and method == "insert_one":
        await asyncio.sleep(0.1)


async def _rush_while_reconciling(services: Services, db: AsyncDatabase[dict[str, Any]],
                                  reconciler: SeatReconciler) -> list[ObjectId]:
    """40 enroll at once for 20 seats while reconciliation runs again and again; the enrollments
    whose seat reconciliation took away (a seat it found without its enrollment, then inserted)."""
    session = await make_session(services, capacity=20)
    trainees = await make_trainees(db, 40)
    enrollments = rewire(services, db=FaultyDatabase(db, FaultPlan(before_write=_slow_inserts)))
    done = asyncio.Event()

    async def one(trainee: dict[str, Any]) -> None:
        try:
            await enroll(enrollments, trainee, session)
        except errors.AppError as refusal:
            assert refusal.code == "session_full"

    async def reconcile_until_done() -> None:
        while not done.is_set():
            await reconciler.reconcile_session(session["_id"])

    job = asyncio.create_task(reconcile_until_done())
    await asyncio.gather(*(one(t) for t in trainees))
    done.set()
    await job
    audit, _ = await services.audit.list(action="seats.reconcile", subject_id=session["_id"], limit=1000)
    released = [ObjectId(m) for entry in audit for repair in entry["details"]["repairs"]
                for m in re.findall(r"seat of enrollment ([0-9a-f]{24}) released", repair)]
    return [e["_id"] async for e in db["enrollments"].find({"_id": {"$in": released}})]


async def test_reconciling_during_a_rush_leaves_seats_in_flight_alone(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    for _ in range(3):
        assert await _rush_while_reconciling(services, db, services.reconciler) == []


async def test_control_without_the_in_flight_margin_seats_are_taken_away(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    hasty = later_reconciler(services, db)  # its clock an hour ahead: every seat without an enrollment looks stale
    outcomes = [await _rush_while_reconciling(services, db, hasty) for _ in range(5)]
    assert any(outcomes), outcomes  # enrollments (inserted) whose seat was given away meanwhile


async def test_reconciliation_is_a_periodic_job_of_the_server(services: Services) -> None:
    start_jobs(services)
    assert "reconcile_seats" in {task.name for task in services.runner.periodic}
    await services.close()
