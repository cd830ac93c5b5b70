"""Certificates: batch approval and revocation (staff), downloads (holder, unit), the seal (admin),
and the public verification (API and a phone page)."""

from __future__ import annotations

from server import errors
from server.documents.verify_page import CSP, render_verification
from server.handlers.base import ApiHandler, Upload, endpoint
from server.models.certificates import (
    BundleIn,
    CertificateBundleOut,
    CertificateOut,
    CertificatePage,
    CertificateQuery,
    IssueOut,
    RevokeIn,
    SealOut,
    VerificationOut,
)

TAGS = ["certificates"]
REVIEWERS = ["reviewer", "admin"]
READERS = ["trainee", "unit", "reviewer", "admin"]
BUNDLERS = ["unit", "reviewer", "admin"]
PDF = "application/pdf"
SEAL_BODY_BYTES = 3 * 1024 * 1024


class CertificatesHandler(ApiHandler):
    """``/api/v1/certificates``."""

    @endpoint("合格证列表（学员本人 / 单位员工 / 协会工作人员）", query=CertificateQuery, response=CertificatePage,
              roles=READERS, tags=TAGS)
    async def get(self, query: CertificateQuery) -> CertificatePage:
        """The certificates the caller may see, newest first."""
        assert self.principal is not None
        items, total = await self.services.certificates.list_visible(
            self.principal, session_id=query.session_id, skip=query.skip, limit=query.page_size)
        return CertificatePage(items=items, total=total)


class CertificatePdfHandler(ApiHandler):
    """``/api/v1/certificates/{certificate_id}/pdf``."""

    @endpoint("下载合格证 PDF（学员本人；单位仅限本单位人员；他人的为 404）", roles=READERS, tags=TAGS,
              produces=PDF, errors=[404, 409])
    async def get(self, certificate_id: str) -> None:
        """The certificate rendered now (A4 landscape, with the QR to its verification page)."""
        assert self.principal is not None
        name, data = await self.services.certificates.pdf(self.principal, certificate_id)
        self.write_file(name, PDF, data)


class RevokeHandler(ApiHandler):
    """``/api/v1/certificates/{certificate_id}/revoke``."""

    @endpoint("撤销合格证（填写原因；验证页显示已撤销）", body=RevokeIn, response=CertificateOut, roles=REVIEWERS,
              tags=TAGS, errors=[404, 409])
    async def post(self, certificate_id: str, body: RevokeIn) -> CertificateOut:
        """Revoke; 409 ``already_revoked``."""
        assert self.principal is not None
        return await self.services.certificates.revoke(self.principal, certificate_id, body, ip=self.client_ip)


class IssueHandler(ApiHandler):
    """``/api/v1/review/sessions/{session_id}/certificates``."""

    @endpoint("协会审核：为班次已发布的合格学员批量签发合格证（编号按年度连续；出勤未达课程要求者不发，逐人说明原因）",
              response=IssueOut, roles=REVIEWERS, tags=TAGS, errors=[404, 409])
    async def post(self, session_id: str) -> IssueOut:
        """Issue what is due (``skipped``: 合格 below the course's minimum attendance); 409 ``nothing_to_certify``."""
        assert self.principal is not None
        return await self.services.certificates.issue_session(self.principal, session_id, ip=self.client_ip)


class SealHandler(ApiHandler):
    """``/api/v1/certificates/seal``."""

    @endpoint("协会印章是否已设置", response=SealOut, roles=REVIEWERS, tags=TAGS)
    async def get(self) -> SealOut:
        """Whether certificates carry a seal."""
        return await self.services.certificates.seal()

    @endpoint("设置协会印章（管理员；透明背景 PNG，multipart 字段 seal 或 image/png 原始内容）", response=SealOut,
              roles=["admin"], tags=TAGS, max_body_bytes=SEAL_BODY_BYTES, errors=[400, 413, 415, 422],
              upload=Upload(files=("seal",), raw=("image/png",)), fresh=True)
    async def put(self) -> SealOut:
        """Replace the seal printed on every certificate from now on."""
        assert self.principal is not None
        upload = self.uploaded_file("seal", raw_types=("image/png",))
        assert upload is not None
        return await self.services.certificates.set_seal(self.principal, upload[1], ip=self.client_ip)


class VerifyApiHandler(ApiHandler):
    """``/api/v1/certificates/verify/{code}``."""

    @endpoint("公开验证合格证（无需登录；仅返回姓名、脱敏身份证号、课程、学时、发证日期、状态）",
              response=VerificationOut, tags=TAGS, errors=[404, 429])
    async def get(self, code: str) -> VerificationOut:
        """The same 404 for every wrong code."""
        self.set_header("Cache-Control", "no-store")
        return await self.services.certificates.verify_public(code, ip=self.client_ip)


class VerifyPageHandler(ApiHandler):
    """``/verify/{code}``: the page the certificate's QR opens."""

    @endpoint("合格证验证页（手机浏览器；HTML）", tags=TAGS, produces="text/html", errors=[404, 429])
    async def get(self, code: str) -> None:
        """The verification as a small page: no script, a strict CSP; a wrong code gets the one 404 page."""
        service = self.services.certificates
        answer, busy = None, False
        try:
            answer = await service.verify_public(code, ip=self.client_ip)
        except errors.AppError as refusal:
            if refusal.status not in (404, 429):
                raise
            busy = refusal.status == 429
            self.set_status(refusal.status)
            for name, value in (refusal.headers or {}).items():
                self.set_header(name, value)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Cache-Control", "no-store")
        self.finish(render_verification(answer, association=service.association, busy=busy))


class BundlesHandler(ApiHandler):
    """``/api/v1/certificates/bundles``."""

    @endpoint("批量下载班次合格证（单位：本单位人员的；协会工作人员：全部有效的；后台生成 ZIP 或合并 PDF，返回任务）",
              body=BundleIn, response=CertificateBundleOut, status=202, roles=BUNDLERS, tags=TAGS, errors=[404])
    async def post(self, body: BundleIn) -> CertificateBundleOut:
        """Queue the bundle; follow it at ``/bundles/{id}``."""
        assert self.principal is not None
        return CertificateBundleOut.from_doc(await self.services.certificate_bundles.request(self.principal, body,
                                                                                 ip=self.client_ip))


class CertificateBundleHandler(ApiHandler):
    """``/api/v1/certificates/bundles/{bundle_id}``."""

    @endpoint("批量下载任务进度（仅发起人）", response=CertificateBundleOut, roles=BUNDLERS, tags=TAGS, errors=[404])
    async def get(self, bundle_id: str) -> CertificateBundleOut:
        """Progress: ``done`` of ``total``."""
        assert self.principal is not None
        return CertificateBundleOut.from_doc(await self.services.certificate_bundles.get(self.principal, bundle_id))


class BundleFileHandler(ApiHandler):
    """``/api/v1/certificates/bundles/{bundle_id}/file``."""

    @endpoint("下载批量合格证文件（ZIP 或 PDF；仅发起人）", roles=BUNDLERS, tags=TAGS, produces="application/zip",
              errors=[404, 409])
    async def get(self, bundle_id: str) -> None:
        """The finished file; 409 ``bundle_not_ready`` before."""
        assert self.principal is not None
        name, ctype, data = await self.services.certificate_bundles.file(self.principal, bundle_id)
        self.write_file(name, ctype, data)


_CID = r"(?P<certificate_id>[^/]+)"
routes = [
    (r"/api/v1/certificates", CertificatesHandler),
    (r"/api/v1/certificates/seal", SealHandler),
    (r"/api/v1/certificates/bundles", BundlesHandler),
    (r"/api/v1/certificates/bundles/(?P<bundle_id>[^/]+)", CertificateBundleHandler),
    (r"/api/v1/certificates/bundles/(?P<bundle_id>[^/]+)/file", BundleFileHandler),
    (r"/api/v1/certificates/verify/(?P<code>[^/]+)", VerifyApiHandler),
    (rf"/api/v1/certificates/{_CID}/pdf", CertificatePdfHandler),
    (rf"/api/v1/certificates/{_CID}/revoke", RevokeHandler),
    (r"/api/v1/review/sessions/(?P<session_id>[^/]+)/certificates", IssueHandler),
    (r"/verify/(?P<code>[^/]+)", VerifyPageHandler),
]
