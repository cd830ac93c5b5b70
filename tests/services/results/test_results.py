"""Results: drafts invisible until published, verdicts from the pass mark, publishing finishes the
enrollments in one transaction, audited corrections."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.services import Principal
from server.services.container import Services
from tests.services.enrollment.helpers import enroll, make_session
from tests.services.payments.helpers import make_unit, unpaid
from tests.services.results.helpers import REVIEWER, approved, published, score


async def _refused(coro: Any) -> errors.AppError:
    with pytest.raises(errors.AppError) as caught:
        await coro
    return caught.value


async def test_drafts_are_invisible_to_trainees_and_units_until_published(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    trainees, docs = await approved(services, db, 2, unit=unit)
    for doc, value in zip(docs, (88, 40), strict=True):
        await services.results.enter(REVIEWER, str(doc["_id"]), score(value), ip=None)
    me = Principal(trainees[0]["_id"], "trainee")
    assert await services.results.list_visible(me, session_id=None, skip=0, limit=20) == ([], 0)
    assert await services.results.list_visible(unit, session_id=None, skip=0, limit=20) == ([], 0)
    roster = await services.results.roster(str(docs[0]["session_id"]))
    assert roster.drafts == 2 and roster.published == 0

    await services.results.publish(REVIEWER, str(docs[0]["session_id"]), ip=None)
    mine, total = await services.results.list_visible(me, session_id=None, skip=0, limit=20)
    assert total == 1 and mine[0].score == 88 and mine[0].verdict == "passed" and mine[0].verdict_label == "合格"
    staff, total = await services.results.list_visible(unit, session_id=str(docs[0]["session_id"]), skip=0, limit=20)
    assert total == 2 and sorted(r.verdict for r in staff) == ["failed", "passed"]
    other_unit = await make_unit(db, "另一家单位")
    assert await services.results.list_visible(other_unit, session_id=None, skip=0, limit=20) == ([], 0)


async def test_publishing_finishes_each_enrollment_with_its_verdict_and_a_failed_trainee_may_enroll_again(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, docs = await published(services, db, [60, 59, None])  # pass mark 60
    statuses = [e["status"] for e in await db["enrollments"].find().sort("_id", 1).to_list()]
    assert statuses == ["completed_passed", "completed_failed", "absent"]
    assert not any(e.get("active") for e in await db["enrollments"].find().to_list())
    notices = await db["jobs"].find({"kind": "notify", "payload.kind": "results_published"}).to_list()
    assert len(notices) == 3
    session = await db["sessions"].find_one({"_id": docs[0]["session_id"]})
    assert session is not None
    later = await make_session(services, course=await services.catalog.get_course(session["course_id"]))
    again = await enroll(services.enrollments, trainees[1], later)  # the failed one retakes the course
    assert again["status"] == "pending_payment"


async def test_publish_needs_every_result_and_writes_nothing_otherwise(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    _, docs = await approved(services, db, 2)
    await services.results.enter(REVIEWER, str(docs[0]["_id"]), score(90), ip=None)
    refused = await _refused(services.results.publish(REVIEWER, str(docs[0]["session_id"]), ip=None))
    assert refused.code == "results_missing" and refused.details == {"enrollment_ids": [str(docs[1]["_id"])]}
    assert await db["results"].count_documents({"status": "published"}) == 0
    assert {e["status"] for e in await db["enrollments"].find().to_list()} == {"approved"}


async def test_only_approved_enrollments_get_a_result(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    _, docs = await unpaid(services, db, 1)
    refused = await _refused(services.results.enter(REVIEWER, str(docs[0]["_id"]), score(90), ip=None))
    assert refused.code == "not_sitting" and await db["results"].count_documents({}) == 0
    refused = await _refused(services.results.enter(REVIEWER, str(ObjectId()), score(90), ip=None))
    assert refused.status == 404


async def test_a_correction_after_publishing_needs_a_reason_and_is_audited_with_old_and_new(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    _, docs = await published(services, db, [50])
    eid = str(docs[0]["_id"])
    refused = await _refused(services.results.enter(REVIEWER, eid, score(70), ip=None))
    assert refused.status == 422 and (await db["results"].find_one())["score"] == 50  # type: ignore[index]
    out = await services.results.enter(REVIEWER, eid, score(70, "阅卷复核加分"), ip=None)
    assert out.score == 70 and out.verdict == "passed" and out.status == "published"
    enrollment = await db["enrollments"].find_one({"_id": docs[0]["_id"]})
    assert enrollment is not None and enrollment["status"] == "completed_passed"
    trail = await db["audit_log"].find_one({"action": "result.correct"})
    assert trail is not None and trail["details"] == {"old_score": 50, "old_verdict": "failed", "new_score": 70,
                                                      "new_verdict": "passed", "reason": "阅卷复核加分"}
    result = await db["results"].find_one()
    assert result is not None and [c["reason"] for c in result["corrections"]] == ["阅卷复核加分"]
    # The trainee, who saw 不合格, is told in the same transaction.
    notices = await db["jobs"].find({"kind": "notify", "payload.kind": "results_published"}).sort("_id", 1).to_list()
    assert len(notices) == 2 and "已更正：合格" in notices[1]["payload"]["text"]


async def test_two_publishes_at_once_one_wins(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    _, docs = await approved(services, db, 3)
    for doc in docs:
        await services.results.enter(REVIEWER, str(doc["_id"]), score(80), ip=None)
    outcomes = await asyncio.gather(*(services.results.publish(REVIEWER, str(docs[0]["session_id"]), ip=None)
                                      for _ in range(2)), return_exceptions=True)
    wins = [o for o in outcomes if not isinstance(o, BaseException)]
    losses = [o for o in outcomes if isinstance(o, errors.AppError)]
    assert len(wins) == 1 and wins[0].published == 3 and [o.code for o in losses] == ["nothing_to_publish"]
    assert await db["jobs"].count_documents({"kind": "notify", "payload.kind": "results_published"}) == 3


async def test_a_session_finished_by_the_clock_is_refined_by_publishing(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    _, docs = await approved(services, db, 2)
    await services.results.enter(REVIEWER, str(docs[0]["_id"]), score(95), ip=None)  # a draft
    services.enrollments.now = lambda: docs[0]["created_at"] + timedelta(days=60)  # after the end date
    assert await services.enrollments.finish_ended_sessions() == 2
    assert {e["status"] for e in await db["enrollments"].find().to_list()} == {"completed"}
    await services.results.enter(REVIEWER, str(docs[1]["_id"]), score(None), ip=None)
    await services.results.publish(REVIEWER, str(docs[0]["session_id"]), ip=None)
    statuses = [e["status"] for e in await db["enrollments"].find().sort("_id", 1).to_list()]
    assert statuses == ["completed_passed", "absent"]
