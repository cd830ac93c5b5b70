"""The session list and detail: public; a logged-in trainee also sees their own status."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.catalog import SessionDetail, SessionListQuery, SessionPage

TAGS = ["catalog"]


class SessionListHandler(ApiHandler):
    """``/api/v1/sessions``."""

    @endpoint("班次列表（学员登录时含审批状态）", query=SessionListQuery, response=SessionPage, tags=TAGS,
              errors=[401])
    async def get(self, query: SessionListQuery) -> SessionPage:
        """Published and closed sessions, newest first; ``my_status`` per row for a trainee."""
        viewer = await self.optional_principal()
        return await self.services.session_list.list(query, viewer=viewer)


class SessionDetailHandler(ApiHandler):
    """``/api/v1/sessions/{session_id}``."""

    @endpoint("班次详情", response=SessionDetail, tags=TAGS, errors=[401, 404])
    async def get(self, session_id: str) -> SessionDetail:
        """One published or closed session with seats left and the course facts."""
        viewer = await self.optional_principal()
        return await self.services.session_list.detail(session_id, viewer=viewer)


routes = [
    (r"/api/v1/sessions", SessionListHandler),
    (r"/api/v1/sessions/(?P<session_id>[^/]+)", SessionDetailHandler),
]
