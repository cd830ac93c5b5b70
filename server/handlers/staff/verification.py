"""Unit verification: the unit's business licence, and the administrators' review queue."""

from __future__ import annotations

from server.handlers.base import ApiHandler, Upload, endpoint
from server.models.binding import (
    UnitVerificationItem,
    UnitVerificationOut,
    UnitVerificationPage,
    UnitVerificationQuery,
    VerificationDecisionIn,
)
from server.services.staff.verification import LICENCE_MAX_BYTES

UNIT_TAGS = ["unit-verification"]
ADMIN_TAGS = ["admin"]
JPEG = "image/jpeg"
MULTIPART_SLACK = 64 * 1024


class LicenceHandler(ApiHandler):
    """``/api/v1/unit/licence``."""

    @endpoint("单位认证状态（未认证 / 审核中 / 已认证 / 未通过及原因）", response=UnitVerificationOut,
              roles=["unit"], tags=UNIT_TAGS)
    async def get(self) -> UnitVerificationOut:
        """The calling unit's verification status."""
        assert self.principal is not None
        return await self.services.unit_verification.status(self.principal)

    @endpoint("上传营业执照（multipart 字段 licence，或 image/jpeg、image/png 原始内容），提交协会审核",
              response=UnitVerificationOut, roles=["unit"], tags=UNIT_TAGS,
              max_body_bytes=LICENCE_MAX_BYTES + MULTIPART_SLACK, errors=[400, 409, 413, 415, 422],
              upload=Upload(files=("licence",), raw=("image/jpeg", "image/png")))
    async def put(self) -> UnitVerificationOut:
        """Store the licence image and set the status to pending."""
        assert self.principal is not None
        upload = self.uploaded_file("licence", raw_types=("image/jpeg", "image/png"))
        assert upload is not None
        return await self.services.unit_verification.upload(self.principal, upload[1], ip=self.client_ip)


class UnitQueueHandler(ApiHandler):
    """``/api/v1/admin/units``."""

    @endpoint("按认证状态列出单位（默认待审核）", query=UnitVerificationQuery, response=UnitVerificationPage,
              roles=["admin"], tags=ADMIN_TAGS)
    async def get(self, query: UnitVerificationQuery) -> UnitVerificationPage:
        """Units by verification status, oldest submission first."""
        return await self.services.unit_verification.list(query)


class UnitLicenceHandler(ApiHandler):
    """``/api/v1/admin/units/{unit_id}/licence``."""

    @endpoint("查看单位营业执照（记入审计日志）", roles=["admin"], tags=ADMIN_TAGS, produces=JPEG, errors=[404])
    async def get(self, unit_id: str) -> None:
        """The unit's licence image."""
        assert self.principal is not None
        data = await self.services.unit_verification.licence(self.principal, unit_id, ip=self.client_ip)
        self.write_inline(JPEG, data, cache_control="private, no-store")


class UnitDecisionHandler(ApiHandler):
    """``/api/v1/admin/units/{unit_id}/verification``."""

    @endpoint("审核单位认证（通过 / 驳回并说明原因），单位会收到通知", body=VerificationDecisionIn,
              response=UnitVerificationItem, roles=["admin"], tags=ADMIN_TAGS, errors=[404, 409, 422], fresh=True)
    async def post(self, unit_id: str, body: VerificationDecisionIn) -> UnitVerificationItem:
        """pending → verified or rejected (with the reason told to the unit)."""
        assert self.principal is not None
        return await self.services.unit_verification.decide(self.principal, unit_id, body, ip=self.client_ip)


routes = [
    (r"/api/v1/unit/licence", LicenceHandler),
    (r"/api/v1/admin/units", UnitQueueHandler),
    (r"/api/v1/admin/units/(?P<unit_id>[^/]+)/licence", UnitLicenceHandler),
    (r"/api/v1/admin/units/(?P<unit_id>[^/]+)/verification", UnitDecisionHandler),
]
