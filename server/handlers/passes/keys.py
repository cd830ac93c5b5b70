"""Pass signing keys for association administrators: list them, rotate the current one."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.pass_keys import PassKeyPage
from server.services.passes import key_admin

TAGS = ["admin"]


class PassKeysHandler(ApiHandler):
    """``/api/v1/admin/pass-keys``."""

    @endpoint("听课证签名密钥列表（编号、创建、停用、有效期；不含私钥）", response=PassKeyPage, roles=["admin"],
              tags=TAGS, errors=[503])
    async def get(self) -> PassKeyPage:
        """Every key, newest first, and whether the current one can be rotated from here."""
        return await key_admin.list_keys(self.services.passes.keyring)


class PassKeyRotateHandler(ApiHandler):
    """``/api/v1/admin/pass-keys/rotate``."""

    @endpoint("轮换听课证签名密钥（旧密钥签发的听课证到期前仍有效）", response=PassKeyPage, roles=["admin"],
              tags=TAGS, errors=[409, 503], fresh=True)
    async def post(self) -> PassKeyPage:
        """A new key; 409 ``pass_key_from_env`` when PASS_SIGNING_KEY sets it. Audited as ``pass_key.rotate``."""
        assert self.principal is not None
        return await key_admin.rotate_key(self.services.passes.keyring, self.services.audit, by=self.principal,
                                          ip=self.client_ip)


routes = [
    (r"/api/v1/admin/pass-keys", PassKeysHandler),
    (r"/api/v1/admin/pass-keys/rotate", PassKeyRotateHandler),
]
