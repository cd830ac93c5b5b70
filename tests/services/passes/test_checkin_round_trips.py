"""The database commands of a check-in (issue 18), counted by a command listener on the services' client.

A first scan: the pass, the enrollment, the insert and the name (the last two side by side). A repeat
scan of a pass this process checked in: the pass, the enrollment, the first check-in — no write.
The answers are those of the full path (tests/services/passes/test_checkins.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.db import make_client
from server.metrics import CommandCounter
from server.services.container import Services, build_services
from tests.clock import Clock
from tests.services.passes.helpers import SCANNER, checkins_at, training_day
from tests.services.passes.test_checkins import issued, scan


@pytest.fixture
async def counted(settings: Settings, db: AsyncDatabase[dict[str, Any]], mongo_url: str
                  ) -> AsyncIterator[tuple[Services, CommandCounter]]:
    """Every service on a client whose commands are counted (the test's database)."""
    counter = CommandCounter()
    client = make_client(mongo_url, event_listeners=[counter])
    built = build_services(settings, client[db.name])
    try:
        yield built, counter
    finally:
        await built.close()
        await client.close()


def _since(counter: CommandCounter, before: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {k: n - before.get(k, 0) for k, n in counter.counts.items() if n - before.get(k, 0)}


async def test_first_and_repeat_scans(counted: tuple[Services, CommandCounter]) -> None:
    services, counter = counted
    session, [p] = await issued(services)
    checkins = checkins_at(services, Clock(training_day(session)))
    await checkins.numbers.known(session["_id"])  # the session's number and the keys: once per process
    await checkins.keyring.public_keys()
    before = dict(counter.counts)
    first = await checkins.scan(SCANNER, scan(p, session, "c1", "door-1"))
    assert first.result == "ok" and first.name == "学员"
    assert _since(counter, before) == {("find", "passes"): 1, ("find", "enrollments"): 1,
                                       ("insert", "checkins"): 1, ("find", "accounts"): 1}
    before = dict(counter.counts)
    again = await checkins.scan(SCANNER, scan(p, session, "c2", "door-2"))
    assert again.result == "already_checked_in" and again.first_device == "door-1"
    assert _since(counter, before) == {("find", "passes"): 1, ("find", "enrollments"): 1, ("find", "checkins"): 1}
    resent = await checkins.scan(SCANNER, scan(p, session, "c1", "door-1"))  # a resend is still "ok"
    assert resent.result == "ok" and resent.name == "学员"
    assert await services.db["checkins"].count_documents({}) == 1
