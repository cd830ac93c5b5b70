"""Background jobs as association administrators see them: kind, status, attempts, last error, times.

No payload is shown: it may name people (an account to notify, a unit's upload).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from server.models.common import PageQuery

JobStatus = Literal["queued", "running", "failed", "dead", "done"]

STATUS_LABELS: dict[str, str] = {
    "queued": "排队中", "running": "执行中", "failed": "失败，等待重试", "dead": "已停止重试", "done": "已完成",
}
KIND_LABELS: dict[str, str] = {"notify": "消息通知", "staff_photos": "批量上传照片"}
KIND_LABELS["demo_task"] = "演示任务"  # server/demo/admin_queue.py


# What may name a person in an exception's first line: ID numbers, mobile phones, e-mail addresses.
_PERSONAL = (
    (re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{10,13}([0-9Xx]{4})(?![0-9A-Za-z])"), r"\1**********\2"),
    (re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "***@***"),
)


def scrub_error(text: str | None) -> str | None:
    """A job's last error as administrators see it: personal numbers masked, e-mails hidden."""
    if not text:
        return text
    for pattern, replacement in _PERSONAL:
        text = pattern.sub(replacement, text)
    return text


class JobQuery(PageQuery):
    """Filters of the job list."""

    status: JobStatus | None = Field(default=None, description="queued / running / failed / dead / done")
    kind: str | None = Field(default=None, max_length=64, pattern=r"^[a-z_]+$")


class JobOut(BaseModel):
    """One job, without its payload."""

    id: str
    kind: str
    kind_label: str
    status: JobStatus
    status_label: str
    attempts: int
    max_attempts: int
    last_error: str | None = Field(default=None, description="最近一次失败的原因（异常类型与首行）")
    created_at: datetime
    run_at: datetime | None = Field(default=None, description="下次可执行的时间（失败后按指数退避推迟）")
    started_at: datetime | None = None
    failed_at: datetime | None = None
    finished_at: datetime | None = None
    lease_until: datetime | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> JobOut:
        """From the stored job (its payload is never read)."""
        return cls(
            id=str(doc["_id"]), kind=doc["kind"], kind_label=KIND_LABELS.get(doc["kind"], doc["kind"]),
            status=doc["status"], status_label=STATUS_LABELS[doc["status"]], attempts=doc["attempts"],
            max_attempts=doc["max_attempts"], last_error=scrub_error(doc.get("last_error")), created_at=doc["created_at"],
            run_at=doc.get("run_at"), started_at=doc.get("started_at"), failed_at=doc.get("failed_at"),
            finished_at=doc.get("finished_at"), lease_until=doc.get("lease_until"),
        )


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobOut]
    total: int
