"""Logging in: password login with throttling, SMS-code login, and WeChat login with binding.

Throttling counts an attempt *before* the password is checked, in MongoDB, so
the limit holds under concurrent attempts and across processes; a successful
login takes its attempt back. Three windows, all temporary:

- per account and IP: 5 attempts in 15 minutes (a guesser at one address), the
  third and later ones answered after a growing delay (``LOGIN_SLOWDOWN_SECONDS``);
- per IP: 30 attempts in 15 minutes (one address trying many accounts);
- per account: 50 attempts an hour (a slow guesser spread over many addresses).

The account is the normalized account string (:meth:`AccountService.login_subject`),
so spaces or full-width digits do not buy a fresh budget. Everything that tells
whether an account exists goes through the same windows: password login, the
activation (its 404) and the WeChat binding by SMS code.

A stranger can keep the password windows of an account closed from a few
addresses; the owner then logs in with an SMS code to the phone on record
(:meth:`LoginService.login_sms`) — not counted in these windows, bounded by the
SMS codes' own tries and quotas and by the SMS proof windows (per account and
address, see :mod:`server.services.accounts.sms`), which a stranger cannot use
to lock the owner out — and may reset the password the same way.

An unknown account answers "无效账号，请先注册" as the manual says, is throttled
like a failure and costs the same hashing time, so timing tells nothing.

After a token is issued, the account's status is read once more: an account
disabled between the status check and the issue gets its new token revoked.

Staff accounts (admin, reviewer, scanner) have a second factor (TOTP, see
:mod:`server.services.accounts.totp`): once enrolled, a password or SMS login must carry
``totp_code``. Without it: 401 ``totp_required`` (the first step of the two-step form: the
attempt is taken back, the password was right). A wrong or replayed code: 401
``totp_invalid``, counted in the login windows like a wrong password. A staff member without
a second factor yet gets a restricted ``totp_setup`` token that can only enrol one
(``/auth/totp``). Staff never log in by WeChat (no second factor there): refused, and their
accounts are not bindable. ``reauth`` proves password and code again on the current token, for
admin actions (``fresh`` endpoints: within :data:`~server.services.accounts.tokens.FRESH_WINDOW`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.integrations.wechat import WeChatApi
from server.models.accounts import ActivateIn, LoginIn, ReauthIn, ReauthOut, SmsLoginIn, TokenOut, WeChatBindIn
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.sms import ProofAttempt, SmsPurpose
from server.services.accounts.throttle import RateLimiter
from server.services.accounts.tokens import FRESH_WINDOW, IssuedToken
from server.services.accounts.totp import TotpService, totp_setup_needed
from server.services.audit import AuditLog

log = logging.getLogger(__name__)

BIND_TICKET_LIFETIME = timedelta(minutes=10)
SLOWDOWN_AFTER = 2  # attempts per account and address answered at once; later ones wait
LOGIN_WINDOWS: tuple[tuple[str, int, int], ...] = (
    # (key kind, limit, window seconds)
    ("pair", 5, 15 * 60),
    ("ip", 30, 15 * 60),
    ("account", 50, 60 * 60),
)
LOCKED_MESSAGE = "登录失败次数过多，请稍后再试；也可以使用短信验证码登录"
ACTIVATE_LOCKED_MESSAGE = "尝试次数过多，请稍后再试"


class LoginService:
    """Password and WeChat logins."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        accounts: AccountService,
        limiter: RateLimiter,
        audit: AuditLog,
        wechat: WeChatApi,
        totp: TotpService,
        slowdown: float = 1.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = accounts
        self.slowdown = slowdown
        self.limiter = limiter
        self.audit = audit
        self.wechat = wechat
        self.totp = totp
        self.tickets = db["wechat_bind_tickets"]
        self.now = now or (lambda: datetime.now(UTC))
        # Test seams: ``before_issue`` runs between the status check and the token issue
        # (a test disables the account there); ``status_recheck = False`` is the control
        # run without the re-read of the status after the issue.
        self.before_issue: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.status_recheck = True

    async def login(self, body: LoginIn, *, ip: str) -> TokenOut:
        """Password login (or a one-time secret of a pending account: a restricted token)."""
        account = await self._check_credentials(
            body.account, body.password, ip=ip, second_factor=True, totp_code=body.totp_code
        )
        issued = await self._issue(account, scope=self._scope(account))
        await self._logged_in("account.login", account, ip)
        return self.accounts.login_response(account, issued)

    async def login_sms(self, body: SmsLoginIn, *, ip: str) -> TokenOut:
        """Log in with an SMS code (purpose ``login``) sent to the phone on record of the account.

        Not counted in the password windows, so a stranger's failures never keep the
        owner out; counted in the SMS proof windows (429 for an address that keeps
        guessing, before it spends a try of the owner's code). Unknown account and
        wrong code answer alike (422 ``sms_proof_invalid``); the status is told only
        after the code is proven.
        """
        account = await self.accounts.find_by_login(body.account)
        attempt = ProofAttempt(self.accounts.login_subject(body.account), ip)
        try:
            code_id = await self.accounts.check_sms_proof(account, SmsPurpose.login, body.sms_code, attempt=attempt)
        except errors.AppError as exc:
            # Recorded for an unknown account too (like password login): the same work either way.
            reason = "sms_throttled" if exc.status == 429 else "wrong_sms_code" if account else "account_not_found"
            await self._failed(account, reason, ip)
            raise
        assert account is not None  # check_sms_proof refuses a missing account
        if self._needs_code(account):  # before the SMS code is spent: "totp_required" asks again with both
            await self._second_factor(account, body.totp_code, ip, counted=None,
                                      account_text=body.account)
        await self.accounts.sms_codes.use(code_id)
        if account["status"] == "pending":
            raise errors.forbidden("账号尚未激活，请先激活账号并设置密码", code="account_pending")
        if account["status"] != "active":
            raise _disabled()
        issued = await self._issue(account, scope=self._scope(account))
        await self._logged_in("account.login_sms", account, ip)
        return self.accounts.login_response(account, issued)

    async def activate(self, body: ActivateIn, *, ip: str) -> TokenOut:
        """Activation, counted in the login windows: its 404 tells whether a pending account exists."""
        self.accounts.check_new_password(body.new_password, account_text=body.account)  # costs no attempt
        keys = await self._hit(body.account, ip, message=ACTIVATE_LOCKED_MESSAGE, sms_hint=False)
        answer = await self.accounts.activate(body, ip=ip)
        await self._release(keys)
        return answer

    def _scope(self, account: dict[str, Any]) -> str:
        """A pending account may only set its password, a staff member without TOTP only enrol it."""
        if account["status"] != "active":
            return "password_change"
        if self.totp.applies_to(account) and not self.totp.enrolled(account):
            return "totp_setup"
        return "full"

    def _needs_code(self, account: dict[str, Any]) -> bool:
        return self.totp.applies_to(account) and self.totp.enrolled(account)

    async def _second_factor(
        self, account: dict[str, Any], code: str | None, ip: str, *,
        counted: tuple[str, str, str] | None, account_text: str,
    ) -> None:
        """Check the TOTP code; a wrong one is a failed attempt in the login windows (already
        ``counted`` by the caller, or counted here); a missing one costs nothing."""
        try:
            await self.totp.check(account, code)
        except errors.AppError as exc:
            if exc.code == "totp_required":
                if counted is not None:
                    await self._release(counted)
                raise
            await self._failed(account, "wrong_totp", ip)
            if counted is None:
                await self._hit(account_text, ip)  # may answer 429 instead
            raise

    async def enrol_totp(self, principal: Principal, code: str, *, ip: str) -> TokenOut:
        """A staff member's first code proves the pending secret: enrolled, and a full login in
        place of the restricted one."""
        account = await self.totp.enrol(principal.account_id, code, ip=ip)
        if principal.token_id is not None:
            await self.accounts.tokens.revoke(principal.token_id)
        issued = await self._issue(account, scope=self._scope(account))
        return self.accounts.login_response(account, issued)

    async def reauth(self, principal: Principal, body: ReauthIn, *, ip: str) -> ReauthOut:
        """Prove password (and second factor) again on this login; admin actions need it within
        15 minutes. Throttled like a login; failures answer 422 (the session itself stays valid)."""
        account = await self.accounts.get(principal.account_id)
        if self.totp.applies_to(account) and not self.totp.enrolled(account):
            raise totp_setup_needed()
        keys = await self._hit(self.accounts.login_text(account), ip)
        if not await self.accounts.hasher.verify(account.get("password_hash"), body.password):
            await self._failed(account, "wrong_password", ip)
            raise errors.validation("密码错误", {"password": "密码错误"}, code="wrong_password")
        if self._needs_code(account):
            try:
                await self._second_factor(account, body.totp_code, ip, counted=keys,
                                          account_text=self.accounts.login_text(account))
            except errors.AppError as exc:
                raise errors.AppError(422, exc.code, exc.message,
                                      {**exc.details, "fields": {"totp_code": exc.message}}) from None
        await self._release(keys)
        assert principal.token_id is not None
        at = await self.accounts.tokens.reauthenticated(principal.token_id)
        await self._logged_in("account.reauth", account, ip)
        return ReauthOut(authenticated_at=at.isoformat(), fresh_until=(at + FRESH_WINDOW).isoformat())

    async def _issue(self, account: dict[str, Any], *, scope: str = "full") -> IssuedToken:
        """A token for an account that passed its status check; revoked and refused (403
        ``account_disabled``) if the account was disabled meanwhile: ``set_disabled``
        revokes only the tokens that exist when it runs."""
        if self.before_issue is not None:
            await self.before_issue(account)
        issued = await self.accounts.tokens.issue(account["_id"], account["role"], scope=scope)
        if self.status_recheck:
            current = await self.accounts.accounts.find_one({"_id": account["_id"]}, {"status": 1})
            if current is None or current["status"] == "disabled":
                await self.accounts.tokens.revoke(issued.token_id)
                raise _disabled()
        return issued

    async def _logged_in(self, action: str, account: dict[str, Any], ip: str) -> None:
        await self.audit.record(
            action, actor_id=account["_id"], actor_role=account["role"],
            subject=self.accounts.masked_subject(account), subject_id=account["_id"], ip=ip,
        )

    async def _hit(
        self, account_text: str, ip: str, *, message: str = LOCKED_MESSAGE, sms_hint: bool = True
    ) -> tuple[str, str, str]:
        """Count one attempt in every login window (429 past a limit); the keys, for :meth:`_release`."""
        keys = self._throttle_keys(account_text, ip)
        counts = []
        for (_, limit, window), key in zip(LOGIN_WINDOWS, keys, strict=True):
            try:
                counts.append(await self.limiter.hit(key, limit=limit, window_seconds=window, message=message))
            except errors.AppError as exc:
                if sms_hint:  # the owner is never locked out: the SMS-code login still works
                    exc.details["sms_login"] = True
                raise
        if counts[0] > SLOWDOWN_AFTER:  # slow down before the lock: each further attempt waits longer
            await asyncio.sleep(self.slowdown * (counts[0] - SLOWDOWN_AFTER))
        return keys

    async def _release(self, keys: tuple[str, str, str]) -> None:
        """A successful attempt takes its count back."""
        for (_, _, window), key in zip(LOGIN_WINDOWS, keys, strict=True):
            await self.limiter.undo(key, window_seconds=window)

    async def _check_credentials(
        self, account_text: str, password: str, *, ip: str, second_factor: bool = False,
        totp_code: str | None = None,
    ) -> dict[str, Any]:
        """The account if the password (or one-time secret), and with ``second_factor`` the TOTP
        code of an enrolled staff member, are right; throttled, audited."""
        keys = await self._hit(account_text, ip)
        account = await self.accounts.find_by_login(account_text)
        if account is None:
            await self.accounts.hasher.verify(None, password)  # same cost as a real check
            await self._failed(None, "account_not_found", ip)
            raise errors.AppError(401, "account_not_found", "无效账号，请先注册")
        if not await self._password_matches(account, password):
            await self._failed(account, "wrong_password", ip)
            raise errors.AppError(401, "wrong_password", "账号或密码错误")
        if account["status"] == "disabled":
            raise _disabled()
        if second_factor and self._needs_code(account):
            await self._second_factor(account, totp_code, ip, counted=keys, account_text=account_text)
        await self._release(keys)
        return account

    async def _password_matches(self, account: dict[str, Any], password: str) -> bool:
        if account["status"] == "pending":
            return self.accounts.one_time_secret_matches(account, password)
        return await self.accounts.hasher.verify(account.get("password_hash"), password)

    def _throttle_keys(self, account_text: str, ip: str) -> tuple[str, str, str]:
        # Keys hold blind indexes, never an ID number or an address in clear.
        subject = self.accounts.login_subject(account_text)
        address = self.accounts.cipher.blind_index(ip, context="ip")[:32]
        return (f"login:pair:{subject}:{address}", f"login:ip:{address}", f"login:account:{subject}")

    async def _failed(self, account: dict[str, Any] | None, reason: str, ip: str) -> None:
        await self.audit.record(
            "account.login_failed",
            actor_id=None,
            subject=self.accounts.masked_subject(account) if account else None,
            subject_id=account["_id"] if account else None,
            ip=ip,
            details={"reason": reason},
        )

    # ---- WeChat -----------------------------------------------------------------

    async def wechat_login(self, code: str, *, ip: str) -> TokenOut:
        """Log in with ``wx.login()``'s code; 409 ``wechat_not_bound`` with a bind ticket if unknown."""
        session = await self.wechat.code2session(code)
        session_key = self.accounts.cipher.encrypt(session.session_key, context="wechat_session_key")
        account = await self.accounts.accounts.find_one_and_update(
            {"wechat.openid": session.openid},
            {"$set": {"wechat.session_key": session_key, "wechat.last_login_at": self.now()}},
        )
        if account is None:
            ticket = secrets.token_urlsafe(32)
            await self.tickets.insert_one({
                "_id": _ticket_hash(ticket),
                "openid": session.openid,
                "unionid": session.unionid,
                "session_key": session_key,
                "expires_at": self.now() + BIND_TICKET_LIFETIME,
            })
            raise errors.conflict(
                "wechat_not_bound",
                "该微信尚未绑定账号，请登录已有账号完成绑定",
                {"bind_ticket": ticket, "expires_in": int(BIND_TICKET_LIFETIME.total_seconds())},
            )
        if account["status"] != "active":
            raise errors.forbidden("账号已停用或未激活", code="account_not_active")
        if self.totp.applies_to(account):  # a WeChat login has no second factor
            raise _staff_no_wechat()
        issued = await self._issue(account)
        await self._logged_in("account.login_wechat", account, ip)
        return self.accounts.login_response(account, issued)

    async def wechat_bind(self, body: WeChatBindIn, *, ip: str) -> TokenOut:
        """Bind the ticket's WeChat identity to an account proven by password or SMS code."""
        live = {"_id": _ticket_hash(body.bind_ticket), "expires_at": {"$gt": self.now()}}
        if await self.tickets.find_one(live) is None:
            raise _bad_ticket()
        if body.password is not None:
            account = await self._check_credentials(body.account, body.password, ip=ip)
            _require_bindable(account)
        else:
            account = await self._account_by_sms(body.account, body.sms_code or "", ip=ip)
        ticket = await self.tickets.find_one_and_delete(live)  # single use, even when raced
        if ticket is None:
            raise _bad_ticket()
        await self._bind(account, ticket)
        await self.audit.record(
            "account.wechat_bind", actor_id=account["_id"], actor_role=account["role"],
            subject=self.accounts.masked_subject(account), subject_id=account["_id"], ip=ip,
        )
        issued = await self._issue(account)
        return self.accounts.login_response(account, issued)

    async def _account_by_sms(self, account_text: str, code: str, *, ip: str) -> dict[str, Any]:
        """The account proven by an SMS code (purpose ``bind``); throttled like password login,
        since it tells whether the account exists. The status is checked before the code is used."""
        keys = await self._hit(account_text, ip)
        account = await self.accounts.find_by_login(account_text)
        phone = self.accounts.phone_of(account) if account else None
        if account is None or phone is None:
            await self._failed(account, "account_not_found" if account is None else "no_phone", ip)
            raise errors.AppError(401, "account_not_found", "无效账号，请先注册")
        _require_bindable(account)
        await self.accounts.sms_codes.verify(phone, SmsPurpose.bind, code)
        await self._release(keys)
        return account

    async def _bind(self, account: dict[str, Any], ticket: dict[str, Any]) -> None:
        # One openid ↔ one account: a unique index on wechat.openid, and the filter
        # refuses an account that already has another WeChat.
        wechat = {
            "openid": ticket["openid"],
            "unionid": ticket.get("unionid"),
            "session_key": ticket["session_key"],
            "bound_at": self.now(),
        }
        try:
            result = await self.accounts.accounts.update_one(
                {"_id": account["_id"], "wechat": {"$exists": False}}, {"$set": {"wechat": wechat}}
            )
        except DuplicateKeyError:
            raise errors.conflict("wechat_bound_elsewhere", "该微信已绑定其他账号") from None
        if result.modified_count != 1:
            raise errors.conflict("account_wechat_bound", "该账号已绑定其他微信，请先解绑")


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "replace")).hexdigest()


def _require_bindable(account: dict[str, Any]) -> None:
    if account["status"] != "active":
        raise errors.forbidden("请先激活账号并设置密码", code="account_not_active")
    if account.get("role") in ("admin", "reviewer", "scanner"):
        raise _staff_no_wechat()


def _staff_no_wechat() -> errors.AppError:
    return errors.forbidden("协会工作人员请使用用户名、密码和动态验证码登录，不能使用微信登录", code="staff_wechat_refused")


def _disabled() -> errors.AppError:
    return errors.forbidden("账号已停用，请联系协会", code="account_disabled")


def _bad_ticket() -> errors.AppError:
    return errors.AppError(401, "bind_ticket_invalid", "绑定凭证无效或已过期，请重新进入小程序")
