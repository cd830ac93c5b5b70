"""The notification outbox: a failing notifier never fails the action; the message goes out once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.integrations.notifier import Notifier
from server.services.catalog.waitlist import WaitlistService
from server.services.container import Services, build_services
from tests.outbox import read_outbox
from tests.services.enrollment.test_enrollments import as_trainee, make_session, make_trainees


@pytest.fixture
async def broken(make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]],
                 tmp_path: Path) -> AsyncIterator[tuple[Services, Path]]:
    """Services whose notifier cannot write: its outbox folder is a plain file (removed to "fix" it)."""
    blocker = tmp_path / "notifier-down"
    blocker.write_text("not a folder")
    settings = make_settings(notify_outbox=blocker / "notify.jsonl", jobs_backoff_seconds=0.3,
                             jobs_poll_seconds=0.05)
    built = build_services(settings, db)
    built.runner.start()
    try:
        yield built, blocker
    finally:
        await built.close()


async def _offer_after_a_cancel(services: Services, db: AsyncDatabase[dict[str, Any]]) -> dict[str, Any]:
    """A full session, one trainee in line; the enrolled one cancels: the seat is offered. The line's entry."""
    session = await make_session(services, capacity=1)
    first, waiting = await make_trainees(db, 2)
    sid = str(session["_id"])
    enrolled = await services.enrollments.enroll(first, sid, by=as_trainee(first), address_id=None, ip=None)
    await services.enrollments.join_waitlist(as_trainee(waiting), sid, None)
    cancelled = await services.enrollments.cancel(as_trainee(first), str(enrolled["_id"]), ip=None)
    assert cancelled["status"] == "cancelled"
    return waiting


async def _wait(predicate: Any, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_failing_notifier_never_fails_the_cancel(broken: tuple[Services, Path],
                                                         db: AsyncDatabase[dict[str, Any]]) -> None:
    services, blocker = broken
    waiting = await _offer_after_a_cancel(services, db)
    assert (await db["waitlist"].find_one({"trainee_id": waiting["_id"]}))["status"] == "offered"

    async def retried_twice() -> bool:
        job = await db["jobs"].find_one({"kind": "notify"})
        return job is not None and job["attempts"] >= 2 and job["status"] == "failed"

    await _wait(retried_twice)
    job = await db["jobs"].find_one({"kind": "notify"})
    assert job["last_error"].startswith(("NotADirectoryError", "FileExistsError")), job["last_error"]
    assert job["run_at"] > job["failed_at"]  # backing off
    blocker.unlink()  # the notifier is back

    async def sent() -> bool:
        return (await db["jobs"].find_one({"_id": job["_id"]}))["status"] == "done"

    await _wait(sent)
    await asyncio.sleep(0.5)  # nothing more comes
    lines = read_outbox(blocker / "notify.jsonl")
    assert len(lines) == 1 and lines[0]["kind"] == "waitlist_offer"
    assert lines[0]["account_id"] == str(waiting["_id"]) and lines[0]["data"]["notification_id"] == str(job["_id"])


class _NotifiesDirectly(WaitlistService):
    """Control: the offer calls the notifier inside the action, as before the outbox."""

    def __init__(self, *args: Any, notifier: Notifier, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notifier = notifier

    async def _offer(self, entry: dict[str, Any], session: dict[str, Any]) -> None:
        await super()._offer(entry, session)
        await self.notifier.notify(entry["trainee_id"], "waitlist_offer", "有空位了")


async def test_control_a_direct_notifier_call_fails_the_cancel(broken: tuple[Services, Path],
                                                               db: AsyncDatabase[dict[str, Any]]) -> None:
    services, _ = broken
    services.enrollments.waitlist = _NotifiesDirectly(db, seats=services.seats, jobs=services.jobs, audit=services.audit,
                                                      notifier=services.notifier)
    with pytest.raises(OSError):
        await _offer_after_a_cancel(services, db)


async def test_an_offer_is_queued_once_per_recipient(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    await services.runner.stop()
    waiting = await _offer_after_a_cancel(services, db)
    entry = await db["waitlist"].find_one({"trainee_id": waiting["_id"]})
    session = await db["sessions"].find_one({"_id": entry["session_id"]})
    # the offer step replayed (a repair racing the first run): the outbox keeps one message
    await db["waitlist"].update_one({"_id": entry["_id"]}, {"$set": {"status": "offering"}})
    await services.enrollments.waitlist._offer(entry, session)
    assert await db["jobs"].count_documents({"kind": "notify"}) == 1
