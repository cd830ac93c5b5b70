"""One-time SMS codes: 6 digits, 5 minutes, 5 tries, single use, throttled.

The database never holds the phone or the code in clear: a code document keeps
the blind index of the phone and an HMAC of (phone index, purpose, code) keyed
with ``SECRET_KEY``; the throttle keys are built from blind indexes as well.

SMS proofs of an account (the SMS-code login, the password reset) are also
counted per account and address (:data:`PROOF_WINDOWS`), because each wrong
guess used to spend one of the 5 tries of the owner's newest code: anyone who
knew an ID number could burn every code the owner asked for. Now an attempt is
counted *before* the code is touched (so concurrent guesses cannot slip past)
and a right proof takes its count back:

- per account and address: past 5 wrong proofs in 15 minutes, that address is
  refused (429) for that account before it reaches the code;
- per address: past 30 wrong proofs in 15 minutes, whatever the account;
- per account: past 4 wrong proofs in an hour, further proofs are still
  checked but a wrong one no longer spends a try. Strangers together spend at
  most 4 of a code's 5 tries (a code alive across the hour's boundary may lose
  all 5; the next one then keeps at least one), and the account is never
  locked: the owner, from their own address with the right code, gets in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.integrations.sms import SmsSender
from server.services.accounts.identity import mask_phone, validate_cn_mobile
from server.services.accounts.throttle import RateLimiter
from server.services.pii import FieldCipher

log = logging.getLogger(__name__)

COLLECTION = "sms_codes"
CODE_DIGITS = 6
DAY_SECONDS = 24 * 3600
HOUR_SECONDS = 3600
# Asia/Shanghai has been UTC+8 all year since 1991: the daily quota resets at its midnight.
SHANGHAI_OFFSET_SECONDS = 8 * 3600
PROOF_WINDOW_SECONDS = 15 * 60
PROOF_WINDOWS: tuple[tuple[str, int, int], ...] = (
    # (key kind, wrong proofs allowed, window seconds); see the module's docstring
    ("pair", 5, PROOF_WINDOW_SECONDS),  # like the password login's windows
    ("ip", 30, PROOF_WINDOW_SECONDS),
    ("account", 4, HOUR_SECONDS),  # past it: checked without spending a try, never refused
)
PROOF_LOCKED_MESSAGE = "验证码错误次数过多，请稍后再试"


class SmsPurpose(StrEnum):
    """What a code proves; a code of one purpose never verifies for another."""

    register = "register"
    login = "login"
    reset = "reset"
    activate = "activate"
    bind = "bind"
    change_phone = "change_phone"
    delete_account = "delete_account"

    @property
    def label(self) -> str:
        """The Chinese name used in the SMS text."""
        return PURPOSE_LABELS[self]


PURPOSE_LABELS: dict[SmsPurpose, str] = {
    SmsPurpose.register: "注册",
    SmsPurpose.login: "登录",
    SmsPurpose.reset: "重置密码",
    SmsPurpose.activate: "激活账号",
    SmsPurpose.bind: "绑定微信",
    SmsPurpose.change_phone: "更换手机号",
    SmsPurpose.delete_account: "注销账号",
}


@dataclass(frozen=True)
class ProofAttempt:
    """Who offers an SMS proof of an account: what the account throttle counts, and the address.

    ``subject`` is :meth:`AccountService.login_subject` of the account as typed (a blind
    index, the same for an unknown account), so the windows hold whether it exists or not.
    """

    subject: str
    ip: str


@dataclass(frozen=True)
class SmsSent:
    """A code was sent: how long it lives and when another may be requested (seconds)."""

    expires_in: int
    resend_after: int


class SmsCodes:
    """Sends and verifies one-time SMS codes."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        sender: SmsSender,
        limiter: RateLimiter,
        cipher: FieldCipher,
        secret_key: bytes,
        *,
        ttl_seconds: int = 300,
        max_attempts: int = 5,
        resend_seconds: int = 60,
        daily_limit: int = 10,
        ip_hourly_limit: int = 30,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.codes = db[COLLECTION]
        self.sender = sender
        self.limiter = limiter
        self.cipher = cipher
        self.secret_key = secret_key
        self.ttl_seconds = ttl_seconds
        self.max_attempts = max_attempts
        self.resend_seconds = resend_seconds
        self.daily_limit = daily_limit
        self.ip_hourly_limit = ip_hourly_limit
        self.now = now or (lambda: datetime.now(UTC))

    # ---- sending ----------------------------------------------------------------

    async def send(self, phone: str, purpose: SmsPurpose, *, ip: str) -> SmsSent:
        """Send a fresh code for ``purpose`` to ``phone``; earlier unused codes stop working."""
        phone = _normalize_phone(phone)
        purpose = SmsPurpose(purpose)
        phone_index = self.phone_index(phone)
        release = await self._throttle(phone_index, purpose, ip)
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        now = self.now()
        inserted = await self.codes.insert_one({
            "phone_index": phone_index,
            "purpose": purpose.value,
            "code_hash": self._code_hash(phone_index, purpose, code),
            "attempts": 0,
            "used": False,
            "created_at": now,
            "expires_at": now + timedelta(seconds=self.ttl_seconds),
        })
        # Only the newest code works: a resend must not leave two live codes to guess.
        await self.codes.update_many(
            {"phone_index": phone_index, "purpose": purpose.value, "used": False,
             "_id": {"$ne": inserted.inserted_id}},
            {"$set": {"used": True, "revoked_at": now}},
        )
        try:
            await self.sender.send(
                phone=phone, purpose=purpose.value, code=code, text=self._text(purpose, code)
            )
        except Exception as exc:
            # The person never got the code: give back the quota and the cooldown.
            log.exception("sms sending failed purpose=%s phone=%s", purpose.value, mask_phone(phone))
            await self.codes.update_one(
                {"_id": inserted.inserted_id}, {"$set": {"used": True, "revoked_at": now}}
            )
            await release()
            if isinstance(exc, errors.AppError):  # the provider said why (a number's daily limit, …)
                raise exc from None
            raise errors.AppError(503, "sms_unavailable", "短信发送失败，请稍后重试") from None
        log.info("sms code sent purpose=%s phone=%s", purpose.value, mask_phone(phone))
        return SmsSent(expires_in=self.ttl_seconds, resend_after=self.resend_seconds)

    def phone_index(self, phone: str) -> str:
        """The blind index of a normalized phone, as stored and used in throttle keys."""
        return self.cipher.blind_index(phone, context="phone")

    async def _throttle(
        self, phone_index: str, purpose: SmsPurpose, ip: str
    ) -> Callable[[], Awaitable[None]]:
        """Apply cooldown, IP and daily limits; return a coroutine function that gives them back."""
        cooldown_key = f"sms:resend:{purpose.value}:{phone_index}"
        ip_key = "sms:ip:" + self.cipher.blind_index(ip or "-", context="ip")
        day_key = f"sms:day:{phone_index}"
        # The cooldown comes first so that a too-early resend does not eat the daily quota.
        await self._cooldown(cooldown_key)
        try:
            await self.limiter.hit(ip_key, limit=self.ip_hourly_limit, window_seconds=HOUR_SECONDS,
                                   message="该网络发送验证码过于频繁，请稍后再试")
            try:
                await self.limiter.hit(day_key, limit=self.daily_limit, window_seconds=DAY_SECONDS,
                                       offset_seconds=SHANGHAI_OFFSET_SECONDS,
                                       message="今日验证码发送次数已达上限")
            except errors.AppError:
                await self.limiter.undo(ip_key, window_seconds=HOUR_SECONDS)
                raise
        except errors.AppError:
            await self.limiter.clear_cooldown(cooldown_key)
            raise

        async def release() -> None:
            await self.limiter.undo(
                day_key, window_seconds=DAY_SECONDS, offset_seconds=SHANGHAI_OFFSET_SECONDS
            )
            await self.limiter.undo(ip_key, window_seconds=HOUR_SECONDS)
            await self.limiter.clear_cooldown(cooldown_key)

        return release

    async def _cooldown(self, key: str) -> None:
        try:
            await self.limiter.cooldown(key, self.resend_seconds)
        except errors.AppError as exc:
            # The message names the seconds left, which only the limiter knows.
            seconds = int(exc.details["retry_after"])
            raise errors.throttled(seconds, f"发送过于频繁，请 {seconds} 秒后再试") from None

    def _text(self, purpose: SmsPurpose, code: str) -> str:
        minutes = max(1, self.ttl_seconds // 60)
        return (
            f"【协会培训考试】您的{purpose.label}验证码为 {code}，"
            f"{minutes} 分钟内有效。如非本人操作请忽略。"
        )

    def _code_hash(self, phone_index: str, purpose: SmsPurpose, code: str) -> str:
        message = f"{phone_index}\x00{purpose.value}\x00{code}".encode()
        return hmac.new(self.secret_key, message, hashlib.sha256).hexdigest()

    # ---- verifying --------------------------------------------------------------

    async def verify(self, phone: str | None, purpose: SmsPurpose, code: str) -> None:
        """Accept ``code`` once for ``phone`` and ``purpose``, or raise 422 on ``sms_code``."""
        await self.use(await self.check(phone, purpose, code))

    async def check(
        self, phone: str | None, purpose: SmsPurpose, code: str, *, attempt: ProofAttempt | None = None
    ) -> ObjectId:
        """Count one try of ``code`` and compare it, without using it up; 422 on ``sms_code`` if wrong.

        Returns the id of the code for :meth:`use`, so that a caller can check what
        else may refuse the request (a password policy, an account status) between
        the two, and a refusal leaves the code usable. ``phone=None`` (no such
        account, no phone on record) costs the same query and fails like a code
        that was never sent. With ``attempt`` (a proof of an account) the proof
        windows apply first: 429 for an address past its budget, and past the
        account's budget a wrong code spends no try.
        """
        if attempt is None:
            return await self._check(phone, purpose, code, spend=True)
        keys = self._proof_keys(attempt)
        spend = await self._admit(keys)
        code_id = await self._check(phone, purpose, code, spend=spend)
        await self._release(keys)  # a right proof is not counted
        return code_id

    def _proof_keys(self, attempt: ProofAttempt) -> tuple[str, ...]:
        address = self.cipher.blind_index(attempt.ip or "-", context="ip")[:32]
        keys = {"pair": f"smsproof:pair:{attempt.subject}:{address}", "ip": f"smsproof:ip:{address}",
                "account": f"smsproof:account:{attempt.subject}"}
        return tuple(keys[kind] for kind, _, _ in PROOF_WINDOWS)

    async def _admit(self, keys: tuple[str, ...]) -> bool:
        """Count the attempt in every proof window; 429 past an address window. Whether it may spend a try."""
        spend = True
        for (kind, limit, window), key in zip(PROOF_WINDOWS, keys, strict=True):
            if kind == "account":  # never refused: the owner must always get in
                spend = await self.limiter.hit(key, limit=2**62, window_seconds=window) <= limit
            else:
                await self.limiter.hit(key, limit=limit, window_seconds=window, message=PROOF_LOCKED_MESSAGE)
        return spend

    async def _release(self, keys: tuple[str, ...]) -> None:
        for (_, _, window), key in zip(PROOF_WINDOWS, keys, strict=True):
            await self.limiter.undo(key, window_seconds=window)

    async def _check(self, phone: str | None, purpose: SmsPurpose, code: str, *, spend: bool) -> ObjectId:
        phone_index = self.phone_index(_normalize_phone(phone)) if phone is not None else "-"
        purpose = SmsPurpose(purpose)
        live = {"phone_index": phone_index, "purpose": purpose.value, **self._live(),
                "attempts": {"$lt": self.max_attempts}}
        if spend:
            # Counting the try before comparing makes the limit hold under concurrent guesses.
            doc = await self.codes.find_one_and_update(
                live, {"$inc": {"attempts": 1}}, sort=[("created_at", DESCENDING)],
                return_document=ReturnDocument.AFTER,
            )
        else:
            doc = await self.codes.find_one(live, sort=[("created_at", DESCENDING)])
        if doc is None:
            raise _expired()
        expected = self._code_hash(phone_index, purpose, code if isinstance(code, str) else "")
        if not hmac.compare_digest(expected, doc["code_hash"]):
            remaining = max(0, self.max_attempts - int(doc["attempts"]))
            raise _invalid(remaining)
        return ObjectId(doc["_id"])

    async def use(self, code_id: ObjectId) -> None:
        """Use up a code that :meth:`check` accepted; 422 if it expired or was used meanwhile."""
        # Guarded by used=false: of two concurrent uses of the same code only one flips it.
        won = await self.codes.find_one_and_update(
            {"_id": code_id, **self._live()}, {"$set": {"used": True, "used_at": self.now()}}
        )
        if won is None:
            raise _expired()

    def _live(self) -> dict[str, Any]:
        return {"used": False, "expires_at": {"$gt": self.now()}}


def _normalize_phone(phone: str) -> str:
    try:
        return validate_cn_mobile(phone)
    except ValueError as exc:
        raise errors.validation(fields={"phone": str(exc)}) from None


def _invalid(remaining: int) -> errors.AppError:
    message = "验证码错误" if remaining else "验证码错误，请重新获取"
    error = errors.validation(message, {"sms_code": message}, code="sms_code_invalid")
    error.details["remaining_attempts"] = remaining
    return error


def _expired() -> errors.AppError:
    message = "验证码已过期或已使用，请重新获取"
    return errors.validation(message, {"sms_code": message}, code="sms_code_expired")
