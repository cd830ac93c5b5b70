"""The enrollment lifecycle: the table, every forbidden transition refused, rejection deadlines, retakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.enrollments import EnrollmentStatus
from server.services.container import Services
from server.services.enrollment import lifecycle
from tests.services.enrollment.helpers import as_trainee, enroll, make_session, make_trainees

S = EnrollmentStatus

# The README's table, written out: a change to the lifecycle must change this too.
EXPECTED = {
    S.pending_payment: {S.payment_submitted, S.cancelled, S.expired},
    S.payment_submitted: {S.approved, S.rejected},
    S.approved: {S.completed, S.completed_passed, S.completed_failed, S.absent},
    S.rejected: {S.payment_submitted, S.cancelled, S.expired},
    S.cancelled: set(),
    S.expired: set(),
    S.completed: {S.completed_passed, S.completed_failed, S.absent},  # published results refine it
    S.completed_passed: {S.completed_failed, S.absent},  # corrections after publishing
    S.completed_failed: {S.completed_passed, S.absent},
    S.absent: {S.completed_passed, S.completed_failed},
}


def test_the_table_is_the_documented_one() -> None:
    assert {k: set(v) for k, v in lifecycle.ALLOWED.items()} == EXPECTED
    for source in S:
        for target in S:
            assert lifecycle.allowed(source, target) == (target in EXPECTED[source])


@pytest.mark.parametrize("transition", list(lifecycle.TRANSITIONS.values()), ids=lambda t: t.name)
async def test_every_forbidden_transition_is_refused(
    services: Services, db: AsyncDatabase[dict[str, Any]], transition: lifecycle.Transition
) -> None:
    """From each state outside the transition's sources the guarded update finds nothing; from a
    source it moves (a positive control in the same test)."""
    session = await make_session(services, capacity=20)
    trainees = await make_trainees(db, len(S))
    service = services.enrollments
    for trainee, status in zip(trainees, S, strict=True):
        doc = await enroll(service, trainee, session)
        payment_id = ObjectId()
        await db["enrollments"].update_one({"_id": doc["_id"]},
                                           {"$set": {"status": str(status), "payment_id": payment_id}})
        moved = await service._transition({"_id": doc["_id"]}, transition)
        after = await db["enrollments"].find_one({"_id": doc["_id"]})
        assert after is not None
        if status in transition.sources:
            assert moved is not None and after["status"] == str(transition.target), (transition.name, status)
        else:
            assert moved is None and after["status"] == str(status), (transition.name, status)


async def test_a_cancel_under_review_is_refused_with_its_reason(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    session = await make_session(services)
    [trainee] = await make_trainees(db, 1)
    doc = await enroll(services.enrollments, trainee, session)
    assert await services.enrollments.mark_payment_submitted([doc["_id"]], ObjectId()) == [doc["_id"]]
    with pytest.raises(errors.AppError) as refused:
        await services.enrollments.cancel(as_trainee(trainee), str(doc["_id"]), ip=None)
    assert refused.value.status == 409 and refused.value.code == "under_review"


async def test_a_rejection_gives_a_new_deadline_then_expires(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    session = await make_session(services, capacity=5)
    [trainee] = await make_trainees(db, 1)
    service = services.enrollments
    doc = await enroll(service, trainee, session)
    payment_id = ObjectId()
    await service.mark_payment_submitted([doc["_id"]], payment_id)
    before = datetime.now(UTC)
    [rejected] = await service.decide_payment([doc["_id"]], payment_id, approved=False, reason="金额不符")
    term = timedelta(days=services.settings.payment_term_days)
    assert rejected["status"] == "rejected" and rejected["rejection"]["reason"] == "金额不符"
    assert before + term - timedelta(milliseconds=1) <= rejected["pay_by"].replace(tzinfo=UTC) <= datetime.now(UTC) + term
    assert await service.expire_unpaid() == 0  # within its new deadline: kept
    await db["enrollments"].update_one({"_id": doc["_id"]}, {"$set": {"pay_by": datetime.now(UTC) - timedelta(1)}})
    assert await service.expire_unpaid() == 1
    after = await db["enrollments"].find_one({"_id": doc["_id"]})
    assert after is not None and after["status"] == "expired" and "active" not in after
    assert (await db["sessions"].find_one({"_id": session["_id"]}))["seats_taken"] == 0


async def test_a_finished_course_may_be_taken_again(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    session = await make_session(services)
    [trainee] = await make_trainees(db, 1)
    service = services.enrollments
    first = await enroll(service, trainee, session)
    payment_id = ObjectId()
    await service.mark_payment_submitted([first["_id"]], payment_id)
    await service.decide_payment([first["_id"]], payment_id, approved=True)
    again = await make_session(services, course={"_id": session["course_id"]})
    with pytest.raises(errors.AppError) as refused:  # control: while approved, the course is taken
        await enroll(service, trainee, again)
    assert refused.value.code == "already_enrolled"
    assert await service.finish(session_id=session["_id"]) == 1
    done = await db["enrollments"].find_one({"_id": first["_id"]})
    assert done is not None and done["status"] == "completed" and "active" not in done
    retake = await enroll(service, trainee, again)
    assert retake["status"] == "pending_payment"
    assert await service.finish(enrollment_ids=[retake["_id"]]) == 0  # unpaid: not finished


async def test_sessions_that_ended_are_finished_by_the_periodic_task(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    session = await make_session(services)
    [trainee] = await make_trainees(db, 1)
    doc = await enroll(services.enrollments, trainee, session)
    await db["enrollments"].update_one({"_id": doc["_id"]}, {"$set": {"status": "approved"}})
    assert await services.enrollments.finish_ended_sessions() == 0  # not ended yet
    await db["sessions"].update_one({"_id": session["_id"]}, {"$set": {"end_date": "2020-01-02"}})
    assert await services.enrollments.finish_ended_sessions() == 1
