"""Issuing passes: lazily, once per enrollment under concurrency; re-issue; revoked with the enrollment."""

from __future__ import annotations

import asyncio

import pytest

from server.errors import AppError
from server.models.results import ResultIn
from server.services.container import Services
from server.services.passes.tokens import verify
from tests.services.enrollment.helpers import as_trainee, enroll, make_session, make_trainees
from tests.services.passes.helpers import approved_enrollments
from tests.services.results.helpers import REVIEWER


async def test_pass_is_issued_on_first_request_and_verifies(services: Services) -> None:
    session, [enrollment] = await approved_enrollments(services)
    me = as_trainee({"_id": enrollment["trainee_id"]})
    first = await services.passes.pass_for(me, str(enrollment["_id"]))
    again = await services.passes.pass_for(me, str(enrollment["_id"]))
    assert first["serial"] == again["serial"]
    payload = verify(first["token"], await services.passes.keyring.public_keys())
    assert payload.serial_hex == first["serial"]
    assert payload.session_number == await services.passes.numbers.known(session["_id"])
    assert payload.valid_to - payload.valid_from == 3 * 86400  # three training days, Beijing midnight to midnight
    key = await services.db["pass_keys"].find_one({"_id": payload.kid})
    assert key is not None and "private" not in str(key) and key["valid_until"] == first["valid_to"]


async def test_twenty_concurrent_first_requests_issue_one_pass(services: Services) -> None:
    _, [enrollment] = await approved_enrollments(services)
    me = as_trainee({"_id": enrollment["trainee_id"]})
    docs = await asyncio.gather(*(services.passes.pass_for(me, str(enrollment["_id"])) for _ in range(20)))
    assert len({d["serial"] for d in docs}) == 1
    assert await services.db["passes"].count_documents({"enrollment_id": enrollment["_id"]}) == 1


async def test_not_approved_and_others_enrollments_are_refused(services: Services) -> None:
    session = await make_session(services)
    [trainee, other] = await make_trainees(services.db, 2)
    doc = await enroll(services.enrollments, trainee, session)
    with pytest.raises(AppError) as refused:
        await services.passes.pass_for(as_trainee(trainee), str(doc["_id"]))
    assert refused.value.code == "not_approved"
    with pytest.raises(AppError) as hidden:
        await services.passes.pass_for(as_trainee(other), str(doc["_id"]))
    assert hidden.value.status == 404
    assert await services.db["passes"].count_documents({}) == 0


async def test_reissue_revokes_the_old_serial(services: Services) -> None:
    _, [enrollment] = await approved_enrollments(services)
    me = as_trainee({"_id": enrollment["trainee_id"]})
    old = await services.passes.pass_for(me, str(enrollment["_id"]))
    new = await services.passes.reissue(me, str(enrollment["_id"]), ip=None)
    assert new["serial"] != old["serial"]
    stored_old = await services.db["passes"].find_one({"serial": old["serial"]})
    assert stored_old is not None and stored_old["status"] == "revoked" and stored_old["reason"] == "reissued"
    assert (await services.passes.pass_for(me, str(enrollment["_id"])))["serial"] == new["serial"]


async def test_an_enrollment_that_leaves_revokes_its_pass(services: Services) -> None:
    _, [enrollment] = await approved_enrollments(services)
    me = as_trainee({"_id": enrollment["trainee_id"]})
    issued = await services.passes.pass_for(me, str(enrollment["_id"]))
    # No service moves an approved enrollment back yet (a refund is done outside the system); its stand-in:
    await services.db["enrollments"].update_one({"_id": enrollment["_id"]}, {"$set": {"status": "rejected"}})
    await services.enrollments.cancel(me, str(enrollment["_id"]), ip=None)
    stored = await services.db["passes"].find_one({"serial": issued["serial"]})
    assert stored is not None and stored["status"] == "revoked" and stored["reason"] == "cancelled"


async def test_after_the_results_the_pass_stays_readable_but_none_is_issued(services: Services) -> None:
    session, [taken, never] = await approved_enrollments(services, 2)
    taken_pass = await services.passes.pass_for(as_trainee({"_id": taken["trainee_id"]}), str(taken["_id"]))
    for doc in (taken, never):
        await services.results.enter(REVIEWER, str(doc["_id"]), ResultIn(score=80), ip=None)
    await services.results.publish(REVIEWER, str(session["_id"]), ip=None)
    again = await services.passes.pass_for(as_trainee({"_id": taken["trainee_id"]}), str(taken["_id"]))
    assert again["serial"] == taken_pass["serial"]
    with pytest.raises(AppError) as refused:
        await services.passes.pass_for(as_trainee({"_id": never["trainee_id"]}), str(never["_id"]))
    assert refused.value.code == "not_approved"
    assert await services.db["passes"].count_documents({"enrollment_id": never["_id"]}) == 0
