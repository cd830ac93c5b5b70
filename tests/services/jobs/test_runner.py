"""The job runner on a real database: races between runners, retries, dead jobs, leases, periodic tasks."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.services.jobs.queue import Job, JobQueue, backoff
from server.services.jobs.runner import JobRunner, PeriodicTask
from tests.clock import Clock
from tests.faults import FaultPlan, FaultyDatabase


def _counting(db: AsyncDatabase[dict[str, Any]], delay: float = 0.0) -> Any:
    """A handler whose effect is one ``effects`` document per run, naming the job."""

    async def run(job: Job) -> dict[str, Any]:
        await asyncio.sleep(delay)
        await db["effects"].insert_one({"job_id": job.id, "n": job.payload["n"]})
        return {"n": job.payload["n"]}

    return run


async def _until(predicate: Any, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _race(db: AsyncDatabase[dict[str, Any]], queues: list[JobQueue]) -> tuple[int, int]:
    """Two runners (as in two processes: each its own queue object) race for 50 jobs."""
    runners = [JobRunner(q, db, concurrency=4, lease_seconds=30, poll_seconds=0.05) for q in queues]
    for runner in runners:
        runner.register("count", _counting(db, delay=0.01))
    for i in range(50):
        await queues[0].enqueue("count", {"n": i})
    for runner in runners:
        runner.start()
    try:
        await _until(lambda: _all_settled(db))
    finally:
        for runner in runners:
            await runner.stop()
    effects = await db["effects"].find().to_list()
    return len(effects), len({e["job_id"] for e in effects})


async def _all_settled(db: AsyncDatabase[dict[str, Any]]) -> bool:
    return await db["jobs"].count_documents({"status": {"$ne": "done"}}) == 0


async def test_two_runners_racing_for_50_jobs_run_each_once(db: AsyncDatabase[dict[str, Any]]) -> None:
    effects, distinct = await _race(db, [JobQueue(db), JobQueue(db)])
    assert effects == distinct == 50
    done = await db["jobs"].find({}, {"attempts": 1, "result": 1}).to_list()
    assert all(j["attempts"] == 1 for j in done) and sorted(j["result"]["n"] for j in done) == list(range(50))


class _CheckThenClaim(JobQueue):
    """Control: claiming by reading a due job and then updating it by id (no guard in the filter)."""

    async def claim(self, owner: str, kinds: list[str], lease: timedelta) -> dict[str, Any] | None:
        doc = await self.jobs.find_one({"kind": {"$in": kinds}, "status": "queued"}, sort=[("run_at", 1)])
        if doc is None:
            return None
        await asyncio.sleep(0.005)  # the gap any two processes have between a read and a write
        await self.jobs.update_one({"_id": doc["_id"]}, {"$set": {"status": "running", "owner": owner,
                                                                  "lease_until": self.now() + lease},
                                                         "$inc": {"attempts": 1}})
        return await self.jobs.find_one({"_id": doc["_id"]})

    async def finish(self, job_id: Any, owner: str, result: dict[str, Any] | None = None) -> bool:
        await self.jobs.update_one({"_id": job_id}, {"$set": {"status": "done"}})
        return True


async def test_control_without_the_claim_guard_jobs_run_twice(db: AsyncDatabase[dict[str, Any]]) -> None:
    effects, distinct = await _race(db, [_CheckThenClaim(db), _CheckThenClaim(db)])
    assert distinct == 50 and effects > 50


async def test_a_failing_job_backs_off_then_is_dead(db: AsyncDatabase[dict[str, Any]]) -> None:
    queue = JobQueue(db, max_attempts=3, backoff_seconds=0.2)
    runner = JobRunner(queue, db, poll_seconds=0.05)
    calls: list[float] = []

    async def broken(job: Job) -> None:
        calls.append(asyncio.get_running_loop().time())
        raise RuntimeError(f"outage {len(calls)}\nsecond line not kept")

    runner.register("broken", broken)
    job_id = await queue.enqueue("broken", {})
    assert await runner.run_until_idle() == 1
    failed = await queue.get(job_id)
    assert failed is not None and failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["last_error"] == "RuntimeError: outage 1"
    assert abs((failed["run_at"] - failed["failed_at"]).total_seconds() - 0.2) < 0.01
    assert await runner.run_until_idle() == 0  # not due yet: backing off
    runner.start()
    try:
        await _until(lambda: _status(queue, job_id, "dead"))
    finally:
        await runner.stop()
    dead = await queue.get(job_id)
    assert dead is not None and dead["attempts"] == 3 and dead["last_error"] == "RuntimeError: outage 3"
    assert len(calls) == 3 and calls[2] - calls[1] >= 0.4 - 0.05  # the second wait is twice the first
    assert backoff(1, 10) == timedelta(seconds=10) and backoff(3, 10) == timedelta(seconds=40)
    assert backoff(30, 10) == timedelta(hours=1)


async def _finished(queue: JobQueue, job_id: Any) -> bool:
    job = await queue.get(job_id)
    return job is not None and job["status"] in ("done", "dead")


async def _status(queue: JobQueue, job_id: Any, status: str) -> bool:
    job = await queue.get(job_id)
    return job is not None and job["status"] == status


async def test_a_stalled_job_is_reclaimed_after_its_lease(db: AsyncDatabase[dict[str, Any]]) -> None:
    """A runner cut off from the database (hung, or killed): another takes the job once the lease lapses."""
    plan = FaultPlan()
    cut_off = FaultyDatabase(db, plan)
    stuck = asyncio.Event()

    async def hangs(job: Job) -> None:
        stuck.set()
        await asyncio.Event().wait()

    first = JobRunner(JobQueue(cut_off), cut_off, lease_seconds=0.6, poll_seconds=0.05)
    first.register("work", hangs)
    job_id = await JobQueue(db).enqueue("work", {"n": 1})
    first.start()
    await asyncio.wait_for(stuck.wait(), 10)
    plan.fail_on = frozenset({"jobs"})  # from here on its renewals and its release never arrive
    await first.stop(grace=0)
    assert (await db["jobs"].find_one({"_id": job_id}))["status"] == "running"
    second = JobRunner(JobQueue(db), db, lease_seconds=5, poll_seconds=0.05)
    second.register("work", _counting(db))
    second.start()
    try:
        await _until(lambda: _status(second.queue, job_id, "done"), timeout=20)
    finally:
        await second.stop()
    done = await second.queue.get(job_id)
    assert done is not None and done["attempts"] == 2
    assert await db["effects"].count_documents({"job_id": job_id}) == 1


async def test_a_clean_stop_gives_the_running_job_back(db: AsyncDatabase[dict[str, Any]]) -> None:
    queue = JobQueue(db)
    runner = JobRunner(queue, db, poll_seconds=0.05)
    started = asyncio.Event()

    async def slow(job: Job) -> None:
        started.set()
        await asyncio.sleep(60)

    runner.register("slow", slow)
    job_id = await queue.enqueue("slow", {})
    runner.start()
    await asyncio.wait_for(started.wait(), 10)
    await runner.stop(grace=0.1)
    job = await queue.get(job_id)
    assert job is not None and job["status"] == "queued" and job["attempts"] == 0 and "owner" not in job


async def test_dedupe_key_and_the_callers_transaction(db: AsyncDatabase[dict[str, Any]]) -> None:
    queue = JobQueue(db)
    first = await queue.enqueue("count", {"n": 1}, dedupe_key="offer:1")
    assert await queue.enqueue("count", {"n": 2}, dedupe_key="offer:1") == first
    assert await db["jobs"].count_documents({}) == 1

    class Rollback(Exception):
        pass

    async def outbox_then_fail(s: Any) -> None:
        await db["things"].insert_one({"x": 1}, session=s)
        await queue.enqueue("count", {"n": 3}, session=s)
        raise Rollback

    async with db.client.start_session() as s:
        try:
            await s.with_transaction(outbox_then_fail)
        except Rollback:
            pass
    assert await db["jobs"].count_documents({}) == 1 and await db["things"].count_documents({}) == 0


async def test_files_of_no_live_job_are_purged(db: AsyncDatabase[dict[str, Any]]) -> None:
    clock = Clock()
    queue = JobQueue(db, now=clock)
    orphan = await queue.put_file("a.zip", b"never enqueued")
    kept = await queue.put_file("b.zip", b"waiting for a runner")
    await queue.enqueue("count", {"n": 1}, files=[kept])
    # uploadDate is the server's time; the clock is moved past it plus an hour
    clock.at = datetime.now(UTC) + timedelta(hours=2)
    assert await queue.purge() == 1
    assert await db["job_files.files"].distinct("_id") == [kept] and orphan != kept
    assert await queue.read_file(kept) == b"waiting for a runner"


async def _run_periods(db: AsyncDatabase[dict[str, Any]], runners: list[JobRunner], ran: list[int],
                       seconds: float) -> None:
    async def tick() -> None:
        ran.append(int(time.time() // seconds))

    for runner in runners:
        runner.every("tick", seconds, tick)
    loop = asyncio.get_running_loop()
    end = loop.time() + 6 * seconds
    while loop.time() < end:
        await asyncio.gather(*(r.tick_periodic() for r in runners))
        await asyncio.sleep(seconds / 20)
    for runner in runners:
        await runner.stop()


async def test_each_period_of_a_periodic_task_runs_once_across_runners(db: AsyncDatabase[dict[str, Any]]) -> None:
    ran: list[int] = []
    await _run_periods(db, [JobRunner(JobQueue(db), db) for _ in range(3)], ran, 0.3)
    assert len(ran) >= 5 and len(ran) == len(set(ran)), ran


class _NoClaim(JobRunner):
    """Control: every process runs the task whenever its own period turns (the old per-process loops)."""

    async def _claim_period(self, task: PeriodicTask, period: int) -> bool:
        return True


async def test_control_without_the_period_claim_a_task_runs_in_every_process(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    ran: list[int] = []
    await _run_periods(db, [_NoClaim(JobQueue(db), db) for _ in range(3)], ran, 0.3)
    assert len(ran) > len(set(ran))


async def _long_job_with_two_runners(db: AsyncDatabase[dict[str, Any]], runner_cls: type[JobRunner]) -> dict[str, Any]:
    """A job three leases long, and a second runner polling for work all along."""
    runners = [runner_cls(JobQueue(db), db, lease_seconds=0.6, poll_seconds=0.05) for _ in range(2)]
    for runner in runners:
        runner.register("long", _counting(db, delay=1.8))
    job_id = await runners[0].queue.enqueue("long", {"n": 1})
    runners[0].start()
    await _until(lambda: _status(runners[0].queue, job_id, "running"))
    runners[1].start()
    try:
        # Finished either way: done, or (the control, on a slow machine: every run loses its lease to
        # the other runner before it ends) dead after its attempts; the assertions tell which.
        await _until(lambda: _finished(runners[0].queue, job_id))
        await asyncio.sleep(1.0)  # a second run, if any, has time to finish too
    finally:
        for runner in runners:
            await runner.stop(grace=3)
    job = await runners[0].queue.get(job_id)
    assert job is not None
    return {"attempts": job["attempts"], "effects": await db["effects"].count_documents({"job_id": job_id})}


async def test_a_long_job_keeps_its_lease(db: AsyncDatabase[dict[str, Any]]) -> None:
    assert await _long_job_with_two_runners(db, JobRunner) == {"attempts": 1, "effects": 1}


class _NoRenewal(JobRunner):
    """Control: a runner that never renews the lease of a job it runs."""

    async def _keep_lease(self, job: Job, work: asyncio.Task[Any]) -> None:
        await asyncio.Event().wait()


async def test_control_without_renewal_a_long_job_runs_twice(db: AsyncDatabase[dict[str, Any]]) -> None:
    outcome = await _long_job_with_two_runners(db, _NoRenewal)
    assert outcome["effects"] > 1 and outcome["attempts"] > 1, outcome


async def test_stop_returns_while_jobs_keep_finishing(db: AsyncDatabase[dict[str, Any]]) -> None:
    """A stop landing as a finished job wakes the loop must still stop it (Python 3.11's wait_for lost such cancels)."""
    queue = JobQueue(db)
    for attempt in range(20):
        runner = JobRunner(queue, db, poll_seconds=0.01)
        runner.register("count", _counting(db))
        for i in range(5):
            await queue.enqueue("count", {"n": i})
        runner.start()
        await asyncio.sleep(0.004 * (attempt % 5))
        await asyncio.wait_for(runner.stop(), 10)
    assert await db["jobs"].count_documents({"status": "running"}) == 0
