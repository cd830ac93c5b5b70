"""Logging in: password login with throttling, and WeChat login with binding.

Throttling counts an attempt *before* the password is checked, in MongoDB, so
the limit holds under concurrent attempts and across processes; a successful
login takes its attempt back. Three windows, all temporary, so that nobody can
lock a real user out for good:

- per account and IP: 5 attempts in 15 minutes (a guesser at one address), the
  third and later ones answered after a growing delay (``LOGIN_SLOWDOWN_SECONDS``);
- per IP: 30 attempts in 15 minutes (one address trying many accounts);
- per account: 50 attempts an hour (a slow guesser spread over many addresses).

An unknown account answers "无效账号，请先注册" as the manual says, is throttled
like a failure and costs the same hashing time, so timing tells nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.integrations.wechat import WeChatApi
from server.models.accounts import LoginIn, TokenOut, WeChatBindIn
from server.services.accounts import AccountService
from server.services.audit import AuditLog
from server.services.sms import SmsPurpose
from server.services.throttle import RateLimiter

log = logging.getLogger(__name__)

BIND_TICKET_LIFETIME = timedelta(minutes=10)
SLOWDOWN_AFTER = 2  # attempts per account and address answered at once; later ones wait
LOGIN_WINDOWS: tuple[tuple[str, int, int], ...] = (
    # (key kind, limit, window seconds)
    ("pair", 5, 15 * 60),
    ("ip", 30, 15 * 60),
    ("account", 50, 60 * 60),
)


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

    async def login(self, body: LoginIn, *, ip: str) -> TokenOut:
        """Password login (or a one-time secret of a pending account: a restricted token)."""
        account = await self._check_credentials(body.account, body.password, ip=ip)
        scope = "full" if account["status"] == "active" else "password_change"
        issued = await self.accounts.tokens.issue(account["_id"], account["role"], scope=scope)
        await self.audit.record(
            "account.login", actor_id=account["_id"], actor_role=account["role"],
            subject=self.accounts.masked_subject(account), subject_id=account["_id"], ip=ip,
        )
        return self.accounts.login_response(account, issued)

    async def _check_credentials(self, account_text: str, password: str, *, ip: str) -> dict[str, Any]:
        """The account if the password (or one-time secret) is right; throttled, audited."""
        keys = self._throttle_keys(account_text, ip)
        counts = [
            await self.limiter.hit(key, limit=limit, window_seconds=window, message="登录失败次数过多，请稍后再试")
            for (_, limit, window), key in zip(LOGIN_WINDOWS, keys, strict=True)
        ]
        if counts[0] > SLOWDOWN_AFTER:  # slow down before the lock: each further attempt waits longer
            await asyncio.sleep(self.slowdown * (counts[0] - SLOWDOWN_AFTER))
        account = await self.accounts.find_by_login(account_text)
        if account is None:
            await self.accounts.hasher.verify(None, password)  # same cost as a real check
            await self._failed(None, "account_not_found", ip)
            raise errors.AppError(401, "account_not_found", "无效账号，请先注册")
        if not await self._password_matches(account, password):
            await self._failed(account, "wrong_password", ip)
            raise errors.AppError(401, "wrong_password", "账号或密码错误")
        if account["status"] == "disabled":
            raise errors.forbidden("账号已停用，请联系协会", code="account_disabled")
        for (_, _, window), key in zip(LOGIN_WINDOWS, keys, strict=True):
            await self.limiter.undo(key, window_seconds=window)
        return account

    async def _password_matches(self, account: dict[str, Any], password: str) -> bool:
        if account["status"] == "pending":
            return self.accounts.one_time_secret_matches(account, password)
        return await self.accounts.hasher.verify(account.get("password_hash"), password)

    def _throttle_keys(self, account_text: str, ip: str) -> tuple[str, str, str]:
        # Keys hold blind indexes, never an ID number or an address in clear.
        cipher = self.accounts.cipher
        subject = cipher.blind_index(account_text.strip().upper(), context="login")[:32]
        address = cipher.blind_index(ip, context="ip")[:32]
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
        issued = await self.accounts.tokens.issue(account["_id"], account["role"])
        await self.audit.record(
            "account.login_wechat", actor_id=account["_id"], actor_role=account["role"],
            subject=self.accounts.masked_subject(account), subject_id=account["_id"], ip=ip,
        )
        return self.accounts.login_response(account, issued)

    async def wechat_bind(self, body: WeChatBindIn, *, ip: str) -> TokenOut:
        """Bind the ticket's WeChat identity to an account proven by password or SMS code."""
        live = {"_id": _ticket_hash(body.bind_ticket), "expires_at": {"$gt": self.now()}}
        if await self.tickets.find_one(live) is None:
            raise _bad_ticket()
        if body.password is not None:
            account = await self._check_credentials(body.account, body.password, ip=ip)
        else:
            account = await self._account_by_sms(body.account, body.sms_code or "")
        if account["status"] != "active":
            raise errors.forbidden("请先激活账号并设置密码", code="account_not_active")
        ticket = await self.tickets.find_one_and_delete(live)  # single use, even when raced
        if ticket is None:
            raise _bad_ticket()
        await self._bind(account, ticket)
        await self.audit.record(
            "account.wechat_bind", actor_id=account["_id"], actor_role=account["role"],
            subject=self.accounts.masked_subject(account), subject_id=account["_id"], ip=ip,
        )
        issued = await self.accounts.tokens.issue(account["_id"], account["role"])
        return self.accounts.login_response(account, issued)

    async def _account_by_sms(self, account_text: str, code: str) -> dict[str, Any]:
        account = await self.accounts.find_by_login(account_text)
        phone = self.accounts.phone_of(account) if account else None
        if account is None or phone is None:
            raise errors.AppError(401, "account_not_found", "无效账号，请先注册")
        await self.accounts.sms_codes.verify(phone, SmsPurpose.bind, code)
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


def _bad_ticket() -> errors.AppError:
    return errors.AppError(401, "bind_ticket_invalid", "绑定凭证无效或已过期，请重新进入小程序")
