"""Deadline-near reminders (缴费截止提醒): tell the payer before an unpaid enrollment lapses.

A periodic task (``remind_payment_deadlines``, claimed once per period across all processes by
the job runner) finds enrollments still waiting for a payment — ``pending_payment`` or
``rejected`` (a rejection gives a new ``pay_by``) — whose ``pay_by`` falls within the next
``PAYMENT_REMINDER_HOURS``, and enqueues one ``payment_deadline_near`` notification each, to the
payer: the unit for an enrollment a unit made (``unit_id``), else the trainee.

Once per enrollment and deadline: the job's ``dedupe_key`` is
``payment_deadline_near:<enrollment id>:<pay_by>``, so a second run (the next period, another
process) adds nothing, while a new deadline after a rejection gets its own reminder. The module
writes no enrollment; it only reads them and enqueues.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.services.accounts.identity import SHANGHAI
from server.services.jobs.notify import enqueue_notification
from server.services.jobs.queue import JobQueue

KIND = "payment_deadline_near"
UNPAID = ("pending_payment", "rejected")


def reminder_text(session_title: str, pay_by: datetime, amount_fen: int) -> str:
    """The Chinese sentence of the reminder (SMS and the file outbox)."""
    local = pay_by.astimezone(SHANGHAI)
    yuan = f"{amount_fen // 100}.{amount_fen % 100:02d}"
    return (f"您报名的「{session_title}」尚未缴费（{yuan}元），请于{local.month}月{local.day}日 {local:%H:%M} 前"
            f"完成转账并上传缴费凭证，逾期名额将被释放。")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class DeadlineReminders:
    """The periodic task that enqueues ``payment_deadline_near`` notifications."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, jobs: JobQueue, window: timedelta,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.enrollments = db["enrollments"]
        self.sessions = db["sessions"]
        self.jobs = jobs
        self.window = window
        self.now = now or (lambda: datetime.now(UTC))

    async def remind(self) -> int:
        """Enqueue a reminder for each unpaid enrollment due within the window (idempotent); how many are due."""
        now = self.now()
        titles: dict[Any, str] = {}
        due = 0
        found = self.enrollments.find(
            {"status": {"$in": list(UNPAID)}, "pay_by": {"$gt": now, "$lte": now + self.window}},
            {"session_id": 1, "trainee_id": 1, "unit_id": 1, "pay_by": 1, "fee_fen": 1},
        )
        async for enrollment in found:
            session_id = enrollment["session_id"]
            if session_id not in titles:
                session = await self.sessions.find_one({"_id": session_id}, {"course_name": 1, "code": 1})
                titles[session_id] = str((session or {}).get("course_name") or (session or {}).get("code") or "培训")
            pay_by = _aware(enrollment["pay_by"])
            amount_fen = int(enrollment.get("fee_fen") or 0)
            data = {"enrollment_id": str(enrollment["_id"]), "session_title": titles[session_id],
                    "pay_by": pay_by.isoformat(), "amount_fen": amount_fen}
            key = f"{KIND}:{enrollment['_id']}:{pay_by.isoformat()}"
            payer = enrollment.get("unit_id") or enrollment["trainee_id"]
            await enqueue_notification(self.jobs, payer, KIND, reminder_text(titles[session_id], pay_by, amount_fen),
                                       data, dedupe_key=key)
            due += 1
        return due
