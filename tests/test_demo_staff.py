"""The demo data loads, with the demo unit and its bound staff."""

from __future__ import annotations

from server.demo import load_demo
from server.demo.staff import DEMO_USCC
from server.services.container import Services


async def test_demo_unit_has_staff(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None and any("演示单位" in line for line in lines)
    unit = await services.accounts.find_by_login(DEMO_USCC)  # the demo has other units (one waiting for review)
    assert unit is not None
    assert await services.db["accounts"].count_documents({"trainee.unit_id": unit["_id"]}) == 3
