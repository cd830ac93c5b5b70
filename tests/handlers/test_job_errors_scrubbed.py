"""后台任务 shows a job's last error with personal numbers masked (an exception may quote its input)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.services.container import Services
from tests.client import ApiClient
from tests.factories import staff_token

pytestmark = pytest.mark.usefixtures("db")


async def test_last_error_is_scrubbed(api: ApiClient, services: Services) -> None:
    admin = await staff_token(services, "admin")
    await services.jobs.enqueue("unclaimed_kind", {}, max_attempts=1)
    job = await services.jobs.claim("test", ["unclaimed_kind"], timedelta(minutes=1))
    assert job is not None
    await services.jobs.fail(job, "test", "ValueError: 11010519491231002X 13912345678 zhang@example.com")
    [item] = (await api.get("/api/v1/admin/jobs?status=dead", token=admin)).json["items"]
    assert item["last_error"] == "ValueError: 1101**********002X 139****5678 ***@***"
