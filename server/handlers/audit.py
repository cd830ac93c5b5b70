"""The audit trail for association administrators."""

from __future__ import annotations

from bson import ObjectId

from server.handlers.base import ApiHandler, endpoint
from server.models.audit import AuditEntryOut, AuditPage, AuditQuery


class AuditHandler(ApiHandler):
    """``/api/v1/admin/audit``."""

    @endpoint("审计日志（可按操作人、对象、操作类型、时间范围筛选）", query=AuditQuery, response=AuditPage,
              roles=["admin"], tags=["admin"], errors=[422])
    async def get(self, query: AuditQuery) -> AuditPage:
        """Every state change, newest first."""
        entries, total = await self.services.audit.list(
            action=query.action, actor_id=ObjectId(query.actor_id) if query.actor_id else None,
            subject=query.subject, subject_id=ObjectId(query.subject_id) if query.subject_id else None,
            since=query.since, until=query.until, skip=query.skip, limit=query.page_size,
        )
        return AuditPage(items=[AuditEntryOut.from_doc(e) for e in entries], total=total)


routes = [(r"/api/v1/admin/audit", AuditHandler)]
