"""The back office's demo data: a unit waiting for verification, a dead job with a retry to try."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.demo import load_demo
from server.services.container import Services

pytestmark = pytest.mark.usefixtures("db")


async def test_demo_shows_a_pending_unit_and_a_dead_job(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    lines = await load_demo(services)
    assert lines and any("后台演示" in line for line in lines)
    from server.models.binding import UnitVerificationQuery

    pending = await services.unit_verification.list(UnitVerificationQuery(status="pending"))
    assert [u.name for u in pending.items] == ["杭州示例工程咨询有限公司"]
    dead, total = await services.jobs.list(status="dead")
    assert total == 1 and dead[0]["kind"] == "demo_task" and "TimeoutError" in dead[0]["last_error"]
