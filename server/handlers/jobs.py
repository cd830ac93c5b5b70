"""Background jobs for association administrators: list them (failed, dead…) and retry one."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.jobs import JobOut, JobPage, JobQuery

TAGS = ["admin"]
ADMIN = ["admin"]


class JobListHandler(ApiHandler):
    """``/api/v1/admin/jobs``."""

    @endpoint("后台任务列表（可按状态、类型筛选）", query=JobQuery, response=JobPage, roles=ADMIN, tags=TAGS,
              errors=[422])
    async def get(self, query: JobQuery) -> JobPage:
        """Jobs newest first: kind, status, attempts, last error, times; never their payloads."""
        jobs, total = await self.services.jobs.list(status=query.status, kind=query.kind, skip=query.skip,
                                                    limit=query.page_size)
        return JobPage(items=[JobOut.from_doc(j) for j in jobs], total=total)


class JobRetryHandler(ApiHandler):
    """``/api/v1/admin/jobs/{job_id}/retry``."""

    @endpoint("重新执行失败的后台任务", response=JobOut, roles=ADMIN, tags=TAGS, errors=[404, 409], fresh=True)
    async def post(self, job_id: str) -> JobOut:
        """dead / failed → queued now, attempts counted afresh; audited as ``job.retry``; 409 otherwise."""
        assert self.principal is not None
        job = await self.services.jobs.retry(job_id, by=self.principal, ip=self.client_ip)
        return JobOut.from_doc(job)


routes = [
    (r"/api/v1/admin/jobs", JobListHandler),
    (r"/api/v1/admin/jobs/(?P<job_id>[^/]+)/retry", JobRetryHandler),
]
