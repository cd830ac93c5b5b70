"""The rights of the person (PIPL): download one's data, delete one's account; the admin purge."""

from __future__ import annotations

from server.documents.data_export import ZIP_CONTENT_TYPE
from server.handlers.base import ApiHandler, endpoint
from server.models.binding import DeletionIn, DeletionOut, PurgeOut, PurgeQuery

TAGS = ["privacy"]


class DataExportHandler(ApiHandler):
    """``/api/v1/me/data-export``."""

    @endpoint("下载本人的全部个人信息（ZIP：data.json、证件照、证书图片；记入审计日志）", roles=["trainee"], tags=TAGS,
              produces=ZIP_CONTENT_TYPE, errors=[429])
    async def get(self) -> None:
        """Everything held about the caller."""
        assert self.principal is not None
        self.write_file(*await self.services.privacy.export(self.principal, ip=self.client_ip))


class DeletionHandler(ApiHandler):
    """``/api/v1/me/deletion``."""

    @endpoint("注销账号（需密码或短信验证码；立即删除个人信息，报名记录去除个人信息后保留）", body=DeletionIn,
              response=DeletionOut, roles=["trainee"], tags=TAGS, errors=[409, 422, 429])
    async def post(self, body: DeletionIn) -> DeletionOut:
        """Delete the caller's account now; every login ends."""
        assert self.principal is not None
        return await self.services.privacy.delete_me(self.principal, body, ip=self.client_ip)


class PurgeHandler(ApiHandler):
    """``/api/v1/admin/privacy/purge-inactive``."""

    @endpoint("清除长期未使用账号的个人信息（PII_RETENTION_DAYS；dry_run=true 仅统计）", query=PurgeQuery,
              response=PurgeOut, roles=["admin"], tags=["admin"], fresh=True)
    async def post(self, query: PurgeQuery) -> PurgeOut:
        """Anonymize trainee accounts inactive for the retention period (or count them)."""
        assert self.principal is not None
        return await self.services.privacy.purge_inactive(dry_run=query.dry_run, by=self.principal,
                                                          ip=self.client_ip)


routes = [
    (r"/api/v1/me/data-export", DataExportHandler),
    (r"/api/v1/me/deletion", DeletionHandler),
    (r"/api/v1/admin/privacy/purge-inactive", PurgeHandler),
]
