"""Accounts: registration, login, activation, password, WeChat, and ``/me``."""

from __future__ import annotations

from server.handlers.base import ANY_ROLE, STAFF_ROLES, ApiHandler, endpoint
from server.models.accounts import (
    AccountOut,
    ActivateIn,
    LoginIn,
    PasswordChangeIn,
    PasswordResetIn,
    ReauthIn,
    ReauthOut,
    SmsLoginIn,
    TokenOut,
    TotpEnrolIn,
    TotpSetupOut,
    TraineeRegister,
    UnitRegister,
    WeChatBindIn,
    WeChatLoginIn,
)
from server.models.common import OkOut

TAGS = ["accounts"]


class RegisterTraineeHandler(ApiHandler):
    """``/api/v1/auth/register/trainee``."""

    @endpoint("学员注册", body=TraineeRegister, response=TokenOut, status=201, tags=TAGS, errors=[409])
    async def post(self, body: TraineeRegister) -> TokenOut:
        """Register a trainee (phone verified by SMS code) and log in."""
        return self.login_answer(await self.services.accounts.register_trainee(body, ip=self.client_ip))


class RegisterUnitHandler(ApiHandler):
    """``/api/v1/auth/register/unit``."""

    @endpoint("单位注册", body=UnitRegister, response=TokenOut, status=201, tags=TAGS, errors=[409])
    async def post(self, body: UnitRegister) -> TokenOut:
        """Register a unit with its USCC and log in."""
        return self.login_answer(await self.services.accounts.register_unit(body, ip=self.client_ip))


class LoginHandler(ApiHandler):
    """``/api/v1/auth/login``."""

    @endpoint("登录（身份证号 / 统一社会信用代码 / 协会用户名；协会工作人员另需动态验证码）", body=LoginIn,
              response=TokenOut, tags=TAGS, errors=[401, 403, 429])
    async def post(self, body: LoginIn) -> TokenOut:
        """Log in with account and password (or a one-time secret: restricted token); 429 when locked.

        Staff with a second factor: 401 ``totp_required`` without ``totp_code``, 401 ``totp_invalid``
        with a wrong or used one; staff without one: a ``totp_setup`` token (``totp_setup_required``).
        """
        return self.login_answer(await self.services.login.login(body, ip=self.client_ip))


class SmsLoginHandler(ApiHandler):
    """``/api/v1/auth/login/sms``."""

    @endpoint("短信验证码登录（验证码发送到账号登记的手机号）", body=SmsLoginIn, response=TokenOut,
              tags=TAGS, errors=[403, 429])
    async def post(self, body: SmsLoginIn) -> TokenOut:
        """Log in with an SMS code to the phone on record; works while password login is locked."""
        return self.login_answer(await self.services.login.login_sms(body, ip=self.client_ip))


class PasswordResetHandler(ApiHandler):
    """``/api/v1/auth/password/reset``."""

    @endpoint("短信验证码重置密码", body=PasswordResetIn, response=OkOut, tags=TAGS, errors=[403, 429])
    async def post(self, body: PasswordResetIn) -> OkOut:
        """Set a new password proven by an SMS code to the phone on record; every login is revoked."""
        await self.services.accounts.reset_password(body, ip=self.client_ip)
        return OkOut()


class ActivateHandler(ApiHandler):
    """``/api/v1/auth/activate``."""

    @endpoint("激活账号并设置密码", body=ActivateIn, response=TokenOut, tags=TAGS, errors=[404, 409, 429])
    async def post(self, body: ActivateIn) -> TokenOut:
        """Activate an account created by a unit, with its one-time secret or an SMS code (throttled)."""
        return self.login_answer(await self.services.login.activate(body, ip=self.client_ip))


class PasswordHandler(ApiHandler):
    """``/api/v1/auth/password``."""

    @endpoint("修改密码", body=PasswordChangeIn, response=OkOut, roles=ANY_ROLE, tags=TAGS,
              allow_restricted=True)
    async def post(self, body: PasswordChangeIn) -> OkOut:
        """Change one's password; every other login is revoked."""
        assert self.principal is not None
        await self.services.accounts.change_password(self.principal, body, ip=self.client_ip)
        return OkOut()


class LogoutHandler(ApiHandler):
    """``/api/v1/auth/logout``."""

    @endpoint("退出登录", response=OkOut, roles=ANY_ROLE, tags=TAGS, allow_restricted=True,
              allow_totp_setup=True)
    async def post(self) -> OkOut:
        """Revoke the token of this request."""
        assert self.principal is not None and self.principal.token_id is not None
        await self.services.tokens.revoke(self.principal.token_id)
        self.clear_session_cookies()
        return OkOut()


class WeChatLoginHandler(ApiHandler):
    """``/api/v1/auth/wechat``."""

    @endpoint("微信登录", body=WeChatLoginIn, response=TokenOut, tags=TAGS, errors=[401, 409, 503])
    async def post(self, body: WeChatLoginIn) -> TokenOut:
        """Log in with ``wx.login()``'s code; 409 ``wechat_not_bound`` carries a bind ticket."""
        return await self.services.login.wechat_login(body.code, ip=self.client_ip)


class WeChatBindHandler(ApiHandler):
    """``/api/v1/auth/wechat/bind``."""

    @endpoint("绑定微信", body=WeChatBindIn, response=TokenOut, tags=TAGS, errors=[401, 403, 409, 429])
    async def post(self, body: WeChatBindIn) -> TokenOut:
        """Bind the WeChat identity of a ticket to an account and log in."""
        return await self.services.login.wechat_bind(body, ip=self.client_ip)


class MeHandler(ApiHandler):
    """``/api/v1/me``."""

    @endpoint("当前账号", response=AccountOut, roles=ANY_ROLE, tags=TAGS, allow_restricted=True,
              allow_totp_setup=True)
    async def get(self) -> AccountOut:
        """The caller's own account."""
        assert self.principal is not None
        return await self.services.accounts.me(self.principal)


class TotpHandler(ApiHandler):
    """``/api/v1/auth/totp``: a staff member enrols an authenticator (the second factor)."""

    @endpoint("获取身份验证器密钥（协会工作人员首次登录）", response=TotpSetupOut, roles=STAFF_ROLES, tags=TAGS,
              allow_totp_setup=True, errors=[409])
    async def get(self) -> TotpSetupOut:
        """A new pending secret and its otpauth URI (for the QR); 409 when already enrolled."""
        assert self.principal is not None
        return await self.services.totp.begin(self.principal.account_id)

    @endpoint("绑定身份验证器：提交第一个动态验证码", body=TotpEnrolIn, response=TokenOut, roles=STAFF_ROLES,
              tags=TAGS, allow_totp_setup=True, errors=[409, 422])
    async def post(self, body: TotpEnrolIn) -> TokenOut:
        """Prove the pending secret with its first code: enrolled; a full login replaces this one."""
        assert self.principal is not None
        return self.login_answer(await self.services.login.enrol_totp(self.principal, body.code, ip=self.client_ip))


class ReauthHandler(ApiHandler):
    """``/api/v1/auth/reauth``."""

    @endpoint("重新验证身份（管理员操作需 15 分钟内验证过密码和动态验证码）", body=ReauthIn, response=ReauthOut,
              roles=ANY_ROLE, tags=TAGS, errors=[403, 422, 429])
    async def post(self, body: ReauthIn) -> ReauthOut:
        """Prove password and second factor again; this login is fresh for admin actions for 15 minutes."""
        assert self.principal is not None
        return await self.services.login.reauth(self.principal, body, ip=self.client_ip)


routes = [
    (r"/api/v1/auth/register/trainee", RegisterTraineeHandler),
    (r"/api/v1/auth/register/unit", RegisterUnitHandler),
    (r"/api/v1/auth/login", LoginHandler),
    (r"/api/v1/auth/login/sms", SmsLoginHandler),
    (r"/api/v1/auth/activate", ActivateHandler),
    (r"/api/v1/auth/password", PasswordHandler),
    (r"/api/v1/auth/password/reset", PasswordResetHandler),
    (r"/api/v1/auth/logout", LogoutHandler),
    (r"/api/v1/auth/wechat", WeChatLoginHandler),
    (r"/api/v1/auth/wechat/bind", WeChatBindHandler),
    (r"/api/v1/me", MeHandler),
    (r"/api/v1/auth/totp", TotpHandler),
    (r"/api/v1/auth/reauth", ReauthHandler),
]
