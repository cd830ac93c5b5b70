"""The staff second factor: TOTP (RFC 6238, 6 digits, 30-second steps) with ``pyotp``.

Every association staff account (admin, reviewer, scanner) logs in with password *and* the code
of an authenticator app. Stored on the account, in ``staff.totp``:

- ``secret``: the Base32 secret, sealed with the field cipher (context ``totp_secret``) like other
  personal data; it is shown once, at enrolment, and never returned, logged or audited after;
- ``last_step``: the time step of the last accepted code. A code is accepted once: the step is
  written with a guard (``last_step < step``) in one ``find_one_and_update``, so two logins racing
  with the same code cannot both win, in one process or many;
- ``enrolled_at``.

Enrolment: a staff member without ``staff.totp`` logs in with a restricted ``totp_setup`` token,
asks for a pending secret (``staff.totp_pending``, sealed too; a new request replaces it) and
proves it with a first code; the pending secret then becomes ``staff.totp`` in one guarded update.
A locked-out staff member is reset from the command line (``python -m server reset-totp``),
which also revokes their logins; the next login enrols again.

Codes of the previous and the next step are accepted too (clock drift of a phone), never an
older step than the last accepted one.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyotp
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.accounts import TotpSetupOut
from server.services.audit import AuditLog
from server.services.pii import FieldCipher

ISSUER = "培训考试报名系统"
STEP_SECONDS = 30
DRIFT_STEPS = 1  # a code of the step before or after is accepted too
CONTEXT = "totp_secret"
STAFF_ROLES = frozenset({"admin", "reviewer", "scanner"})


def totp_required() -> errors.AppError:
    """401 ``totp_required``: the password was right, the second factor is missing."""
    return errors.AppError(401, "totp_required", "请输入动态验证码", {"totp": True})


def totp_invalid(*, replayed: bool = False) -> errors.AppError:
    """401 ``totp_invalid``: wrong, expired, or already used code."""
    message = "动态验证码已使用过，请等待下一个验证码" if replayed else "动态验证码错误，请核对身份验证器上的 6 位数字"
    return errors.AppError(401, "totp_invalid", message, {"totp": True, "replayed": replayed})


def totp_setup_needed() -> errors.AppError:
    """403 ``totp_setup_required``: a staff member must enrol an authenticator first."""
    return errors.forbidden("请先绑定身份验证器（动态验证码）", code="totp_setup_required")


def group_secret(secret: str) -> str:
    """``ABCD EFGH …``: the secret in groups of four, for manual entry."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def code_at(secret: str, when: datetime) -> str:
    """The code an authenticator shows at ``when`` (demo and tests)."""
    return pyotp.TOTP(secret).at(when)


class TotpService:
    """Enrolment, verification (single use per time step) and reset of the staff second factor."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, cipher: FieldCipher, audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = db["accounts"]
        self.cipher = cipher
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    @staticmethod
    def applies_to(account: dict[str, Any]) -> bool:
        """Staff accounts need the second factor."""
        return account.get("role") in STAFF_ROLES

    @staticmethod
    def enrolled(account: dict[str, Any]) -> bool:
        """Whether the account has an authenticator set up."""
        return bool(((account.get("staff") or {}).get("totp") or {}).get("secret"))

    async def begin(self, account_id: ObjectId) -> TotpSetupOut:
        """A new pending secret for an account without one (409 when already enrolled)."""
        secret = pyotp.random_base32()  # 32 Base32 characters: 160 bits
        sealed = self.cipher.encrypt(secret, context=CONTEXT)
        account = await self.accounts.find_one_and_update(
            {"_id": account_id, "role": {"$in": sorted(STAFF_ROLES)}, "staff.totp": {"$exists": False}},
            {"$set": {"staff.totp_pending": {"secret": sealed, "created_at": self.now()}}},
            return_document=ReturnDocument.AFTER,
        )
        if account is None:
            raise errors.conflict("totp_already_enrolled", "已绑定身份验证器；如更换手机，请联系管理员重置")
        name = str(account["staff"]["username"])
        return TotpSetupOut(
            secret=secret, secret_groups=group_secret(secret), issuer=ISSUER, account_name=name,
            otpauth_uri=pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER),
            digits=6, period=STEP_SECONDS,
        )

    async def enrol(self, account_id: ObjectId, code: str, *, ip: str) -> dict[str, Any]:
        """Turn the pending secret into the account's second factor, proven by its first code."""
        account = await self.accounts.find_one({"_id": account_id})
        pending = ((account or {}).get("staff") or {}).get("totp_pending")
        if account is None or pending is None or self.enrolled(account):
            raise errors.conflict("totp_not_pending", "请先获取新的身份验证器密钥")
        step = self._matching_step(self.cipher.decrypt(pending["secret"], context=CONTEXT), code)
        if step is None:
            raise errors.AppError(422, "totp_invalid", "动态验证码错误，请核对身份验证器上的 6 位数字",
                                  {"fields": {"code": "动态验证码错误"}})
        done = await self.accounts.find_one_and_update(
            {"_id": account_id, "staff.totp": {"$exists": False}, "staff.totp_pending.secret": pending["secret"]},
            {"$set": {"staff.totp": {"secret": pending["secret"], "last_step": step, "enrolled_at": self.now()}},
             "$unset": {"staff.totp_pending": ""}},
            return_document=ReturnDocument.AFTER,
        )
        if done is None:  # a concurrent enrolment or a newer pending secret won
            raise errors.conflict("totp_not_pending", "请先获取新的身份验证器密钥")
        await self.audit.record("account.totp_enrol", actor_id=account_id, actor_role=account["role"],
                                subject=str(account["staff"]["username"]), subject_id=account_id, ip=ip)
        return done

    async def check(self, account: dict[str, Any], code: str | None) -> None:
        """Accept ``code`` once for an enrolled account: 401 ``totp_required`` / ``totp_invalid``."""
        if not code:
            raise totp_required()
        secret = self.cipher.decrypt(account["staff"]["totp"]["secret"], context=CONTEXT)
        step = self._matching_step(secret, code)
        if step is None:
            raise totp_invalid()
        used = await self.accounts.update_one(
            {"_id": account["_id"], "staff.totp.last_step": {"$lt": step}},
            {"$set": {"staff.totp.last_step": step}},
        )
        if used.modified_count != 1:  # this step (or a later one) was already used: a replay
            raise totp_invalid(replayed=True)

    async def reset(self, account: dict[str, Any] | None, *, by: str) -> None:
        """Remove a staff member's second factor (a lost phone); the next login enrols again."""
        if account is None or not self.applies_to(account):
            raise errors.not_found("协会工作人员账号不存在")
        await self.accounts.update_one(
            {"_id": account["_id"]}, {"$unset": {"staff.totp": "", "staff.totp_pending": ""}}
        )
        await self.audit.record("account.totp_reset", actor_id=None, subject=str(account["staff"]["username"]),
                                subject_id=account["_id"], details={"by": by})

    def _matching_step(self, secret: str, code: str) -> int | None:
        """The time step whose code is ``code`` (now, or one step either side), or None."""
        totp = pyotp.TOTP(secret)
        current = int(self.now().timestamp()) // STEP_SECONDS
        found = None
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):  # compare every step: constant work
                found = step
        return found
