"""Bulk photos on the job runner: files in GridFS, idempotent by job id, surviving a kill -9 of its worker."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services
from server.services.jobs.queue import Job
from server.services.staff.photos import PHOTO_JOB_KIND, StaffPhotoService
from tests.client import ApiClient
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.staff_helpers import form_body, unit_client

PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()
PHOTOS = "/api/v1/unit/staff/photos"
ROOT = Path(__file__).resolve().parents[3]


async def _photo_job(api: ApiClient, settings: Settings, people: int) -> str:
    """A unit with ``people`` staff uploads a ZIP of their photos: a background job; its id."""
    unit = await unit_client(api, settings.sms_outbox)
    members = {}
    for i in range(people):
        body = form_body(name=f"批量{i}")
        assert (await unit.post("/api/v1/unit/staff", body)).status == 201
        members[f"{body['name']}-{body['id_number']}.jpg"] = PORTRAIT
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    r = await unit.request("POST", f"{PHOTOS}?consent=true", body=out.getvalue(),
                           headers={"Content-Type": "application/zip"})
    assert r.status == 200 and r.json["status"] == "running", r.body
    return str(r.json["job_id"])


async def _job(services: Services, job_id: str) -> Job:
    from bson import ObjectId

    doc = await services.jobs.get(ObjectId(job_id))
    assert doc is not None
    return Job(doc["_id"], doc["kind"], doc["payload"], doc["files"], 1)


async def test_the_zip_waits_in_gridfs_not_on_disk(api: ApiClient, settings: Settings, services: Services) -> None:
    await services.runner.stop()  # no runner: the job waits
    job_id = await _photo_job(api, settings, 21)
    job = await _job(services, job_id)
    assert job.kind == PHOTO_JOB_KIND and len(job.files) == 1
    assert await services.db["job_files.files"].count_documents({}) == 1
    await services.runner.run_until_idle()
    progress = await services.db["photo_jobs"].find_one()
    assert progress["status"] == "done" and progress["counts"] == {"saved": 21}
    assert await services.db["job_files.files"].count_documents({}) == 0  # dropped once done


class _ForgetsProgress(StaffPhotoService):
    """Control: a run that ignores what an earlier run of the same job already did (no skip, no guard)."""

    async def _process(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["skip"] = set()
        return await super()._process(*args, **kwargs)

    async def _record(self, job_id: Any, idx: int, result: Any, name: str) -> None:
        await self.progress.update_one({"_id": job_id}, {
            "$push": {"files": result.model_dump(), "done_idx": idx},
            "$inc": {"processed": 1, f"counts.{result.verdict}": 1}})


async def _crash_then_rerun(services: Services, db: AsyncDatabase[dict[str, Any]], job: Job,
                            cls: type[StaffPhotoService]) -> dict[str, Any]:
    plan = FaultPlan(fail_on=frozenset())
    faulty = FaultyDatabase(db, plan)

    def build(database: Any) -> StaffPhotoService:
        return cls(database, accounts=services.accounts, photos=services.photos, audit=services.audit,
                   jobs=services.jobs, concurrency=1)

    async def cut_after_five(collection: str, method: str) -> None:
        if collection == "photo_jobs" and sum(c == "photo_jobs" for c, _ in plan.writes) >= 5:
            plan.fail_on = frozenset({"photo_jobs"})

    plan.before_write = cut_after_five
    with pytest.raises(Crash):
        await build(faulty).run_job(job)
    assert (await db["photo_jobs"].find_one({"_id": job.id}))["processed"] == 5
    await build(db).run_job(job)
    return await db["photo_jobs"].find_one({"_id": job.id})  # type: ignore[return-value]


async def test_a_photo_job_run_again_after_a_crash_judges_each_file_once(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]],
) -> None:
    await services.runner.stop()
    job = await _job(services, await _photo_job(api, settings, 21))
    progress = await _crash_then_rerun(services, db, job, StaffPhotoService)
    assert progress["status"] == "done" and progress["processed"] == len(progress["files"]) == 21
    assert progress["counts"] == {"saved": 21}
    assert await db["audit_log"].count_documents({"action": "staff.photos_bulk", "subject_id": job.id}) == 1


async def test_control_a_rerun_without_the_progress_guard_counts_files_twice(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]],
) -> None:
    await services.runner.stop()
    job = await _job(services, await _photo_job(api, settings, 21))
    progress = await _crash_then_rerun(services, db, job, _ForgetsProgress)
    assert progress["processed"] > 21


def _worker_env(settings: Settings, mongo_url: str, db_name: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "MONGODB_"))}
    env.update({
        "PYTHONPATH": str(ROOT), "APP_ENV": "dev", "MONGODB_URL": mongo_url, "MONGODB_DB": db_name,
        "DATA_DIR": str(data_dir), "SECRET_KEY": settings.secret_key.get_secret_value(),
        "DATA_KEYS": settings.data_keys.get_secret_value(), "INDEX_KEY": settings.index_key.get_secret_value(),
        "JOBS_LEASE_SECONDS": "3", "JOBS_POLL_SECONDS": "0.2", "JOBS_CONCURRENCY": "1", "EXECUTOR_WORKERS": "1",
        "LOG_LEVEL": "WARNING",
    })
    return env


async def _start_worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    out = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "server", "worker", env=env, cwd=ROOT,
                                                    stdout=out, stderr=out)
    finally:
        out.close()


async def _progress(db: AsyncDatabase[dict[str, Any]], job_id: Any, until: Any, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        doc = await db["photo_jobs"].find_one({"_id": job_id}, {"done_idx": 0, "files": 0})
        if until(doc) or loop.time() > deadline:
            return doc  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)


async def test_a_job_survives_kill_9_of_its_worker(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]], mongo_url: str,
    tmp_path: Path,
) -> None:
    await services.runner.stop()  # only the worker processes run jobs here
    job = await _job(services, await _photo_job(api, settings, 30))
    env = _worker_env(settings, mongo_url, db.name, tmp_path / "worker")
    log = tmp_path / "worker.log"
    first = await _start_worker(env, log)
    try:
        mid = await _progress(db, job.id, lambda d: d["processed"] >= 2, 90)
    finally:
        first.kill()  # kill -9: no release, no clean-up
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    mid = await _progress(db, job.id, lambda d: True, 0)
    assert 2 <= mid["processed"] < 30, (mid, log.read_text()[-2000:])
    held = await services.jobs.get(job.id)
    assert held is not None and held["status"] == "running"  # its lease has not lapsed yet
    second = await _start_worker(env, log)
    try:
        done = await _progress(db, job.id, lambda d: d["status"] == "done", 120)
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    assert done["status"] == "done", log.read_text()[-2000:]
    progress = await db["photo_jobs"].find_one({"_id": job.id})
    assert progress["processed"] == len(progress["files"]) == 30 and progress["counts"] == {"saved": 30}
    finished = await services.jobs.get(job.id)
    assert finished is not None and finished["status"] == "done" and finished["attempts"] == 2
    assert await db["job_files.files"].count_documents({}) == 0
    assert await db["audit_log"].count_documents({"action": "staff.photos_bulk", "subject_id": job.id}) == 1
    assert second.returncode == 0


async def test_a_dead_photo_job_shows_interrupted_until_an_admin_retries_it(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]],
) -> None:
    from tests.factories import staff_token

    await services.runner.stop()
    job_id = await _photo_job(api, settings, 21)
    owner = (await db["photo_jobs"].find_one())["unit_id"]
    unit = api.with_token((await services.tokens.issue(owner, "unit")).token)
    await db["jobs"].update_one({}, {"$set": {"status": "dead", "attempts": 8, "last_error": "OSError: disk"}})
    r = await unit.get(f"/api/v1/unit/staff/photo-jobs/{job_id}")
    assert r.status == 200 and r.json["status"] == "interrupted" and r.json["processed"] == 0
    admin = await staff_token(services)
    assert (await api.post(f"/api/v1/admin/jobs/{job_id}/retry", token=admin)).status == 200
    assert await services.runner.run_until_idle() == 1
    r = await unit.get(f"/api/v1/unit/staff/photo-jobs/{job_id}")
    assert r.json["status"] == "done" and r.json["counts"] == {"saved": 21}


async def test_many_jpgs_go_to_gridfs_one_file_each(api: ApiClient, settings: Settings, services: Services,
                                                    db: AsyncDatabase[dict[str, Any]]) -> None:
    from tests.staff_helpers import multipart

    await services.runner.stop()
    unit = await unit_client(api, settings.sms_outbox)
    people = []
    for i in range(21):
        body = form_body(name=f"多图{i}")
        assert (await unit.post("/api/v1/unit/staff", body)).status == 201
        people.append(body)
    files = [("files", f"{p['name']}-{p['id_number']}.jpg", PORTRAIT) for p in people]
    body, content_type = multipart(files, {"consent": "true"})
    r = await unit.request("POST", PHOTOS, body=body, headers={"Content-Type": content_type})
    assert r.status == 200 and r.json["status"] == "running", r.body
    assert await db["job_files.files"].count_documents({}) == 21
    job = await db["jobs"].find_one()
    assert not any(p["id_number"] in str(job) for p in people)  # the names (ID numbers) stay with the files
    await services.runner.run_until_idle()
    r = await unit.get(f"/api/v1/unit/staff/photo-jobs/{r.json['job_id']}")
    assert r.json["status"] == "done" and r.json["counts"] == {"saved": 21}
    assert await db["job_files.files"].count_documents({}) == 0
    done = str(await db["jobs"].find_one())
    assert not any(p["id_number"] in done for p in people)


async def test_a_photo_job_of_the_old_in_process_kind_shows_interrupted(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]],
) -> None:
    """A progress document left by the in-process tasks before the job runner: no job will finish it."""
    from datetime import UTC, datetime, timedelta

    from bson import ObjectId

    unit_id = ObjectId()
    legacy = {"_id": ObjectId(), "unit_id": unit_id, "status": "running", "total": 30, "processed": 4,
              "counts": {}, "files": [], "started_at": datetime.now(UTC),
              "expires_at": datetime.now(UTC) + timedelta(days=7)}
    await db["photo_jobs"].insert_one(legacy)
    unit = api.with_token((await services.tokens.issue(unit_id, "unit")).token)
    r = await unit.get(f"/api/v1/unit/staff/photo-jobs/{legacy['_id']}")
    assert r.status == 200 and r.json["status"] == "interrupted" and r.json["processed"] == 4
