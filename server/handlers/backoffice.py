"""The back office's own views: the dashboard (工作台), a session's enrollments (报名管理) and its
check-in conflicts (签到管理)."""

from __future__ import annotations

from server.documents.xlsx_common import XLSX_CONTENT_TYPE
from server.handlers.base import ApiHandler, endpoint
from server.models.dashboard import OfficeDashboardOut
from server.models.roster import (
    CheckinConflictPage,
    CheckinConflictQuery,
    SessionEnrollmentFilter,
    SessionEnrollmentPage,
    SessionEnrollmentQuery,
)

TAGS = ["admin"]
OFFICE = ["admin", "reviewer"]


class DashboardHandler(ApiHandler):
    """``/api/v1/admin/dashboard``."""

    @endpoint("工作台（已发布班次名额与候补、待审核缴费、今日签到、失败任务；按角色给出）", response=OfficeDashboardOut,
              roles=["admin", "reviewer", "scanner"], tags=TAGS)
    async def get(self) -> OfficeDashboardOut:
        """What needs attention now; a reviewer gets no jobs part, a scanner only today's check-ins."""
        assert self.principal is not None
        return await self.services.dashboard.build(self.principal)


class RosterHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}/enrollments``."""

    @endpoint("班次报名名单（按审批状态、单位筛选，分页；证件号脱敏）", query=SessionEnrollmentQuery,
              response=SessionEnrollmentPage, roles=OFFICE, tags=TAGS, errors=[404])
    async def get(self, session_id: str, query: SessionEnrollmentQuery) -> SessionEnrollmentPage:
        """A page of the session's enrollments in enrollment order; 404 ``session_not_found``."""
        return await self.services.session_roster.page(session_id, query)


class RosterExportHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}/enrollments.xlsx``."""

    @endpoint("导出班次报名名单（Excel；证件号脱敏，下载记入审计日志）", query=SessionEnrollmentFilter, roles=OFFICE, tags=TAGS,
              produces=XLSX_CONTENT_TYPE, errors=[404])
    async def get(self, session_id: str, query: SessionEnrollmentFilter) -> None:
        """The session's enrollments with the list's filters, one row each."""
        assert self.principal is not None
        self.write_file(*await self.services.session_roster.export(self.principal, session_id, query,
                                                                   ip=self.client_ip))


class ConflictsHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}/checkin-conflicts``."""

    @endpoint("签到冲突（同一听课证当天在两台设备签到）", query=CheckinConflictQuery, response=CheckinConflictPage,
              roles=["scanner", "admin"], tags=["check-in"], errors=[404])
    async def get(self, session_id: str, query: CheckinConflictQuery) -> CheckinConflictPage:
        """The session's conflicts (one day or all), by time; 404 ``session_not_found``."""
        day = query.day.isoformat() if query.day else None
        return await self.services.session_roster.conflicts_of(session_id, day)


routes = [
    (r"/api/v1/admin/dashboard", DashboardHandler),
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)/enrollments", RosterHandler),
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)/enrollments\.xlsx", RosterExportHandler),
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)/checkin-conflicts", ConflictsHandler),
]
