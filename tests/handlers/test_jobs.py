"""Administrators list background jobs (no payloads) and retry dead ones; nobody else may."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services
from server.services.jobs.queue import Job
from tests.client import ApiClient
from tests.factories import register_trainee, staff_token

JOBS = "/api/v1/admin/jobs"


async def _dead_job(services: Services) -> ObjectId:
    """A notification whose every attempt failed (a kind only this test's runner knows)."""
    await services.runner.stop()

    async def refuses(job: Job) -> None:
        raise ConnectionError("notifier unreachable")

    services.runner.register("test_refused", refuses)
    job_id = await services.jobs.enqueue("test_refused", {"account_id": "x", "text": "秘密内容 13800138000"},
                                         max_attempts=1)
    assert await services.runner.run_until_idle() == 1
    return job_id


async def test_an_admin_sees_dead_jobs_without_payloads(api: ApiClient, services: Services) -> None:
    job_id = await _dead_job(services)
    await services.jobs.enqueue("notify", {"account_id": "y", "text": "13900139000"})
    admin = await staff_token(services)
    r = await api.get(f"{JOBS}?status=dead", token=admin)
    assert r.status == 200, r.body
    assert r.json["total"] == 1
    item = r.json["items"][0]
    assert item["id"] == str(job_id) and item["status"] == "dead" and item["status_label"] == "已停止重试"
    assert item["attempts"] == 1 and item["last_error"] == "ConnectionError: notifier unreachable"
    assert "13800138000" not in r.body.decode() and "payload" not in item
    everything = await api.get(JOBS, token=admin)
    assert everything.json["total"] == 2 and "13900139000" not in everything.body.decode()
    assert (await api.get(f"{JOBS}?status=lost", token=admin)).status == 422


async def test_an_admin_retries_a_dead_job_once(api: ApiClient, services: Services,
                                                db: AsyncDatabase[dict[str, Any]]) -> None:
    job_id = await _dead_job(services)
    admin = await staff_token(services)
    r = await api.post(f"{JOBS}/{job_id}/retry", token=admin)
    assert r.status == 200 and r.json["status"] == "queued" and r.json["attempts"] == 0, r.body
    again = await api.post(f"{JOBS}/{job_id}/retry", token=admin)
    assert again.status == 409 and again.error_code == "job_not_retryable"
    assert "重新执行" in again.json["error"]["message"]
    audit = await db["audit_log"].find({"action": "job.retry"}).to_list()
    assert len(audit) == 1 and audit[0]["subject_id"] == job_id and audit[0]["subject"] == "test_refused"
    assert (await api.post(f"{JOBS}/{ObjectId()}/retry", token=admin)).status == 404
    assert (await api.post(f"{JOBS}/not-an-id/retry", token=admin)).status == 404


async def test_only_admins(api: ApiClient, settings: Settings, services: Services) -> None:
    job_id = await _dead_job(services)
    trainee, _ = await register_trainee(api, settings.sms_outbox)
    reviewer = await staff_token(services, "reviewer")
    for token in (trainee, reviewer, None):
        assert (await api.get(JOBS, token=token)).status in (401, 403)
        assert (await api.post(f"{JOBS}/{job_id}/retry", token=token)).status in (401, 403)
    assert (await services.jobs.get(job_id))["status"] == "dead"  # type: ignore[index]
