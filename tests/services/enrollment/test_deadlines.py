"""Deadline-near reminders: once per unpaid enrollment and deadline, to the payer, on the test clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.services.container import Services, start_jobs
from server.services.enrollment.deadlines import DeadlineReminders, reminder_text
from tests.clock import Clock
from tests.services.enrollment.helpers import as_trainee, enroll, make_session, make_trainees


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def reminders_sent(db: AsyncDatabase[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queued ``payment_deadline_near`` notifications' payloads."""
    jobs = db["jobs"].find({"kind": "notify", "payload.kind": "payment_deadline_near"}).sort("created_at", 1)
    return [job["payload"] async for job in jobs]


async def test_a_reminder_once_per_unpaid_enrollment_and_deadline_to_the_payer(
    services: Services, db: AsyncDatabase[dict[str, Any]],
) -> None:
    await services.runner.stop()  # keep the jobs queued, to read them
    session = await make_session(services)
    own, staff, cancelled, submitted = await make_trainees(db, 4)
    mine = await enroll(services.enrollments, own, session)
    by_unit = await enroll(services.enrollments, staff, session)
    unit_id = ObjectId()
    await db["enrollments"].update_one({"_id": by_unit["_id"]}, {"$set": {"unit_id": unit_id}})
    gone = await enroll(services.enrollments, cancelled, session)
    await services.enrollments.cancel(as_trainee(cancelled), str(gone["_id"]), ip=None)
    paid = await enroll(services.enrollments, submitted, session)
    await db["enrollments"].update_one({"_id": paid["_id"]}, {"$set": {"status": "payment_submitted"}})  # under review
    pay_by = _aware((await db["enrollments"].find_one({"_id": mine["_id"]}))["pay_by"])
    clock = Clock(pay_by - timedelta(hours=30))
    reminders = DeadlineReminders(db, jobs=services.jobs, window=timedelta(hours=24), now=clock)

    assert await reminders.remind() == 0 and await reminders_sent(db) == []  # not near yet
    clock.at = pay_by - timedelta(hours=23)
    await asyncio.gather(reminders.remind(), reminders.remind())  # two processes at once
    clock.advance(3600)
    await reminders.remind()  # the next period
    sent = await reminders_sent(db)
    assert sorted(p["account_id"] for p in sent) == sorted([str(own["_id"]), str(unit_id)])  # the unit pays for staff
    note = next(p for p in sent if p["account_id"] == str(own["_id"]))
    assert note["data"] == {"enrollment_id": str(mine["_id"]), "session_title": session["course_name"],
                            "pay_by": pay_by.isoformat(), "amount_fen": 120000}
    assert "岩土工程勘察专项培训" in note["text"] and "1200.00元" in note["text"]

    # A rejection gives a new deadline: that deadline gets its own reminder, once.
    new_pay_by = pay_by + timedelta(days=3)
    await db["enrollments"].update_one({"_id": mine["_id"]}, {"$set": {"status": "rejected", "pay_by": new_pay_by}})
    clock.at = new_pay_by - timedelta(hours=2)
    await reminders.remind()
    await reminders.remind()
    sent = await reminders_sent(db)
    assert len(sent) == 3 and sent[-1]["data"]["pay_by"] == new_pay_by.isoformat()
    clock.at = new_pay_by + timedelta(minutes=1)  # past the deadline: expiry's business, not a reminder
    assert await reminders.remind() == 0


def test_the_reminder_text_is_in_beijing_time() -> None:
    text = reminder_text("安全员继续教育", datetime(2025, 3, 1, 15, 59, tzinfo=UTC), 50005)
    assert "3月1日 23:59" in text and "500.05元" in text and "「安全员继续教育」" in text


async def test_reminders_are_a_periodic_task_of_the_server(services: Services) -> None:
    start_jobs(services)
    assert "remind_payment_deadlines" in {task.name for task in services.runner.periodic}
    await services.close()
