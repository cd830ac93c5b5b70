"""The trainee's pass: the QR text for the mini-program, re-issue."""

from __future__ import annotations

from server.documents.pass_pdf import CONTENT_TYPE as PDF
from server.handlers.base import ApiHandler, endpoint
from server.models.passes import PassJobCreate, PassJobOut, PassOut, UnitPassesQuery

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


class PassPdfHandler(ApiHandler):
    """``/api/v1/enrollments/{enrollment_id}/pass.pdf``."""

    @endpoint("下载听课证 PDF（A6）", roles=READERS, tags=TAGS, produces=PDF, errors=[404, 409])
    async def get(self, enrollment_id: str) -> None:
        """The pass as an A6 PDF with the QR, photo and session facts."""
        assert self.principal is not None
        self.write_file(*await self.services.pass_documents.one(self.principal, enrollment_id))


class UnitSessionPassesHandler(ApiHandler):
    """``/api/v1/unit/passes.pdf?session_id=…``."""

    @endpoint("单位下载本班次全部听课证（多页 PDF）", query=UnitPassesQuery, roles=["unit"], tags=TAGS, produces=PDF,
              errors=[404, 409])
    async def get(self, query: UnitPassesQuery) -> None:
        """All the unit's passes of one session, one A6 page each (only its own enrollments)."""
        assert self.principal is not None
        self.write_file(*await self.services.pass_documents.of_unit_session(self.principal, query.session_id))


routes += [
    (rf"/api/v1/enrollments/{_ID}/pass\.pdf", PassPdfHandler),
    (r"/api/v1/unit/passes\.pdf", UnitSessionPassesHandler),
]


class PassJobsHandler(ApiHandler):
    """``/api/v1/unit/pass-jobs``."""

    @endpoint("后台生成本班次全部听课证（人数较多时）", body=PassJobCreate, response=PassJobOut, status=202,
              roles=["unit"], tags=TAGS, errors=[404, 409])
    async def post(self, body: PassJobCreate) -> PassJobOut:
        """Queue the multi-page PDF; poll the job for progress, then download it."""
        assert self.principal is not None
        return PassJobOut.from_doc(await self.services.pass_documents.start_job(self.principal, body.session_id))


class PassJobHandler(ApiHandler):
    """``/api/v1/unit/pass-jobs/{pass_job_id}``."""

    @endpoint("听课证生成进度", response=PassJobOut, roles=["unit"], tags=TAGS, errors=[404])
    async def get(self, pass_job_id: str) -> PassJobOut:
        """Pages done of the total; the download link once done."""
        assert self.principal is not None
        return PassJobOut.from_doc(await self.services.pass_documents.job_state(self.principal, pass_job_id))


class PassJobFileHandler(ApiHandler):
    """``/api/v1/unit/pass-jobs/{pass_job_id}/file``."""

    @endpoint("下载后台生成的听课证 PDF", roles=["unit"], tags=TAGS, produces=PDF, errors=[404, 409])
    async def get(self, pass_job_id: str) -> None:
        """The finished PDF (kept about an hour)."""
        assert self.principal is not None
        self.write_file(*await self.services.pass_documents.job_file(self.principal, pass_job_id))


_JOB = r"(?P<pass_job_id>[^/]+)"
routes += [
    (r"/api/v1/unit/pass-jobs", PassJobsHandler),
    (rf"/api/v1/unit/pass-jobs/{_JOB}", PassJobHandler),
    (rf"/api/v1/unit/pass-jobs/{_JOB}/file", PassJobFileHandler),
]
