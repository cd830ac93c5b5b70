"""The job queue: enqueue (inside a caller's transaction if it likes), claim under a lease, settle.

A job is ``queued`` → ``running`` (claimed under a lease) → ``done``; a failed attempt goes to
``failed`` with ``run_at`` pushed back (exponential backoff) and is claimed again when due; after
``max_attempts`` it is ``dead`` and waits for an administrator's retry. A ``running`` job whose
lease ran out (its process died or hung) is claimable again; the attempt it was on counts.

Input files go to the GridFS bucket ``job_files`` *before* the job is enqueued (GridFS writes
cannot join a transaction); the job references them by id. Files of a job that never got
enqueued (the caller's transaction failed) or that is done are purged by :meth:`purge`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.services.audit import AuditLog
from server.services.ids import parse_object_id

log = logging.getLogger(__name__)

JOB_FILES = "job_files"
STATUSES = ("queued", "running", "failed", "dead", "done")
CLAIMABLE = ("queued", "failed")
DONE_KEPT = timedelta(days=7)  # finished jobs stay visible for a week (TTL on ``expires_at``)
ORPHAN_AFTER = timedelta(hours=1)  # a file with no job this long after its upload was never enqueued
MAX_BACKOFF = timedelta(hours=1)
ERROR_MAX = 300  # characters of ``last_error`` kept


@dataclass(frozen=True)
class Job:
    """A claimed job as its handler sees it: ``id`` is the idempotency key of its effects."""

    id: ObjectId
    kind: str
    payload: dict[str, Any]
    files: list[ObjectId]
    attempt: int


def backoff(attempt: int, base: float) -> timedelta:
    """The wait after failed attempt ``attempt`` (1, 2, …): base, 2×base, 4×base…, at most an hour."""
    return min(timedelta(seconds=base * 2 ** (attempt - 1)), MAX_BACKOFF)


def describe_error(exc: BaseException) -> str:
    """What an administrator sees of a failure: the exception type and the first line, shortened."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text[:ERROR_MAX]


class JobQueue:
    """Add jobs and their files; claim, renew and settle them (used by :class:`JobRunner`)."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        audit: AuditLog | None = None,
        max_attempts: int = 8,
        backoff_seconds: float = 10.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.jobs = db["jobs"]
        self.bucket = AsyncGridFSBucket(db, bucket_name=JOB_FILES)
        self.files = db[f"{JOB_FILES}.files"]
        self.audit = audit
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.now = now or (lambda: datetime.now(UTC))
        self.wakeups: list[Callable[[], None]] = []  # runners of this process, told of new jobs

    # ---- adding ---------------------------------------------------------------------------

    async def put_file(self, filename: str, source: BinaryIO | bytes) -> ObjectId:
        """Stream a job's input file into GridFS (before the enqueue; never inside a transaction)."""
        return await self.bucket.upload_from_stream(filename, source)

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        files: list[ObjectId] | None = None,
        session: AsyncClientSession | None = None,
        dedupe_key: str | None = None,
        run_at: datetime | None = None,
        job_id: ObjectId | None = None,
        max_attempts: int | None = None,
    ) -> ObjectId:
        """Add a job; with ``session`` it commits or vanishes with the caller's other writes (outbox).

        ``dedupe_key``: a second job with the same key is not added; the first one's id is returned.
        """
        now = self.now()
        doc: dict[str, Any] = {
            "_id": job_id or ObjectId(), "kind": kind, "payload": payload, "files": list(files or []),
            "status": "queued", "attempts": 0, "max_attempts": max_attempts or self.max_attempts,
            "run_at": run_at or now, "created_at": now, "updated_at": now,
        }
        if dedupe_key is not None:
            doc["dedupe_key"] = dedupe_key
        try:
            await self.jobs.insert_one(doc, session=session)
        except DuplicateKeyError:
            if dedupe_key is None:
                raise
            existing = await self.jobs.find_one({"dedupe_key": dedupe_key}, {"_id": 1}, session=session)
            if existing is None:  # the other one was purged meanwhile: nothing left to dedupe against
                raise
            return existing["_id"]  # type: ignore[no-any-return]
        for wake in self.wakeups:
            wake()
        return doc["_id"]  # type: ignore[no-any-return]

    async def download(self, file_id: ObjectId, destination: BinaryIO) -> None:
        """Copy a job's input file into ``destination`` (a handler's scratch file)."""
        await self.bucket.download_to_stream(file_id, destination)

    async def file_info(self, file_ids: list[ObjectId]) -> dict[ObjectId, tuple[str, int]]:
        """Name and length of each of a job's input files (names live with the file, gone when it is)."""
        found = self.files.find({"_id": {"$in": file_ids}}, {"filename": 1, "length": 1})
        return {f["_id"]: (f["filename"], f["length"]) async for f in found}

    async def read_file(self, file_id: ObjectId) -> bytes:
        """A (small) input file of a job, whole."""
        stream = await self.bucket.open_download_stream(file_id)
        return await stream.read()

    # ---- the runner's transitions ---------------------------------------------------------

    async def claim(self, owner: str, kinds: list[str], lease: timedelta) -> dict[str, Any] | None:
        """Take the most overdue job of ``kinds`` (queued, failed and due, or with a lapsed lease)."""
        now = self.now()
        return await self.jobs.find_one_and_update(
            {"kind": {"$in": kinds}, "$or": [
                {"status": {"$in": list(CLAIMABLE)}, "run_at": {"$lte": now}},
                {"status": "running", "lease_until": {"$lt": now}},
            ]},
            {"$set": {"status": "running", "owner": owner, "lease_until": now + lease, "started_at": now,
                      "updated_at": now}, "$inc": {"attempts": 1}},
            sort=[("run_at", ASCENDING)], return_document=ReturnDocument.AFTER,
        )

    async def renew(self, job_id: ObjectId, owner: str, lease: timedelta) -> bool:
        """Extend the lease of a job this runner still holds; False when it lost it."""
        result = await self.jobs.update_one(
            {"_id": job_id, "owner": owner, "status": "running"},
            {"$set": {"lease_until": self.now() + lease}})
        return result.matched_count == 1

    async def finish(self, job_id: ObjectId, owner: str, result: dict[str, Any] | None = None) -> bool:
        """Mark the job done (if still ours) and drop its input files."""
        now = self.now()
        done = await self.jobs.find_one_and_update(
            {"_id": job_id, "owner": owner, "status": "running"},
            {"$set": {"status": "done", "finished_at": now, "updated_at": now, "expires_at": now + DONE_KEPT,
                      "result": result or {}}, "$unset": {"lease_until": "", "owner": ""}})
        if done is not None:
            await self._delete_files(done.get("files") or [])
        return done is not None

    async def fail(self, job: dict[str, Any], owner: str, error: str) -> str | None:
        """Record a failed attempt: ``failed`` with backoff, or ``dead`` after the last attempt."""
        now = self.now()
        attempts = int(job["attempts"])
        dead = attempts >= int(job.get("max_attempts") or self.max_attempts)
        update: dict[str, Any] = {"status": "dead" if dead else "failed", "last_error": error,
                                  "failed_at": now, "updated_at": now}
        if not dead:
            update["run_at"] = now + backoff(attempts, self.backoff_seconds)
        result = await self.jobs.update_one({"_id": job["_id"], "owner": owner, "status": "running"},
                                            {"$set": update, "$unset": {"lease_until": "", "owner": ""}})
        return update["status"] if result.modified_count else None  # type: ignore[no-any-return]

    async def release(self, job_id: ObjectId, owner: str) -> None:
        """Give back a job cut short by a clean stop: queued again at once, the attempt not counted."""
        now = self.now()
        await self.jobs.update_one(
            {"_id": job_id, "owner": owner, "status": "running"},
            {"$set": {"status": "queued", "run_at": now, "updated_at": now}, "$inc": {"attempts": -1},
             "$unset": {"lease_until": "", "owner": ""}})

    # ---- inspecting and retrying (administrators) -----------------------------------------

    async def get(self, job_id: ObjectId) -> dict[str, Any] | None:
        """One job document, or None."""
        return await self.jobs.find_one({"_id": job_id})

    async def list(self, *, status: str | None = None, kind: str | None = None, skip: int = 0,
                   limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """Jobs newest first (without payloads), and the total for paging."""
        query: dict[str, Any] = {}
        if status:
            query["status"] = status
        if kind:
            query["kind"] = kind
        total = await self.jobs.count_documents(query)
        cursor = self.jobs.find(query, {"payload": 0}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(), total

    async def retry(self, job_id: str, *, by: Any, ip: str | None) -> dict[str, Any]:
        """A dead or failed job, queued again now with a fresh count of attempts; audited."""
        oid = parse_object_id(job_id, "任务不存在")
        now = self.now()
        job = await self.jobs.find_one_and_update(
            {"_id": oid, "status": {"$in": ["dead", "failed"]}},
            {"$set": {"status": "queued", "run_at": now, "attempts": 0, "updated_at": now,
                      "retried_at": now}},
            {"payload": 0}, return_document=ReturnDocument.AFTER)
        if job is None:
            if await self.jobs.count_documents({"_id": oid}, limit=1) == 0:
                raise errors.not_found("任务不存在")
            raise errors.conflict("job_not_retryable", "只有失败或已停止重试的任务可以重新执行")
        if self.audit is not None:
            await self.audit.record("job.retry", actor_id=by.account_id, actor_role=by.role, ip=ip,
                                    subject=job["kind"], subject_id=oid)
        for wake in self.wakeups:
            wake()
        return job

    # ---- housekeeping -----------------------------------------------------------------------

    async def purge(self) -> int:
        """Drop input files no live job references (never enqueued, or of a finished job); how many."""
        cutoff = self.now() - ORPHAN_AFTER
        purged = 0
        async for file in self.files.find({"uploadDate": {"$lt": cutoff}}, {"_id": 1}):
            live = await self.jobs.count_documents(
                {"files": file["_id"], "status": {"$in": ["queued", "running", "failed", "dead"]}}, limit=1)
            if not live:
                await self._delete_files([file["_id"]])
                purged += 1
        return purged

    async def _delete_files(self, file_ids: list[ObjectId]) -> None:
        for file_id in file_ids:
            try:
                await self.bucket.delete(file_id)
            except NoFile:
                pass
