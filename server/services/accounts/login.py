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
from server.models.accounts import ActivateIn, LoginIn, SmsLoginIn, TokenOut, WeChatBindIn
from server.services.accounts.accounts import AccountService
from server.services.accounts.sms import ProofAttempt, SmsPurpose
from server.services.accounts.throttle import RateLimiter
from server.services.accounts.tokens import IssuedToken
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
        slowdown: float = 1.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = accounts
        self.slowdown = slowdown
        self.limiter = limiter
        self.audit = audit
        self.wechat = wechat
        self.tickets = db["wechat_bind_tickets"]
        self.now = now or (lambda: datetime.now(UTC))
        # Test seams: ``before_issue`` runs between the status check and the token issue
        # (a test disables the account there); ``status_recheck = False`` is the control
        # run without the re-read of the status after the issue.
        self.before_issue: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.status_recheck = True

    async def login(self, body: LoginIn, *, ip: str) -> TokenOut:
        """Password login (or a one-time secret of a pending account: a restricted token)."""
        account = await self._check_credentials(body.account, body.password, ip=ip)
        scope = "full" if account["status"] == "active" else "password_change"
        issued = await self._issue(account, scope=scope)
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
        await self.accounts.sms_codes.use(code_id)
        if account["status"] == "pending":
            raise errors.forbidden("账号尚未激活，请先激活账号并设置密码", code="account_pending")
        if account["status"] != "active":
            raise _disabled()
        issued = await self._issue(account)
        await self._logged_in("account.login_sms", account, ip)
        return self.accounts.login_response(account, issued)

    async def activate(self, body: ActivateIn, *, ip: str) -> TokenOut:
        """Activation, counted in the login windows: its 404 tells whether a pending account exists."""
        self.accounts.check_new_password(body.new_password, account_text=body.account)  # costs no attempt
        keys = await self._hit(body.account, ip, message=ACTIVATE_LOCKED_MESSAGE, sms_hint=False)
        answer = await self.accounts.activate(body, ip=ip)
        await self._release(keys)
        return answer

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

    async def _check_credentials(self, account_text: str, password: str, *, ip: str) -> dict[str, Any]:
        """The account if the password (or one-time secret) is right; throttled, audited."""
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


def _disabled() -> errors.AppError:
    return errors.forbidden("账号已停用，请联系协会", code="account_disabled")


def _bad_ticket() -> errors.AppError:
    return errors.AppError(401, "bind_ticket_invalid", "绑定凭证无效或已过期，请重新进入小程序")
