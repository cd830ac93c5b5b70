"""Helpers of the results and certificate tests: a session whose enrollments are paid and approved."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.models.passes import CheckinCreate
from server.models.results import ResultIn
from server.services import Principal
from server.services.container import Services
from tests.clock import Clock
from tests.services.passes.helpers import SCANNER, checkins_at, training_day
from tests.services.payments.helpers import proof_png, submit_body, unpaid

REVIEWER = Principal(ObjectId(), "reviewer")


async def approved(services: Services, db: AsyncDatabase[dict[str, Any]], n: int = 2, *,
                   unit: Principal | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` trainees in a new session whose payment (one per payer) was approved: (trainees, enrollments)."""
    trainees, docs = await unpaid(services, db, n, unit=unit)
    payers = [unit] if unit else [Principal(t["_id"], "trainee") for t in trainees]
    groups = [docs] if unit else [[d] for d in docs]
    for payer, group in zip(payers, groups, strict=True):
        payment = await services.payments.submit(payer, submit_body(group), [proof_png()], ip=None)
        await services.payments.approve(REVIEWER, str(payment["_id"]), ip=None)
    fresh = await db["enrollments"].find({"_id": {"$in": [d["_id"] for d in docs]}}).sort("_id", 1).to_list()
    return trainees, fresh


def score(value: int | None, reason: str | None = None) -> ResultIn:
    """A result body: a score, or 缺考 for None."""
    return ResultIn(score=value, absent=value is None, reason=reason)


async def published(services: Services, db: AsyncDatabase[dict[str, Any]], scores: list[int | None], *,
                    unit: Principal | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A session whose results (``scores``, None = 缺考) are entered and published."""
    trainees, docs = await approved(services, db, len(scores), unit=unit)
    for doc, value in zip(docs, scores, strict=True):
        await services.results.enter(REVIEWER, str(doc["_id"]), score(value), ip=None)
    await services.results.publish(REVIEWER, str(docs[0]["session_id"]), ip=None)
    return trainees, docs


async def check_in(services: Services, enrollment: dict[str, Any], *days: int, device: str = "door-1") -> None:
    """Scan the enrollment's pass at the door on these training days (0 = the first), through the real
    check-in service on a clock set to each day."""
    pass_doc = await services.passes.ensure(enrollment)
    session = await services.catalog.get_session(enrollment["session_id"])
    for day in days:
        checkins = checkins_at(services, Clock(training_day(session, day)))
        answer = await checkins.scan(SCANNER, CheckinCreate(
            token=pass_doc["token"], session_id=str(session["_id"]),
            client_id=f"{enrollment['_id']}-{day}-{device}", device_id=device))
        assert answer.result in {"ok", "already_checked_in"}, answer
