"""Enrollment: by the trainee, by the unit for its staff; cancel; the waitlist."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.common import PageQuery
from server.models.enrollments import (
    EnrollmentCreate,
    EnrollmentOut,
    EnrollmentPage,
    UnitEnrollmentCreate,
    UnitEnrollmentResult,
    WaitlistJoin,
    WaitlistOut,
    WaitlistPage,
)

TAGS = ["enrollments"]
PEOPLE = ["trainee", "unit"]


class EnrollmentsHandler(ApiHandler):
    """``/api/v1/enrollments``."""

    @endpoint("报名（学员本人）", body=EnrollmentCreate, response=EnrollmentOut, status=201,
              roles=["trainee"], tags=TAGS, errors=[404, 409])
    async def post(self, body: EnrollmentCreate) -> EnrollmentOut:
        """Enroll the caller in a session; refusals name their rule."""
        assert self.principal is not None
        doc = await self.services.enrollments.enroll_self(self.principal, body, ip=self.client_ip)
        return EnrollmentOut.from_doc(doc)

    @endpoint("我的报名（学员）/ 本单位的报名（单位）", query=PageQuery, response=EnrollmentPage,
              roles=PEOPLE, tags=TAGS)
    async def get(self, query: PageQuery) -> EnrollmentPage:
        """The trainee's own enrollments, or those the unit made; newest first."""
        assert self.principal is not None
        docs, total = await self.services.enrollments.list_for(
            self.principal, skip=query.skip, limit=query.page_size)
        return EnrollmentPage(items=[EnrollmentOut.from_doc(d) for d in docs], total=total)


class EnrollmentHandler(ApiHandler):
    """``/api/v1/enrollments/{enrollment_id}``."""

    @endpoint("报名详情", response=EnrollmentOut, roles=[*PEOPLE, "admin", "reviewer"], tags=TAGS, errors=[404])
    async def get(self, enrollment_id: str) -> EnrollmentOut:
        """One enrollment the caller may see (others' are 404)."""
        assert self.principal is not None
        return EnrollmentOut.from_doc(await self.services.enrollments.get_visible(self.principal, enrollment_id))


class CancelHandler(ApiHandler):
    """``/api/v1/enrollments/{enrollment_id}/cancel``."""

    @endpoint("取消报名（缴费审核通过前）", response=EnrollmentOut, roles=PEOPLE, tags=TAGS, errors=[404, 409])
    async def post(self, enrollment_id: str) -> EnrollmentOut:
        """Cancel and free the seat (exactly once)."""
        assert self.principal is not None
        doc = await self.services.enrollments.cancel(self.principal, enrollment_id, ip=self.client_ip)
        return EnrollmentOut.from_doc(doc)


class UnitEnrollmentsHandler(ApiHandler):
    """``/api/v1/unit/enrollments``."""

    @endpoint("单位为员工报名（逐人结果）", body=UnitEnrollmentCreate, response=UnitEnrollmentResult,
              roles=["unit"], tags=TAGS, errors=[404, 409])
    async def post(self, body: UnitEnrollmentCreate) -> UnitEnrollmentResult:
        """Enroll chosen staff; every person gets a verdict (404 ``address_not_found``, 409
        ``address_required`` refuse the whole batch)."""
        assert self.principal is not None
        return await self.services.enrollments.enroll_staff(self.principal, body, ip=self.client_ip)


class WaitlistHandler(ApiHandler):
    """``/api/v1/waitlist``."""

    @endpoint("加入候补名单（班次已满时）", body=WaitlistJoin, response=WaitlistOut, status=201,
              roles=PEOPLE, tags=TAGS, errors=[404, 409])
    async def post(self, body: WaitlistJoin) -> WaitlistOut:
        """Join a full session's waitlist; a freed seat is held 48 hours for the first in line."""
        assert self.principal is not None
        service = self.services.enrollments
        entry = await service.join_waitlist(self.principal, body.session_id, body.trainee_id)
        return WaitlistOut(
            id=str(entry["_id"]), session_id=str(entry["session_id"]), trainee_id=str(entry["trainee_id"]),
            status=entry["status"], position=await service.waitlist.position(entry),
        )

    @endpoint("我的候补（学员本人 / 单位为员工候补的）", response=WaitlistPage, roles=PEOPLE, tags=TAGS)
    async def get(self) -> WaitlistPage:
        """The caller's open places in line (waiting or offered), with session code and course name."""
        assert self.principal is not None
        entries = await self.services.enrollments.waitlist.mine(self.principal)
        return WaitlistPage(items=[WaitlistOut.from_entry(e, e["position"]) for e in entries], total=len(entries))


class LeaveWaitlistHandler(ApiHandler):
    """``/api/v1/waitlist/{entry_id}/leave``."""

    @endpoint("退出候补（保留中的名额转给下一位）", response=WaitlistOut, roles=PEOPLE, tags=TAGS, errors=[404, 409])
    async def post(self, entry_id: str) -> WaitlistOut:
        """Leave a line once; an offered seat goes to the next in line at once."""
        assert self.principal is not None
        entry = await self.services.enrollments.waitlist.leave(self.principal, entry_id, ip=self.client_ip)
        return WaitlistOut.from_entry(entry, 0)


_ID = r"(?P<enrollment_id>[^/]+)"
routes = [
    (r"/api/v1/enrollments", EnrollmentsHandler),
    (rf"/api/v1/enrollments/{_ID}", EnrollmentHandler),
    (rf"/api/v1/enrollments/{_ID}/cancel", CancelHandler),
    (r"/api/v1/unit/enrollments", UnitEnrollmentsHandler),
    (r"/api/v1/waitlist", WaitlistHandler),
    (r"/api/v1/waitlist/(?P<entry_id>[^/]+)/leave", LeaveWaitlistHandler),
]
