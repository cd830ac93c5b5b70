"""Accounts for association administrators: find one as its owner logs in, disable, re-enable; staff accounts;
an SMS password reset."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.admin_accounts import (
    AdminAccountItem,
    AdminAccountPage,
    AdminAccountQuery,
    PasswordResetSentOut,
    StaffAccountItem,
    StaffAccountPage,
    StaffAccountQuery,
    StaffCreateIn,
)

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


class AccountPasswordResetHandler(ApiHandler):
    """``/api/v1/admin/accounts/{account_id}/password-reset``."""

    @endpoint("向账号登记的手机发送重置密码验证码（本人再通过“忘记密码”设置新密码；不显示任何密码）",
              response=PasswordResetSentOut, roles=ADMIN, tags=TAGS, errors=[404, 409, 429], fresh=True)
    async def post(self, account_id: str) -> PasswordResetSentOut:
        """A reset code to the phone on record; the masked phone. Audited as ``account.password_reset_sent``."""
        assert self.principal is not None
        return await self.services.admin_accounts.send_password_reset(account_id, by=self.principal,
                                                                      ip=self.client_ip)


class StaffAccountsHandler(ApiHandler):
    """``/api/v1/admin/staff``."""

    @endpoint("协会工作人员账号列表", query=StaffAccountQuery, response=StaffAccountPage, roles=ADMIN, tags=TAGS, errors=[422])
    async def get(self, query: StaffAccountQuery) -> StaffAccountPage:
        """Staff accounts newest first (phones masked)."""
        return await self.services.admin_accounts.list_staff(query)

    @endpoint("新建协会工作人员账号（未激活：本人用手机验证码在“首次登录”中激活并设置密码）", body=StaffCreateIn,
              response=StaffAccountItem, status=201, roles=ADMIN, tags=TAGS, errors=[409, 422], fresh=True)
    async def post(self, body: StaffCreateIn) -> StaffAccountItem:
        """A pending staff account; 409 ``account_exists``. Audited as ``account.create_staff``."""
        assert self.principal is not None
        return await self.services.admin_accounts.create_staff(body, by=self.principal, ip=self.client_ip)


routes = [
    (r"/api/v1/admin/accounts", AccountLookupHandler),
    (r"/api/v1/admin/accounts/(?P<account_id>[^/]+)/disable", AccountDisableHandler),
    (r"/api/v1/admin/accounts/(?P<account_id>[^/]+)/enable", AccountEnableHandler),
    (r"/api/v1/admin/accounts/(?P<account_id>[^/]+)/password-reset", AccountPasswordResetHandler),
    (r"/api/v1/admin/staff", StaffAccountsHandler),
]
