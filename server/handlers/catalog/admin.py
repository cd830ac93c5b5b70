"""Association staff manage the catalog: courses and sessions (admin writes, reviewer reads)."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.catalog import (
    AdminSessionPage,
    AdminSessionQuery,
    CourseCreate,
    CourseOut,
    CoursePage,
    CourseQuery,
    CourseUpdate,
    SessionCreate,
    SessionOut,
    SessionUpdate,
)

TAGS = ["admin", "catalog"]
READ = ["admin", "reviewer"]
WRITE = ["admin"]


class CoursesHandler(ApiHandler):
    """``/api/v1/admin/courses``."""

    @endpoint("课程列表", query=CourseQuery, response=CoursePage, roles=READ, tags=TAGS)
    async def get(self, query: CourseQuery) -> CoursePage:
        """Courses, newest first."""
        docs, total = await self.services.catalog.list_courses(
            q=query.q, archived=query.archived, skip=query.skip, limit=query.page_size
        )
        return CoursePage(items=[CourseOut.from_doc(d) for d in docs], total=total)

    @endpoint("新建课程", body=CourseCreate, response=CourseOut, status=201, roles=WRITE, tags=TAGS, fresh=True)
    async def post(self, body: CourseCreate) -> CourseOut:
        """Create a course."""
        assert self.principal is not None
        return CourseOut.from_doc(await self.services.catalog.create_course(body, by=self.principal, ip=self.client_ip))


class CourseHandler(ApiHandler):
    """``/api/v1/admin/courses/{course_id}``."""

    @endpoint("课程详情", response=CourseOut, roles=READ, tags=TAGS, errors=[404])
    async def get(self, course_id: str) -> CourseOut:
        """One course."""
        return CourseOut.from_doc(await self.services.catalog.get_course(course_id))

    @endpoint("修改课程（含归档）", body=CourseUpdate, response=CourseOut, roles=WRITE, tags=TAGS, errors=[404], fresh=True)
    async def patch(self, course_id: str, body: CourseUpdate) -> CourseOut:
        """Change some fields of a course; ``archived: true`` stops new sessions of it."""
        assert self.principal is not None
        course = await self.services.catalog.update_course(course_id, body, by=self.principal, ip=self.client_ip)
        return CourseOut.from_doc(course)


class SessionsHandler(ApiHandler):
    """``/api/v1/admin/sessions``."""

    @endpoint("班次列表（含草稿）", query=AdminSessionQuery, response=AdminSessionPage, roles=READ, tags=TAGS,
              errors=[404])
    async def get(self, query: AdminSessionQuery) -> AdminSessionPage:
        """Every session, newest first; 404 ``course_not_found`` when filtered by an unknown course."""
        docs, total = await self.services.catalog.list_sessions(
            q=query.q, course_id=query.course_id, status=query.status, skip=query.skip, limit=query.page_size
        )
        return AdminSessionPage(items=[SessionOut.from_doc(d) for d in docs], total=total)

    @endpoint("新建班次（草稿）", body=SessionCreate, response=SessionOut, status=201, roles=WRITE, tags=TAGS,
              errors=[409], fresh=True)
    async def post(self, body: SessionCreate) -> SessionOut:
        """Create a draft session; 409 ``session_code_exists``, ``course_archived``."""
        assert self.principal is not None
        session = await self.services.catalog.create_session(body, by=self.principal, ip=self.client_ip)
        return SessionOut.from_doc(session)


class SessionHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}``."""

    @endpoint("班次详情", response=SessionOut, roles=READ, tags=TAGS, errors=[404])
    async def get(self, session_id: str) -> SessionOut:
        """One session, drafts too."""
        return SessionOut.from_doc(await self.services.catalog.get_session(session_id))

    @endpoint("修改班次", body=SessionUpdate, response=SessionOut, roles=WRITE, tags=TAGS, errors=[404, 409], fresh=True)
    async def patch(self, session_id: str, body: SessionUpdate) -> SessionOut:
        """Change some fields; 409 ``capacity_below_taken``, ``session_code_exists``, ``session_closed``."""
        assert self.principal is not None
        session = await self.services.catalog.update_session(session_id, body, by=self.principal, ip=self.client_ip)
        return SessionOut.from_doc(session)


class PublishHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}/publish``."""

    @endpoint("发布班次", response=SessionOut, roles=WRITE, tags=TAGS, errors=[404, 409], fresh=True)
    async def post(self, session_id: str) -> SessionOut:
        """draft → published; 409 ``session_status_conflict`` otherwise."""
        assert self.principal is not None
        session = await self.services.catalog.publish_session(session_id, by=self.principal, ip=self.client_ip)
        return SessionOut.from_doc(session)


class CloseHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}/close``."""

    @endpoint("结束班次", response=SessionOut, roles=WRITE, tags=TAGS, errors=[404, 409], fresh=True)
    async def post(self, session_id: str) -> SessionOut:
        """published → closed; 409 ``session_status_conflict`` otherwise."""
        assert self.principal is not None
        session = await self.services.catalog.close_session(session_id, by=self.principal, ip=self.client_ip)
        return SessionOut.from_doc(session)


routes = [
    (r"/api/v1/admin/courses", CoursesHandler),
    (r"/api/v1/admin/courses/(?P<course_id>[^/]+)", CourseHandler),
    (r"/api/v1/admin/sessions", SessionsHandler),
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)/publish", PublishHandler),
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)/close", CloseHandler),
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)", SessionHandler),
]
