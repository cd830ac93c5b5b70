"""The embedded database under ``kill -9``: supervised (reaped, restarted, logged) and losing no acknowledged write.

Each test runs its own SecantusDB on disk (not the session's ``:memory:`` one) and kills it for real.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pymongo
import pytest

from server.db import EmbeddedMongo, make_client, ping

pytestmark = pytest.mark.slow

WRITES = 300


def _zombie(pid: int) -> bool:
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False  # gone: reaped


@pytest.fixture
async def supervised(tmp_path: Path) -> AsyncIterator[EmbeddedMongo]:
    """An on-disk embedded database with its supervisor running in this event loop."""
    database = EmbeddedMongo(tmp_path / "db")
    database.start()
    task = asyncio.create_task(database.supervise(every=0.1, first_backoff=0.1))
    try:
        yield database
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        database.stop()


async def _kill_and_wait_for_restart(database: EmbeddedMongo, timeout: float = 30) -> int:
    """kill -9 the child; return its pid once the supervisor has a new one answering."""
    assert database.process is not None
    killed = database.process.pid
    restarts = database.restarts
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while database.restarts == restarts:
        assert time.monotonic() < deadline, "the supervisor did not restart the database"
        await asyncio.sleep(0.1)
    return killed


async def _write_kill_count(database: EmbeddedMongo, **client_options: Any) -> int:
    client = make_client(database.url, **client_options)
    try:
        things = client["app"]["things"]
        for i in range(WRITES):
            await things.insert_one({"n": i})  # each one acknowledged before the next
        await _kill_and_wait_for_restart(database)
        assert await ping(client["app"], timeout=10)
        return await things.count_documents({})
    finally:
        with pymongo.timeout(2):
            await client.close()


async def test_kill_9_is_reaped_restarted_and_logged(
    supervised: EmbeddedMongo, caplog: pytest.LogCaptureFixture
) -> None:
    port = supervised.port
    with caplog.at_level(logging.WARNING, logger="server.db"):
        killed = await _kill_and_wait_for_restart(supervised)
        killed_again = await _kill_and_wait_for_restart(supervised)
    assert not _zombie(killed) and not _zombie(killed_again)
    assert supervised.port == port and supervised.restarts == 2  # same port (and files): clients reconnect
    messages = [rec.getMessage() for rec in caplog.records]
    assert sum("exited with code -9; restarting" in m for m in messages) == 2, messages
    assert sum("embedded database restarted" in m for m in messages) == 2, messages


async def test_acknowledged_writes_survive_kill_9(supervised: EmbeddedMongo) -> None:
    assert await _write_kill_count(supervised) == WRITES  # the client's journaled default write concern


async def test_control_unjournaled_writes_are_lost_on_kill_9(supervised: EmbeddedMongo) -> None:
    # The same writes acknowledged before the journal: SecantusDB loses the last ones (24–108 of 300 here).
    assert await _write_kill_count(supervised, journal=False) < WRITES
