"""The trainee's pass: the QR text for the mini-program, re-issue."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.passes import PassOut

TAGS = ["passes"]
READERS = ["trainee", "unit", "admin", "reviewer"]


class PassHandler(ApiHandler):
    """``/api/v1/enrollments/{enrollment_id}/pass``."""

    @endpoint("听课证（审核通过后；首次请求时签发）", response=PassOut, roles=READERS, tags=TAGS, errors=[404, 409])
    async def get(self, enrollment_id: str) -> PassOut:
        """The valid pass of an approved enrollment, issued on the first request."""
        assert self.principal is not None
        return PassOut.from_doc(await self.services.passes.pass_for(self.principal, enrollment_id))


class ReissueHandler(ApiHandler):
    """``/api/v1/enrollments/{enrollment_id}/pass/reissue``."""

    @endpoint("补发听课证（旧编号作废）", response=PassOut, roles=["trainee", "unit", "admin"], tags=TAGS,
              errors=[404, 409])
    async def post(self, enrollment_id: str) -> PassOut:
        """A new pass with a new serial; the old one goes on the revocation list."""
        assert self.principal is not None
        return PassOut.from_doc(await self.services.passes.reissue(self.principal, enrollment_id, ip=self.client_ip))


_ID = r"(?P<enrollment_id>[^/]+)"
routes = [
    (rf"/api/v1/enrollments/{_ID}/pass", PassHandler),
    (rf"/api/v1/enrollments/{_ID}/pass/reissue", ReissueHandler),
]
