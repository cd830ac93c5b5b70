"""The back office's settings page: what it needs beyond the existing settings endpoints (the seal's image)."""

from __future__ import annotations

from server import errors
from server.handlers.base import ApiHandler, endpoint

PNG = "image/png"


class SealImageHandler(ApiHandler):
    """``/api/v1/admin/seal.png``."""

    @endpoint("协会印章图片（预览；未设置时 404）", roles=["admin"], tags=["admin"], produces=PNG, errors=[404])
    async def get(self) -> None:
        """The seal printed on certificates, as stored (a cleaned transparent PNG)."""
        png = await self.services.certificates.seal_png()
        if png is None:
            raise errors.not_found("尚未设置协会印章", "seal_not_set")
        self.write_inline(PNG, png, cache_control="private, no-cache")


routes = [(r"/api/v1/admin/seal\.png", SealImageHandler)]
