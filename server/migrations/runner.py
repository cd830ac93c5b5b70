"""The migration runner: versioned steps recorded in the database, one runner at a time (a lease).

The ``migrations`` collection holds

* ``{_id: "lock", owner, until}`` — the lease. A runner takes it with one ``find_one_and_update``
  whose filter only matches a lapsed lease (or its own), upserting when there is none: a second
  runner's upsert collides on ``_id`` (DuplicateKeyError) and it waits, polling, until the lease is
  released or lapses (a runner killed mid-step: after ``lease_seconds`` another takes over). The
  holder renews the lease every third of it while a step runs.
* ``{_id: "step:<id>", done_at, version, seconds, result}`` — one per step done. A step whose
  ``version`` is a function (the indexes: a hash of ``server.db.INDEXES``) runs again whenever that
  version changes; a plain step runs once. A failed step records ``last_error`` and is not done:
  the start stops with :class:`MigrationError`, and the next start tries it again.

Steps must be idempotent anyway: a runner can die after a step's effect and before its record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)

COLLECTION = "migrations"
LOCK_ID = "lock"


class MigrationError(RuntimeError):
    """A step failed (or the lease could not be had in time); the message says which and why."""


@dataclass(frozen=True)
class Step:
    """One migration step: ``run(db, context)`` returns a small result to record (or None).

    ``version``: None for a step that runs once; else a function giving the current version of
    what the step applies — the step runs again when it differs from the recorded one.
    ``until_clean``: the step is recorded done only when a run returns a falsy result (nothing
    left to change); until then it runs at every start.
    """

    id: str
    description: str
    run: Callable[[AsyncDatabase[dict[str, Any]], Any], Awaitable[Any]]
    version: Callable[[], str] | None = None
    until_clean: bool = False


@dataclass
class Outcome:
    """What a run did: the ids of the steps it ran, and of those it found done."""

    ran: list[str]
    already_done: list[str]


class MigrationRunner:
    """Runs ``steps`` in order on ``db``, each at most once across processes (see the module doc)."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], steps: tuple[Step, ...], context: Any = None, *,
        lease_seconds: float = 60.0, wait_seconds: float = 600.0, poll_seconds: float = 0.2,
    ) -> None:
        self.db = db
        self.collection = db[COLLECTION]
        self.steps = steps
        self.context = context
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def run(self) -> Outcome:
        """Take the lease (waiting for another runner), run the steps not done, release it."""
        await self._acquire()
        keeper = asyncio.create_task(self._keep_lease(), name="migration-lease")
        try:
            return await self._run_steps()
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await self.collection.delete_one({"_id": LOCK_ID, "owner": self.owner})

    async def status(self) -> list[dict[str, Any]]:
        """Each step with its record: id, description, done_at, version, last_error."""
        records = {doc["_id"]: doc async for doc in self.collection.find({"_id": {"$regex": "^step:"}})}
        rows = []
        for step in self.steps:
            record = records.get(f"step:{step.id}", {})
            current = step.version() if step.version else None
            done = bool(record.get("done_at")) and (current is None or record.get("version") == current)
            rows.append({"id": step.id, "description": step.description, "done": done,
                         "done_at": record.get("done_at"), "version": record.get("version"),
                         "last_error": record.get("last_error")})
        return rows

    async def _run_steps(self) -> Outcome:
        outcome = Outcome([], [])
        for step in self.steps:
            record = await self.collection.find_one({"_id": f"step:{step.id}"}) or {}
            version = step.version() if step.version else None
            if record.get("done_at") and (version is None or record.get("version") == version):
                outcome.already_done.append(step.id)
                continue
            started = time.monotonic()
            log.info("migration step %s: %s", step.id, step.description)
            try:
                result = await step.run(self.db, self.context)
            except Exception as exc:
                await self.collection.update_one(
                    {"_id": f"step:{step.id}"},
                    {"$set": {"last_error": f"{type(exc).__name__}: {exc}", "failed_at": _now()}}, upsert=True)
                raise MigrationError(f"migration step {step.id} ({step.description}) failed: "
                                     f"{type(exc).__name__}: {exc}; fix the cause and start again "
                                     f"(or run `python -m server migrate`)") from exc
            seconds = round(time.monotonic() - started, 3)
            done = {"done_at": _now(), "version": version, "seconds": seconds, "result": result}
            if step.until_clean and result:
                done = {"done_at": None, "last_run_at": _now(), "result": result}
            await self.collection.update_one({"_id": f"step:{step.id}"},
                                             {"$set": done, "$unset": {"last_error": "", "failed_at": ""}},
                                             upsert=True)
            outcome.ran.append(step.id)
        return outcome

    async def _acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        waited = False
        while True:
            if await self._try_lease():
                if waited:
                    log.info("migration lease taken after waiting for another process")
                return
            if time.monotonic() > deadline:
                holder = await self.collection.find_one({"_id": LOCK_ID}) or {}
                raise MigrationError(f"another process ({holder.get('owner', '?')}) has held the migration "
                                     f"lease for over {self.wait_seconds:.0f} s; is it stuck?")
            if not waited:
                log.info("another process is migrating the database; waiting")
                waited = True
            await asyncio.sleep(self.poll_seconds)

    async def _try_lease(self) -> bool:
        """Take or renew the lease: True when this runner holds it now."""
        now = _now()
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": LOCK_ID, "$or": [{"until": {"$lt": now}}, {"owner": self.owner}]},
                {"$set": {"owner": self.owner, "until": now + timedelta(seconds=self.lease_seconds),
                          "taken_at": now}},
                upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            return False  # held by another runner, alive
        return doc is not None and doc.get("owner") == self.owner

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(Exception):  # a missed renewal is retried; the lease is long
                await self.collection.update_one(
                    {"_id": LOCK_ID, "owner": self.owner},
                    {"$set": {"until": _now() + timedelta(seconds=self.lease_seconds)}})


def _now() -> datetime:
    return datetime.now(UTC)
