"""Eligibility is judged before inputs: who may enroll first, then what they sent (issue 10)."""

from __future__ import annotations

from typing import Any

from server.config import Settings
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.handlers.enrollment.test_enrollments import add_address, enroll, new_session, trainee_with_photo


async def test_an_enrolled_person_without_an_address_is_told_already_enrolled(
    api: ApiClient, settings: Settings, db: Any, services: Services
) -> None:
    admin = await factories.staff_token(services)
    sid = await new_session(api, admin, mails_books=True)
    token, _ = await trainee_with_photo(api, settings, db)
    address_id = await add_address(api, token)
    assert (await enroll(api, token, sid)).status == 201
    # The address template is gone: the second try lacks an input, but it is not eligible at all.
    assert (await api.delete(f"/api/v1/addresses/{address_id}", token=token)).status in (200, 204)
    before = await db["enrollments"].count_documents({})
    again = await enroll(api, token, sid)
    assert again.status == 409 and again.error_code == "already_enrolled", again.body
    assert await db["enrollments"].count_documents({}) == before


async def test_a_closed_session_is_refused_before_the_address(
    api: ApiClient, settings: Settings, db: Any, services: Services
) -> None:
    admin = await factories.staff_token(services)
    sid = await new_session(api, admin, mails_books=True, publish=False)
    token, _ = await trainee_with_photo(api, settings, db)  # and no address
    r = await enroll(api, token, sid)
    assert r.status == 409 and r.error_code == "session_not_open", r.body
