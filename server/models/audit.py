"""The audit trail as association staff see it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from server.models.common import PageQuery


class AuditQuery(PageQuery):
    """Filters of the audit list."""

    action: str | None = Field(default=None, max_length=64, pattern=r"^[a-z_.]+$")
    actor_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$", description="操作人账号 id")
    subject: str | None = Field(default=None, min_length=1, max_length=64,
                                description="对象名称（精确匹配，如用户名、统一社会信用代码、trainee:<id>）")
    subject_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$", description="对象 id")
    since: datetime | None = Field(default=None, description="起始时间（含）")
    until: datetime | None = Field(default=None, description="截止时间（不含；不晚于起始时间时结果为空）")


class AuditEntryOut(BaseModel):
    """One state change: who, what, when, from where; subjects masked."""

    at: datetime
    action: str
    actor_id: str | None
    actor_role: str | None
    subject: str | None
    subject_id: str | None
    ip: str | None
    details: dict[str, Any]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AuditEntryOut:
        """From the stored entry."""
        return cls(
            at=doc["at"],
            action=doc["action"],
            actor_id=str(doc["actor_id"]) if doc.get("actor_id") else None,
            actor_role=doc.get("actor_role"),
            subject=doc.get("subject"),
            subject_id=str(doc["subject_id"]) if doc.get("subject_id") else None,
            ip=doc.get("ip"),
            details=doc.get("details") or {},
        )


class AuditPage(BaseModel):
    """A page of the audit trail, newest first."""

    items: list[AuditEntryOut]
    total: int
