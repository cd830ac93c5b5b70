"""The audit trail for association administrators."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.audit import AuditEntryOut, AuditPage, AuditQuery


class AuditHandler(ApiHandler):
    """``/api/v1/admin/audit``."""

    @endpoint("审计日志", query=AuditQuery, response=AuditPage, roles=["admin"], tags=["admin"])
    async def get(self, query: AuditQuery) -> AuditPage:
        """Every state change, newest first."""
        entries, total = await self.services.audit.list(
            action=query.action, skip=query.skip, limit=query.page_size
        )
        return AuditPage(items=[AuditEntryOut.from_doc(e) for e in entries], total=total)


routes = [(r"/api/v1/admin/audit", AuditHandler)]
