"""Helpers of the pass tests: approved enrollments (the real enroll, then the real payment review:
a payment with a proof submitted by the payer, approved by a reviewer), a pass service on a settable
clock, sessions moved to training days around a chosen date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bson import ObjectId

from server.services import Principal
from server.services.accounts.identity import SHANGHAI
from server.services.container import Services
from server.services.passes.checkins import CheckinService
from tests.clock import Clock
from tests.services.enrollment.helpers import enroll, make_session, make_trainees
from tests.services.payments.helpers import proof_png, submit_body

SCANNER = Principal(ObjectId(), "scanner")
REVIEWER = Principal(ObjectId(), "reviewer")
PROOF = proof_png()  # one tiny screenshot shared by every payment of these tests


async def approve(services: Services, enrollment_id: ObjectId) -> None:
    """Pay for the enrollment and approve the payment through the payment review (the state machine,
    the audit and the notifications are the real ones): its payer (the unit that enrolled the trainee,
    else the trainee) submits a payment with a proof, a reviewer approves it."""
    enrollment = await services.db["enrollments"].find_one({"_id": enrollment_id})
    assert enrollment is not None
    payer = (Principal(enrollment["unit_id"], "unit") if enrollment.get("unit_id")
             else Principal(enrollment["trainee_id"], "trainee"))
    payment = await services.payments.submit(payer, submit_body([enrollment]), [PROOF], ip=None)
    await services.payments.approve(REVIEWER, str(payment["_id"]), ip=None)


async def approved_enrollments(services: Services, n: int = 1, *, session: dict[str, Any] | None = None,
                               unit_id: ObjectId | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A session and ``n`` enrollments in it, made by the real enroll and then approved."""
    session = session or await make_session(services, capacity=max(30, n))
    trainees = await make_trainees(services.db, n, unit_id=unit_id)
    enrollments = []
    for trainee in trainees:
        doc = await enroll(services.enrollments, trainee, session)
        await approve(services, doc["_id"])
        enrollments.append(await services.db["enrollments"].find_one({"_id": doc["_id"]}))
    return session, enrollments


def training_day(session: dict[str, Any], day: int = 0, at: time = time(8, 30)) -> datetime:
    """A moment (UTC) on the session's ``day``-th training day, Beijing time."""
    start = date.fromisoformat(str(session["start_date"])[:10])
    return datetime.combine(start + timedelta(days=day), at, SHANGHAI).astimezone(UTC)


def checkins_at(services: Services, clock: Clock) -> CheckinService:
    """The check-in service as wired in production, on ``clock``."""
    real = services.checkins
    return CheckinService(services.db, keyring=real.keyring, numbers=real.numbers, passes=real.passes,
                          drift=real.drift, late_after=real.late_after, now=clock)
