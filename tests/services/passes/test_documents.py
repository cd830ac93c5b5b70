"""A unit's passes of one session as one PDF: its own approved enrollments only, one page each."""

from __future__ import annotations

import re

import pytest
from bson import ObjectId

from server.errors import AppError
from server.services import Principal
from server.services.container import Services
from tests.services.enrollment.helpers import make_session, make_trainees
from tests.services.passes.helpers import approve


async def test_unit_download_has_one_page_per_approved_staff_enrollment(services: Services) -> None:
    unit, other_unit = Principal(ObjectId(), "unit"), Principal(ObjectId(), "unit")
    session = await make_session(services)
    staff = await make_trainees(services.db, 3, unit_id=unit.account_id)
    for i, trainee in enumerate(staff):
        doc = await services.enrollments.enroll(trainee, str(session["_id"]), by=unit, address_id=None, ip=None)
        if i < 2:  # the third is still unpaid: no pass
            await approve(services, doc["_id"])
    _, content_type, pdf = await services.pass_documents.of_unit_session(unit, str(session["_id"]))
    assert content_type == "application/pdf" and len(re.findall(rb"/Type /Page[^s]", pdf)) == 2
    assert await services.db["passes"].count_documents({"unit_id": unit.account_id, "status": "valid"}) == 2
    with pytest.raises(AppError) as refused:
        await services.pass_documents.of_unit_session(other_unit, str(session["_id"]))
    assert refused.value.status == 404
