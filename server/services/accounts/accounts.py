"""Accounts: registration, accounts created by others, activation, passwords, staff.

One document per account in ``accounts``. Its ``login_key`` — unique — is a
blind index of what a person logs in with: ``trainee:<ID number>``,
``unit:<USCC>`` or ``staff:<username>``, so that no query (and no log of one)
holds an ID number in clear, whatever the person typed. ID numbers and phones
are stored only encrypted (AES-256-GCM) with a blind index for exact lookup;
birth dates and e-mails encrypted too, and no mask is stored
(:mod:`server.services.accounts.personal`).

No shared default password: an account made by someone else (a unit adding
staff, an Excel import) starts ``pending`` with a random one-time secret,
shown once to its creator and stored as a keyed hash; the person activates it
with that secret or with an SMS code to the phone on record, choosing their
own password.

This module owns ``accounts``: every service reaches it through
:class:`AccountRepository`, which hides the accounts of an unfinished Excel
import from every query unless the caller (the import, its recovery) opts in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.models.accounts import (
    ROLE_LABELS,
    AccountOut,
    ActivateIn,
    PasswordChangeIn,
    PasswordResetIn,
    StaffCreate,
    TokenOut,
    TraineeRegister,
    UnitRegister,
)
from server.models.admin_accounts import STATUS_LABELS, AdminAccountItem, AdminAccountPage
from server.services import Principal
from server.services.accounts.identity import IdType, mask_phone
from server.services.accounts.passwords import PasswordHasher, check_password_policy
from server.services.accounts.personal import (
    birth_date_of,
    id_masked_of,
    id_number_of,
    seal_trainee,
    trainee_subject,
)
from server.services.accounts.repository import AccountRepository
from server.services.accounts.sms import ProofAttempt, SmsCodes, SmsPurpose
from server.services.accounts.tokens import IssuedToken, TokenService
from server.services.audit import AuditLog
from server.services.ids import parse_object_id
from server.services.pii import FieldCipher

log = logging.getLogger(__name__)

ACTIVATION_LIFETIME = timedelta(days=30)


@dataclass(frozen=True)
class NewPerson:
    """What is needed to create a trainee account on someone else's behalf."""

    name: str
    sex: str
    id_type: IdType
    id_number: str
    birth_date: date
    phone: str
    email: str | None = None


@dataclass(frozen=True)
class PendingAccount:
    """An account created for someone else, with the one-time secret to hand over once."""

    account_id: ObjectId
    one_time_secret: str


class AccountService:
    """Creating accounts and changing their credentials."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        cipher: FieldCipher,
        hasher: PasswordHasher,
        tokens: TokenService,
        audit: AuditLog,
        sms_codes: SmsCodes,
        secret_key: bytes,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = AccountRepository(db)  # every other service reads accounts through it too
        self.cipher = cipher
        self.hasher = hasher
        self.tokens = tokens
        self.audit = audit
        self.sms_codes = sms_codes
        self.secret_key = secret_key
        self.now = now or (lambda: datetime.now(UTC))

    # ---- keys -------------------------------------------------------------------

    def trainee_key(self, id_number: str) -> str:
        """The login key of a trainee: a blind index, never the ID number itself."""
        return "trainee:" + self.cipher.blind_index(id_number, context="id_number")

    def unit_key(self, uscc: str) -> str:
        """The login key of a unit."""
        return "unit:" + self.cipher.blind_index(uscc, context="uscc")

    def staff_key(self, username: str) -> str:
        """The login key of association staff."""
        return "staff:" + self.cipher.blind_index(username.lower(), context="username")

    def login_key_candidates(self, account: str) -> list[str]:
        """The keys an entered account string may mean (ID number, USCC or username)."""
        folded, compact = login_forms(account)
        return [self.trainee_key(compact), self.unit_key(compact), self.staff_key(folded)]

    def login_subject(self, account: str) -> str:
        """What the login throttle counts per account: a blind index of the normalized account.

        Built from the same normalization as :meth:`login_key_candidates`, so every
        spelling that finds one account (spaces, full-width digits, a lower-case x)
        shares one budget.
        """
        return self.cipher.blind_index(login_forms(account)[1], context="login")[:32]

    async def find_by_login(self, account: str) -> dict[str, Any] | None:
        """The account an entered account string names, if any."""
        # The repository hides an account of an Excel import still being committed.
        return await self.accounts.find_one({"login_key": {"$in": self.login_key_candidates(account)}})

    # ---- registration -----------------------------------------------------------

    async def register_trainee(self, body: TraineeRegister, *, ip: str) -> TokenOut:
        """Self-registration of a trainee with a verified phone."""
        assert body.birth_date is not None and body.sex is not None  # the model derives them
        self._check_password(body.password, account=body.id_number, phone=body.phone, birth=body.birth_date)
        await self.sms_codes.verify(body.phone, SmsPurpose.register, body.sms_code)
        doc = self._trainee_doc(
            NewPerson(body.name, body.sex, body.id_type, body.id_number, body.birth_date, body.phone, str(body.email)),
            status="active",
            created_by=None,
        )
        doc["password_hash"] = await self.hasher.hash(body.password)
        await self._insert(doc, conflict_message="该证件号码已注册，请直接登录")
        await self.audit.record(
            "account.register", actor_id=doc["_id"], actor_role="trainee",
            subject=trainee_subject(doc["_id"]), subject_id=doc["_id"], ip=ip,
        )
        return self.login_response(doc, await self.tokens.issue(doc["_id"], "trainee"))

    async def register_unit(self, body: UnitRegister, *, ip: str) -> TokenOut:
        """Self-registration of a unit with its USCC and a verified contact phone."""
        self._check_password(body.password, account=body.uscc, phone=body.phone, birth=None)
        await self.sms_codes.verify(body.phone, SmsPurpose.register, body.sms_code)
        doc = self._base_doc("unit", self.unit_key(body.uscc), body.name, body.phone, status="active", created_by=None)
        doc["unit"] = {"uscc": body.uscc, "contact_name": body.contact_name}
        doc["password_hash"] = await self.hasher.hash(body.password)
        await self._insert(doc, conflict_message="该统一社会信用代码已注册，请直接登录")
        await self.audit.record(
            "account.register", actor_id=doc["_id"], actor_role="unit",
            subject=body.uscc, subject_id=doc["_id"], ip=ip,
        )
        return self.login_response(doc, await self.tokens.issue(doc["_id"], "unit"))

    async def create_pending_trainee(
        self, person: NewPerson, *, created_by: Principal, ip: str | None = None,
        profile: dict[str, Any] | None = None,
    ) -> PendingAccount:
        """A trainee account made by someone else: not activated, with a one-time secret.

        ``profile``: more fields of the ``trainee`` subdocument, stored in the same
        insert (e.g. the unit's profile fields and ``unit_id``: no half state).
        409 ``account_exists`` when the ID number already has an account.
        """
        doc, secret = self.pending_trainee_doc(person, created_by=created_by.account_id, profile=profile)
        await self._insert(doc, conflict_message="该证件号码已有账号，可直接绑定")
        await self.audit.record(
            "account.create_pending", actor_id=created_by.account_id, actor_role=created_by.role,
            subject=trainee_subject(doc["_id"]), subject_id=doc["_id"], ip=ip,
        )
        return PendingAccount(doc["_id"], secret)

    def pending_trainee_doc(
        self, person: NewPerson, *, created_by: ObjectId, profile: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], str]:
        """The document of a pending trainee account and its one-time secret, not inserted
        (bulk imports insert many at once)."""
        doc = self._trainee_doc(person, status="pending", created_by=created_by)
        # The profile may carry sealed fields too (an e-mail): sealed here if they are not yet.
        doc["trainee"] = seal_trainee(self.cipher, doc["trainee"] | (profile or {}))
        secret = _new_one_time_secret()
        doc["activation"] = {
            "secret_hash": self._secret_hash(doc["_id"], secret),
            "expires_at": self.now() + ACTIVATION_LIFETIME,
        }
        return doc, secret

    async def create_staff(self, body: StaffCreate) -> ObjectId:
        """An association staff account (admin, reviewer or scanner)."""
        check_password_policy(body.password, account=body.username)
        doc = self._base_doc(body.role, self.staff_key(body.username), body.name, None, status="active", created_by=None)
        doc["staff"] = {"username": body.username}
        doc["password_hash"] = await self.hasher.hash(body.password)
        await self._insert(doc, conflict_message="用户名已存在")
        await self.audit.record("account.create_staff", actor_id=None, subject=body.username, subject_id=doc["_id"])
        return doc["_id"]

    def _base_doc(
        self, role: str, login_key: str, name: str, phone: str | None, *, status: str, created_by: ObjectId | None
    ) -> dict[str, Any]:
        now = self.now()
        doc: dict[str, Any] = {
            "_id": ObjectId(),
            "role": role,
            "status": status,
            "login_key": login_key,
            "name": name,
            "password_hash": None,
            "created_at": now,
            "created_by": created_by,
            "updated_at": now,
        }
        if phone is not None:
            doc["phone"] = self.cipher.encrypt(phone, context="phone")
            doc["phone_index"] = self.cipher.blind_index(phone, context="phone")
        return doc

    def _trainee_doc(self, person: NewPerson, *, status: str, created_by: ObjectId | None) -> dict[str, Any]:
        doc = self._base_doc(
            "trainee", self.trainee_key(person.id_number), person.name, person.phone,
            status=status, created_by=created_by,
        )
        # No stored mask, birth date and e-mail sealed: see server.services.accounts.personal.
        doc["trainee"] = seal_trainee(self.cipher, {
            "sex": person.sex,
            "id_type": str(person.id_type),
            "id_number": self.cipher.encrypt(person.id_number, context="id_number"),
            "birth_date": person.birth_date.isoformat(),
            "email": person.email,
        })
        return doc

    async def _insert(self, doc: dict[str, Any], *, conflict_message: str) -> None:
        # The unique index on login_key is the guard: never check first, then insert.
        try:
            await self.accounts.insert_one(doc)
        except DuplicateKeyError:
            raise errors.conflict("account_exists", conflict_message) from None

    # ---- passwords and activation -----------------------------------------------

    def _check_password(self, password: str, *, account: str, phone: str | None, birth: date | None) -> None:
        try:
            check_password_policy(password, account=account, phone=phone, birth_date=birth)
        except ValueError as exc:
            raise errors.validation("密码不符合要求", {"password": str(exc)}) from None

    def _secret_hash(self, account_id: ObjectId, secret: str) -> str:
        # A one-time secret has ~100 bits of entropy: a keyed fast hash stores it safely.
        message = f"activation:{account_id}:{_normalize_secret(secret)}".encode()
        return hmac.new(self.secret_key, message, hashlib.sha256).hexdigest()

    def one_time_secret_matches(self, account: dict[str, Any], secret: str) -> bool:
        """Whether ``secret`` is the live one-time secret of a pending account."""
        activation = account.get("activation")
        if account.get("status") != "pending" or not activation or activation["expires_at"] <= self.now():
            return False
        return hmac.compare_digest(activation["secret_hash"], self._secret_hash(account["_id"], secret))

    async def activate(self, body: ActivateIn, *, ip: str) -> TokenOut:
        """Set one's own password on a pending account, proven by its secret or an SMS code.

        Order: the general password rules (a weak password costs no SMS try), the
        account, the proof, the personal password rules, and only then is the SMS
        code used up — a refused password leaves it usable.
        """
        self.check_new_password(body.new_password, account_text=body.account)
        account = await self.find_by_login(body.account)
        if account is None or account["status"] != "pending":
            raise errors.AppError(404, "activation_not_found", "该账号不存在或已激活，请直接登录")
        code_id = None
        if body.secret is not None:
            if not self.one_time_secret_matches(account, body.secret):
                raise errors.validation("一次性密码错误或已过期", {"secret": "一次性密码错误或已过期"})
        else:
            assert body.sms_code is not None
            code_id = await self.sms_codes.check(self.phone_of(account), SmsPurpose.activate, body.sms_code)
        self.check_new_password(body.new_password, account_text=body.account, account=account)
        if code_id is not None:
            await self.sms_codes.use(code_id)
        await self._complete_activation(account, body.new_password)
        await self.tokens.revoke_all(account["_id"])  # logins made with the one-time secret
        await self.audit.record(
            "account.activate", actor_id=account["_id"], actor_role=account["role"],
            subject=self.masked_subject(account), subject_id=account["_id"], ip=ip,
        )
        return self.login_response(account, await self.tokens.issue(account["_id"], account["role"]))

    def check_new_password(self, password: str, *, account_text: str, account: dict[str, Any] | None = None) -> None:
        """422 on ``password`` unless the policy accepts it; with ``account``, also its phone and birth date."""
        phone = self.phone_of(account) if account else None
        birth = birth_date_of(self.cipher, account.get("trainee")) if account else None
        self._check_password(password, account=account_text, phone=phone, birth=birth)

    async def _complete_activation(self, account: dict[str, Any], new_password: str) -> None:
        """The password policy is checked by the caller (before any SMS code is used up)."""
        password_hash = await self.hasher.hash(new_password)
        result = await self.accounts.update_one(
            {"_id": account["_id"], "status": "pending"},
            {"$set": {"status": "active", "password_hash": password_hash, "updated_at": self.now(),
                      "password_changed_at": self.now()},
             "$unset": {"activation": ""}},
        )
        if result.modified_count != 1:  # activated meanwhile by another request
            raise errors.conflict("already_activated", "该账号已激活，请直接登录")

    async def change_password(self, principal: Principal, body: PasswordChangeIn, *, ip: str) -> None:
        """Change one's password (or finish activation); every other login is revoked."""
        account = await self.get(principal.account_id)
        if account["status"] == "pending":
            if not self.one_time_secret_matches(account, body.old_password):
                raise errors.validation("原密码错误", {"old_password": "原密码错误"})
            self.check_new_password(body.new_password, account_text=self.login_text(account), account=account)
            await self._complete_activation(account, body.new_password)
        else:
            if not await self.hasher.verify(account.get("password_hash"), body.old_password):
                raise errors.validation("原密码错误", {"old_password": "原密码错误"})
            self.check_new_password(body.new_password, account_text=self.login_text(account), account=account)
            await self.accounts.update_one(
                {"_id": account["_id"]},
                {"$set": {"password_hash": await self.hasher.hash(body.new_password),
                          "password_changed_at": self.now(), "updated_at": self.now()}},
            )
        await self.tokens.revoke_all(account["_id"], except_id=principal.token_id)
        if principal.token_id is not None:
            await self.tokens.widen_scope(principal.token_id)
        await self.audit.record(
            "account.password_change", actor_id=account["_id"], actor_role=account["role"],
            subject=self.masked_subject(account), subject_id=account["_id"], ip=ip,
        )

    async def reset_password(self, body: PasswordResetIn, *, ip: str) -> None:
        """Set a new password proven by an SMS code (purpose ``reset``) to the phone on record.

        Not counted in the login windows: it is how a locked-out owner gets back in.
        Nothing about the account is told before the code is proven (unknown account
        and wrong code answer alike); the password policy and the status are checked
        before the code is used up. Every login of the account is revoked.
        """
        self.check_new_password(body.new_password, account_text=body.account)
        account = await self.find_by_login(body.account)
        code_id = await self.check_sms_proof(account, SmsPurpose.reset, body.sms_code,
                                             attempt=ProofAttempt(self.login_subject(body.account), ip))
        assert account is not None  # check_sms_proof refuses a missing account
        if account["status"] == "pending":
            raise errors.forbidden("账号尚未激活，请通过“激活账号”设置密码", code="account_pending")
        if account["status"] != "active":
            raise errors.forbidden("账号已停用，请联系协会", code="account_disabled")
        self.check_new_password(body.new_password, account_text=self.login_text(account), account=account)
        await self.sms_codes.use(code_id)
        result = await self.accounts.update_one(
            {"_id": account["_id"], "status": "active"},
            {"$set": {"password_hash": await self.hasher.hash(body.new_password),
                      "password_changed_at": self.now(), "updated_at": self.now()}},
        )
        if result.modified_count != 1:  # disabled meanwhile
            raise errors.forbidden("账号已停用，请联系协会", code="account_disabled")
        await self.tokens.revoke_all(account["_id"])
        await self.audit.record(
            "account.password_reset", actor_id=account["_id"], actor_role=account["role"],
            subject=self.masked_subject(account), subject_id=account["_id"], ip=ip,
        )

    async def check_sms_proof(
        self, account: dict[str, Any] | None, purpose: SmsPurpose, code: str, *, attempt: ProofAttempt | None = None
    ) -> ObjectId:
        """Check (not use up) an SMS code sent to the phone on record of ``account``; the code's id.

        An unknown account, one without a phone, no live code and a wrong code all
        answer the same 422 ``sms_proof_invalid``, and cost the same query: the
        answer tells whether an account exists (or which phone it has) only to the
        person who received the code. ``attempt`` applies the proof windows (429 for a
        guessing address; see :mod:`server.services.accounts.sms`).
        """
        phone = self.phone_of(account) if account else None
        try:
            return await self.sms_codes.check(phone, purpose, code, attempt=attempt)
        except errors.AppError as exc:
            if exc.code not in ("sms_code_invalid", "sms_code_expired"):
                raise
        message = "账号或验证码不正确（验证码须发送到该账号登记的手机号），请核对或重新获取"
        raise errors.validation(message, {"sms_code": "验证码不正确或已失效"}, code="sms_proof_invalid")

    async def set_disabled(
        self, account_id: ObjectId, disabled: bool, *, by: Principal | None, ip: str | None = None
    ) -> dict[str, Any]:
        """Disable (every login revoked at once) or re-enable an account; the account as updated.

        ``by`` None is the command line, audited as an admin without an actor id (as
        ``create-staff`` has none). The status in the update's filter is the guard;
        when it matches nothing the refusal says why: 404 ``not_found``, 409
        ``account_status_unchanged``, 409 ``account_not_activated`` (a pending account
        is activated by its owner, neither enabled nor disabled). 409
        ``cannot_disable_self``: an admin never locks themself out.
        """
        if disabled and by is not None and by.account_id == account_id:
            raise errors.conflict("cannot_disable_self", "不能停用自己的账号")
        status_from, status_to = ("active", "disabled") if disabled else ("disabled", "active")
        account = await self.accounts.find_one_and_update(
            {"_id": account_id, "status": status_from}, {"$set": {"status": status_to, "updated_at": self.now()}},
            return_document=ReturnDocument.AFTER,
        )
        if account is None:
            raise await self._status_refusal(account_id, disabled)
        if disabled:
            await self.tokens.revoke_all(account_id)
        await self.audit.record(
            "account.disable" if disabled else "account.enable",
            actor_id=by.account_id if by else None, actor_role=by.role if by else "admin",
            subject=self.masked_subject(account), subject_id=account_id, ip=ip,
        )
        return account

    async def _status_refusal(self, account_id: ObjectId, disabled: bool) -> errors.AppError:
        """Why a status change found nothing to change (read after the guarded update, for the message only)."""
        current = await self.accounts.find_one({"_id": account_id}, {"status": 1})
        if current is None:
            return errors.not_found("账号不存在")
        if current["status"] == "pending":
            message = "该账号尚未激活，不能停用" if disabled else "该账号尚未激活，需由本人激活（设置密码）后登录，无需启用"
            return errors.conflict("account_not_activated", message)
        return errors.conflict("account_status_unchanged", "该账号已停用" if disabled else "该账号已是正常状态，无需启用")

    async def admin_set_disabled(self, account_id: str, disabled: bool, *, by: Principal, ip: str) -> AdminAccountItem:
        """An administrator disables or re-enables an account (a malformed id is 404)."""
        account = await self.set_disabled(parse_object_id(account_id, "账号不存在"), disabled, by=by, ip=ip)
        return self.admin_item(account)

    async def admin_lookup(self, account_text: str, *, by: Principal, ip: str) -> AdminAccountPage:
        """The account an administrator names as its owner logs in (same normalization), audited.

        At most one item; an unknown account is an empty page, not a 404 (audited
        too, without a subject: what was typed may be an ID number in clear).
        """
        account = await self.find_by_login(account_text)
        await self.audit.record(
            "account.lookup", actor_id=by.account_id, actor_role=by.role,
            subject=self.masked_subject(account) if account else None,
            subject_id=account["_id"] if account else None, ip=ip, details={"found": account is not None},
        )
        if account is None:
            return AdminAccountPage(items=[], total=0)
        return AdminAccountPage(items=[self.admin_item(account)], total=1)

    def admin_item(self, account: dict[str, Any]) -> AdminAccountItem:
        """An account as an administrator sees it: the login account and phone masked."""
        phone = self.phone_of(account)
        return AdminAccountItem(
            id=str(account["_id"]), role=account["role"], role_label=ROLE_LABELS[account["role"]],
            status=account["status"], status_label=STATUS_LABELS[account["status"]], name=account["name"],
            account_masked=self.account_masked(account), phone_masked=mask_phone(phone) if phone else None,
            created_at=account["created_at"],
        )

    # ---- reading ------------------------------------------------------------------

    async def get(self, account_id: ObjectId) -> dict[str, Any]:
        """The stored account, or 404."""
        account = await self.accounts.by_id(account_id)
        if account is None:
            raise errors.not_found("账号不存在")
        return account

    async def me(self, principal: Principal) -> AccountOut:
        """The caller's own account, personal data in full (it is theirs)."""
        account = await self.get(principal.account_id)
        trainee, unit, staff = account.get("trainee"), account.get("unit"), account.get("staff")
        return AccountOut(
            id=str(account["_id"]),
            role=account["role"],
            role_label=ROLE_LABELS[account["role"]],
            status=account["status"],
            name=account["name"],
            phone=self.phone_of(account),
            id_type=trainee["id_type"] if trainee else None,
            id_number=id_number_of(self.cipher, trainee) if trainee else None,
            uscc=unit["uscc"] if unit else None,
            username=staff["username"] if staff else None,
            wechat_bound=bool(account.get("wechat")),
            must_change_password=principal.scope == "password_change",
            totp_enrolled=bool(((staff or {}).get("totp") or {}).get("secret")),
            totp_setup_required=principal.scope == "totp_setup",
        )

    def phone_of(self, account: dict[str, Any]) -> str | None:
        """The decrypted phone of an account."""
        return self.cipher.decrypt(account["phone"], context="phone") if account.get("phone") else None

    def login_text(self, account: dict[str, Any]) -> str:
        """What the person types as account (for the password policy)."""
        if account.get("trainee"):
            return id_number_of(self.cipher, account["trainee"])
        if account.get("unit"):
            return str(account["unit"]["uscc"])
        return str(account["staff"]["username"])

    def masked_subject(self, account: dict[str, Any]) -> str:
        """A name of the account fit for logs and the audit trail (a USCC is public).

        A trainee is named by a reference to the account, never by a mask of the
        ID number: the trail is kept for years and lands in every backup.
        """
        if account.get("trainee"):
            return trainee_subject(account["_id"])
        return self.login_text(account)

    def account_masked(self, account: dict[str, Any]) -> str:
        """What the account logs in with, for display: a trainee's ID number masked (computed, not stored)."""
        if account.get("trainee"):
            return id_masked_of(self.cipher, account["trainee"])
        return self.login_text(account)

    def login_response(self, account: dict[str, Any], issued: IssuedToken) -> TokenOut:
        """The answer of every successful login."""
        return TokenOut(
            token=issued.token,
            role=account["role"],
            must_change_password=issued.scope == "password_change",
            totp_setup_required=issued.scope == "totp_setup",
            expires_at=issued.expires_at.isoformat(),
        )


def login_forms(account: str) -> tuple[str, str]:
    """An entered account string as (NFKC-folded and trimmed, for usernames) and
    (also without any whitespace and upper-cased, for ID numbers and USCCs — 全角 digits,
    ｘ and blanks typed anywhere give the form the blind indexes are made of)."""
    folded = unicodedata.normalize("NFKC", account).strip()
    return folded, re.sub(r"\s+", "", folded).upper()


def _new_one_time_secret() -> str:
    """20 base32 characters (100 bits) in groups of four, easy to read out and type."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode()  # 15 bytes → 24 chars, no padding
    return "-".join(raw[i:i + 4] for i in range(0, 20, 4))


def _normalize_secret(secret: str) -> str:
    return unicodedata.normalize("NFKC", secret).replace("-", "").replace(" ", "").upper()
