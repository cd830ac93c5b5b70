"""Accounts for association administrators: find one as its owner logs in, disable, re-enable."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.admin_accounts import AdminAccountItem, AdminAccountPage, AdminAccountQuery

TAGS = ["admin"]
ADMIN = ["admin"]


class AccountLookupHandler(ApiHandler):
    """``/api/v1/admin/accounts``."""

    @endpoint("查找账号（身份证号 / 统一社会信用代码 / 协会用户名，精确匹配）", query=AdminAccountQuery,
              response=AdminAccountPage, roles=ADMIN, tags=TAGS, errors=[422])
    async def get(self, query: AdminAccountQuery) -> AdminAccountPage:
        """At most one account, personal data masked; unknown: an empty page. Audited as ``account.lookup``."""
        assert self.principal is not None
        return await self.services.accounts.admin_lookup(query.account, by=self.principal, ip=self.client_ip)


class AccountDisableHandler(ApiHandler):
    """``/api/v1/admin/accounts/{account_id}/disable``."""

    @endpoint("停用账号（立即注销其全部登录）", response=AdminAccountItem, roles=ADMIN, tags=TAGS, errors=[404, 409], fresh=True)
    async def post(self, account_id: str) -> AdminAccountItem:
        """active → disabled; 409 ``cannot_disable_self``, ``account_status_unchanged``, ``account_not_activated``."""
        assert self.principal is not None
        return await self.services.accounts.admin_set_disabled(account_id, True, by=self.principal, ip=self.client_ip)


class AccountEnableHandler(ApiHandler):
    """``/api/v1/admin/accounts/{account_id}/enable``."""

    @endpoint("启用已停用的账号", response=AdminAccountItem, roles=ADMIN, tags=TAGS, errors=[404, 409], fresh=True)
    async def post(self, account_id: str) -> AdminAccountItem:
        """disabled → active; 409 ``account_status_unchanged``, ``account_not_activated`` (pending: the owner activates)."""
        assert self.principal is not None
        return await self.services.accounts.admin_set_disabled(account_id, False, by=self.principal, ip=self.client_ip)


routes = [
    (r"/api/v1/admin/accounts", AccountLookupHandler),
    (r"/api/v1/admin/accounts/(?P<account_id>[^/]+)/disable", AccountDisableHandler),
    (r"/api/v1/admin/accounts/(?P<account_id>[^/]+)/enable", AccountEnableHandler),
]
