"""The job runner: claims due jobs under a lease and runs their handlers; runs periodic tasks once per period.

One runner lives in every app process (unless ``JOBS_IN_PROCESS=false``) and in each
``python -m server worker``; any number of them may share a database. A runner

* claims a due job with one ``find_one_and_update`` (so two runners never get the same job
  while its lease lives), at most ``concurrency`` at a time;
* renews the lease of a running job every third of the lease, and cancels the handler if the
  lease was lost (another runner reclaimed it after a stall);
* settles the job: ``done``, or ``failed`` with exponential backoff, or ``dead`` after the last
  attempt, with ``last_error``;
* at a clean stop gives its running jobs back (queued again, the attempt not counted) after a
  short grace; after a crash (kill -9) their leases lapse and another runner reclaims them.

A job can therefore run more than once (a crash after the effect and before ``done``); each
handler is idempotent by the job id (see the README, "Background jobs").

Periodic tasks (plain ``async def fn()``) are claimed per (task, period) by inserting the
document ``{_id: "<task>@<period number>"}`` into ``job_schedule`` — a unique ``_id``, so across
all processes exactly one claim per period succeeds and that process runs it. A claimant that
dies mid-run loses that period's run; the next period runs as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.services.jobs.queue import Job, JobQueue, describe_error

log = logging.getLogger(__name__)

Handler = Callable[[Job], Awaitable[dict[str, Any] | None]]
STOP_GRACE_S = 5.0  # running jobs finish or are given back
LOOP_GRACE_S = 1.0  # the polling loop ends by itself at once, unless stuck on an absent database


@dataclass
class PeriodicTask:
    """A plain ``async def fn()`` to run once every ``seconds`` across all processes."""

    name: str
    seconds: float
    fn: Callable[[], Awaitable[Any]]


class JobRunner:
    """Runs the jobs of the registered kinds and the periodic tasks, in this process."""

    def __init__(
        self,
        queue: JobQueue,
        db: AsyncDatabase[dict[str, Any]],
        *,
        concurrency: int = 2,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.queue = queue
        self.schedule = db["job_schedule"]
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.handlers: dict[str, Handler] = {}
        self.periodic: list[PeriodicTask] = []
        self._running: set[asyncio.Task[None]] = set()
        self._periodic_running: dict[str, asyncio.Task[None]] = {}
        self._last_period: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._stopping = False

    def register(self, kind: str, handler: Handler) -> None:
        """Run jobs of ``kind`` with ``handler(job)``; what it returns is kept as the job's result."""
        self.handlers[kind] = handler

    def every(self, name: str, seconds: float, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``fn`` once per ``seconds`` across every process sharing the database."""
        self.periodic.append(PeriodicTask(name, seconds, fn))

    # ---- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling in the background (until :meth:`stop`)."""
        if self._main is None:
            self._stopping = False
            self.queue.wakeups.append(self._wake.set)
            self._main = asyncio.create_task(self._loop(), name=f"job-runner {self.owner}")

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop claiming; give running jobs ``grace`` seconds, then cut them short and release them."""
        if self._main is not None:
            # The loop sees the flag and ends by itself: a cancel could cut a claim short (the job
            # claimed, nobody running it until its lease lapses), and Python 3.11's wait_for may
            # swallow one. The cancel is only a fallback for a loop stuck on an absent database.
            self._stopping = True
            self._wake.set()
            if not (await asyncio.wait({self._main}, timeout=min(grace, LOOP_GRACE_S)))[0]:
                self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)
            self._main = None
            self._stopping = False  # run_until_idle may still be used by hand
            with contextlib.suppress(ValueError):
                self.queue.wakeups.remove(self._wake.set)
        # Periodic tasks are guarded steps that the next period repeats: cut short at once, as before.
        periodic = [t for t in self._periodic_running.values() if not t.done()]
        for task in periodic:
            task.cancel()
        await asyncio.gather(*periodic, return_exceptions=True)
        tasks = list(self._running)
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.tick_periodic()
                await self._fill()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: try again at the next poll
                log.exception("job runner poll failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def run_until_idle(self) -> int:
        """Run due jobs until none is left (tests, one-off drains); how many were run."""
        count = 0
        while True:
            started = await self._fill()
            count += started
            if not self._running:
                if started == 0:
                    return count
                continue
            await asyncio.wait(list(self._running), return_when=asyncio.FIRST_COMPLETED)

    # ---- jobs -------------------------------------------------------------------------------

    async def _fill(self) -> int:
        """Claim due jobs while there are free slots; how many were started."""
        started = 0
        while len(self._running) < self.concurrency and self.handlers and not self._stopping:
            doc = await self.queue.claim(self.owner, list(self.handlers), self.lease)
            if doc is None:
                break
            task = asyncio.create_task(self._execute(doc), name=f"job {doc['_id']}")
            self._running.add(task)
            task.add_done_callback(self._done)
            started += 1
        return started

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a slot is free

    async def _execute(self, doc: dict[str, Any]) -> None:
        job = Job(doc["_id"], doc["kind"], doc.get("payload") or {}, list(doc.get("files") or []), doc["attempts"])
        if job.attempt > int(doc.get("max_attempts") or self.queue.max_attempts):
            # Reclaimed after its lease lapsed on the last attempt: the runs keep dying.
            await self.queue.fail({**doc, "attempts": job.attempt}, self.owner, "lease expired (process stopped)")
            log.error("job %s (%s) dead: its lease lapsed on every attempt", job.id, job.kind)
            return
        work = asyncio.create_task(self.handlers[job.kind](job))
        keeper = asyncio.create_task(self._keep_lease(job, work))
        try:
            result = await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                work.cancel()
                with contextlib.suppress(Exception):
                    await self.queue.release(job.id, self.owner)
                log.info("job %s (%s) released at shutdown", job.id, job.kind)
                raise
            log.warning("job %s (%s) cut short: its lease was lost", job.id, job.kind)
            return
        except Exception as exc:
            # shielded: a stop arriving now must not leave the job running under a dead lease
            status = await asyncio.shield(self.queue.fail(doc, self.owner, describe_error(exc)))
            log.warning("job %s (%s) attempt %d failed -> %s: %s", job.id, job.kind, job.attempt, status,
                        type(exc).__name__, exc_info=status == "dead")
            return
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        if not await asyncio.shield(self.queue.finish(job.id, self.owner, result)):
            log.warning("job %s (%s) finished after its lease was lost", job.id, job.kind)

    async def _keep_lease(self, job: Job, work: asyncio.Task[Any]) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self.queue.renew(job.id, self.owner, self.lease)
            except Exception:  # a blip: the lease still has two thirds to go
                log.warning("could not renew the lease of job %s", job.id)
                continue
            if not held:
                work.cancel()
                return

    # ---- periodic tasks ----------------------------------------------------------------------

    async def tick_periodic(self) -> list[str]:
        """Start each periodic task whose current period this process claimed; their names."""
        started = []
        for task in self.periodic:
            period = int(self.queue.now().timestamp() // task.seconds)
            if self._last_period.get(task.name) == period:
                continue
            running = self._periodic_running.get(task.name)
            if running is not None and not running.done():
                continue  # still busy with an earlier period here: let another process take this one
            if not await self._claim_period(task, period):
                self._last_period[task.name] = period
                continue
            self._last_period[task.name] = period
            self._periodic_running[task.name] = asyncio.create_task(self._run_periodic(task, period),
                                                                    name=f"periodic {task.name}")
            started.append(task.name)
        return started

    async def _claim_period(self, task: PeriodicTask, period: int) -> bool:
        now = self.queue.now()
        try:
            await self.schedule.insert_one({
                "_id": f"{task.name}@{period}", "task": task.name, "owner": self.owner, "at": now,
                # kept a little longer than the period; a TTL index drops it
                "expires_at": now + max(timedelta(seconds=2 * task.seconds), timedelta(hours=1)),
            })
        except DuplicateKeyError:
            return False
        return True

    async def _run_periodic(self, task: PeriodicTask, period: int) -> None:
        # One bad run is logged; the task runs again next period. The line says which process ran
        # which period (tests/deploy counts them across processes).
        log.info("periodic task %s@%d running in %s", task.name, period, self.owner)
        try:
            await task.fn()
        except Exception:
            log.exception("periodic task %s failed", task.name)
