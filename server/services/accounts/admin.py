"""What association administrators do to accounts beyond lookup: staff accounts and password resets.

No password is ever chosen or shown by an administrator:

- a new staff account starts ``pending`` with the member's own phone and no one-time
  secret; the member activates it (登录页 → 首次登录) with an SMS code to that phone,
  choosing their password;
- a password reset sends the account's phone on record a code of purpose ``reset``
  (the one 忘记密码 checks) and answers with the masked phone; the person sets the
  new password themselves.

Both are audited; resets are throttled per administrator on top of the SMS limits
(per phone cooldown and daily quota, per address).
"""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING

from server import errors
from server.models.accounts import ROLE_LABELS
from server.models.admin_accounts import (
    STATUS_LABELS,
    PasswordResetSentOut,
    StaffAccountItem,
    StaffAccountPage,
    StaffAccountQuery,
    StaffCreateIn,
)
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.identity import mask_phone
from server.services.accounts.sms import SmsPurpose
from server.services.accounts.throttle import RateLimiter
from server.services.audit import AuditLog
from server.services.ids import parse_object_id

STAFF_ROLES = ("admin", "reviewer", "scanner")
RESETS_PER_HOUR = 20  # per administrator: a desk handles a few calls an hour, not a bulk send


class AdminAccountService:
    """Staff accounts and SMS password resets, for administrators."""

    def __init__(self, accounts: AccountService, *, limiter: RateLimiter, audit: AuditLog) -> None:
        self.accounts = accounts
        self.limiter = limiter
        self.audit = audit

    async def create_staff(self, body: StaffCreateIn, *, by: Principal, ip: str) -> StaffAccountItem:
        """A pending staff account with the member's phone; 409 ``account_exists`` for a taken username."""
        svc = self.accounts
        doc = svc._base_doc(body.role, svc.staff_key(body.username), body.name, body.phone,
                            status="pending", created_by=by.account_id)
        doc["staff"] = {"username": body.username}
        await svc._insert(doc, conflict_message="用户名已存在")
        await self.audit.record(
            "account.create_staff", actor_id=by.account_id, actor_role=by.role, subject=body.username,
            subject_id=doc["_id"], ip=ip, details={"role": body.role},
        )
        return self.staff_item(doc)

    async def list_staff(self, query: StaffAccountQuery) -> StaffAccountPage:
        """Staff accounts newest first, filtered by role and status."""
        # ``staff.username`` exists on staff accounts only: its sparse index finds them among the trainees.
        filt: dict[str, Any] = {"staff.username": {"$exists": True}, "role": query.role or {"$in": list(STAFF_ROLES)}}
        if query.status:
            filt["status"] = query.status
        total = await self.accounts.accounts.count_documents(filt)
        docs = await self.accounts.accounts.find(filt).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]).skip(query.skip).limit(query.page_size).to_list()
        return StaffAccountPage(items=[self.staff_item(d) for d in docs], total=total)

    def staff_item(self, account: dict[str, Any]) -> StaffAccountItem:
        """A staff account for display (phone masked)."""
        phone = self.accounts.phone_of(account)
        return StaffAccountItem(
            id=str(account["_id"]), role=account["role"], role_label=ROLE_LABELS[account["role"]],
            status=account["status"], status_label=STATUS_LABELS[account["status"]], name=account["name"],
            account_masked=account["staff"]["username"], username=account["staff"]["username"],
            phone_masked=mask_phone(phone) if phone else None, created_at=account["created_at"],
        )

    async def send_password_reset(self, account_id: str, *, by: Principal, ip: str) -> PasswordResetSentOut:
        """Send the account's phone on record a reset code; the masked phone.

        404 unknown account; 409 ``account_pending`` (activated by its owner instead),
        ``account_disabled``, ``no_phone``, ``cannot_reset_self`` (change one's own
        password instead); 429 past :data:`RESETS_PER_HOUR` per administrator or the
        SMS limits. Checked before anything is counted or sent.
        """
        oid = parse_object_id(account_id, "账号不存在")
        if oid == by.account_id:
            raise errors.conflict("cannot_reset_self", "不能为自己发送重置验证码，请在“修改密码”中修改")
        account = await self.accounts.get(oid)
        if account["status"] == "pending":
            raise errors.conflict("account_pending", "该账号尚未激活，请本人通过“首次登录”用短信验证码激活")
        if account["status"] != "active":
            raise errors.conflict("account_disabled", "该账号已停用，请先启用")
        phone = self.accounts.phone_of(account)
        if not phone:
            raise errors.conflict("no_phone", "该账号没有登记手机号，无法发送验证码")
        await self.limiter.hit(f"admin_reset:{by.account_id}", limit=RESETS_PER_HOUR, window_seconds=3600,
                               message="发送重置验证码过于频繁，请稍后再试")
        sent = await self.accounts.sms_codes.send(phone, SmsPurpose.reset, ip=ip)
        await self.audit.record(
            "account.password_reset_sent", actor_id=by.account_id, actor_role=by.role,
            subject=self.accounts.masked_subject(account), subject_id=oid, ip=ip,
        )
        return PasswordResetSentOut(phone_masked=mask_phone(phone), expires_in=sent.expires_in)
