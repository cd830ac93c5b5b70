"""The audit list filtered by actor, subject, action and time range, paginated, admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.services.container import Services
from tests.client import ApiClient
from tests.factories import staff_token

pytestmark = pytest.mark.usefixtures("db")

AUDIT = "/api/v1/admin/audit?"


async def _seed(db: AsyncDatabase[dict[str, Any]]) -> tuple[ObjectId, ObjectId, datetime]:
    alice, bob = ObjectId(), ObjectId()
    base = datetime(2026, 11, 1, tzinfo=UTC)
    await db["audit_log"].insert_many([
        {"at": base + timedelta(days=i), "action": "account.disable" if i % 2 else "job.retry",
         "actor_id": alice if i < 3 else bob, "actor_role": "admin", "subject": f"user{i % 2}",
         "subject_id": None, "ip": "127.0.0.1", "details": {}}
        for i in range(6)
    ])
    return alice, bob, base


async def _list(api: ApiClient, token: str, **params: Any) -> dict[str, Any]:
    r = await api.get(AUDIT + urlencode(params), token=token)
    assert r.status == 200, r.body
    return r.json  # type: ignore[no-any-return]


async def test_each_filter_narrows_and_they_combine(api: ApiClient, services: Services,
                                                   db: AsyncDatabase[dict[str, Any]]) -> None:
    admin = await staff_token(services, "admin")
    alice, bob, base = await _seed(db)
    mine = {"action": "account.disable"}  # leaves out the staff_token's own create_staff entry
    assert (await _list(api, admin, actor_id=str(alice)))["total"] == 3
    assert (await _list(api, admin, actor_id=str(bob), **mine))["total"] == 2
    assert (await _list(api, admin, subject="user1"))["total"] == 3
    since, until = (base + timedelta(days=2)).isoformat(), (base + timedelta(days=4)).isoformat()
    page = await _list(api, admin, since=since, until=until)
    assert [e["at"][:10] for e in page["items"]] == ["2026-11-04", "2026-11-03"]  # newest first, until excluded
    both = await _list(api, admin, actor_id=str(alice), subject="user1", since=since)
    assert both["total"] == 0
    backwards = await _list(api, admin, since=until, until=since)
    assert backwards["total"] == 0 and backwards["items"] == []
    paged = await _list(api, admin, actor_id=str(alice), page=2, page_size=2)
    assert paged["total"] == 3 and len(paged["items"]) == 1


@pytest.mark.parametrize("params", [
    {"actor_id": "nope"}, {"subject_id": "123"}, {"since": "yesterday"}, {"subject": "x" * 65},
])
async def test_bad_filters_are_422(api: ApiClient, services: Services, params: dict[str, str]) -> None:
    admin = await staff_token(services, "admin")
    r = await api.get(AUDIT + urlencode(params), token=admin)
    assert r.status == 422, r.body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json["error"]["message"])


@pytest.mark.parametrize("role", ["reviewer", "scanner"])
async def test_only_admins_read_the_trail(api: ApiClient, services: Services, role: str) -> None:
    assert (await api.get(AUDIT, token=await staff_token(services, role))).status == 403
