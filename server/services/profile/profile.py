"""The trainee's own profile: the manual's 基本信息 form, completeness, and the phone change.

Profile fields live in the account's ``trainee`` subdocument (the name stays at
the top level, the phone encrypted with its blind index as at registration).
The ID type and number are not self-service: they are the login and the
identity, so only the association may correct them.

``has_photo`` is the quick check the enrollment rules use; the photo itself is
handled by :mod:`server.services.profile.photos` (``trainee.photo.file_id`` is set iff
the trainee has an ID photo).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from server import errors
from server.models.profile import (
    EDUCATION_LEVELS,
    ETHNICITIES,
    HONORS,
    POLITICAL_STATUSES,
    REQUIRED_PROFILE_FIELDS,
    PhoneChangeIn,
    ProfileOptionsOut,
    ProfileOut,
    ProfileUpdate,
)
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.identity import (
    ID_TYPE_LABELS,
    IdType,
    ProfileMismatch,
    check_profile_consistency,
)
from server.services.accounts.personal import (
    birth_date_of,
    id_number_of,
    open_trainee,
    seal_trainee,
    trainee_subject,
)
from server.services.accounts.sms import SmsCodes, SmsPurpose
from server.services.audit import AuditLog
from server.services.pii import FieldCipher


class ProfileService:
    """Reading and changing a trainee's own profile."""

    def __init__(
        self,
        accounts: AccountService,
        *,
        cipher: FieldCipher,
        sms_codes: SmsCodes,
        audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = accounts
        self.collection = accounts.accounts
        self.cipher = cipher
        self.sms_codes = sms_codes
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    async def trainee(self, account_id: ObjectId) -> dict[str, Any]:
        """The stored trainee account, or 404."""
        account = await self.accounts.get(account_id)
        # A deleted account (a tombstone, services/privacy.py) has no profile left to show.
        if account.get("role") != "trainee" or not account.get("trainee") or account.get("status") == "deleted":
            raise errors.not_found("学员不存在")
        return account

    async def get(self, principal: Principal) -> ProfileOut:
        """The caller's profile in full, with what is still missing."""
        return self.profile_out(await self.trainee(principal.account_id))

    def profile_out(self, account: dict[str, Any]) -> ProfileOut:
        """A stored trainee account as its profile."""
        t = open_trainee(self.cipher, account["trainee"])
        values: dict[str, Any] = {
            key: t.get(key) for key in (
                "sex", "email", "birth_date", "work_start", "specialty", "address", "education",
                "ethnicity", "political_status", "title", "position", "honor", "postcode",
                "employer", "remarks",
            )
        }
        id_type = IdType(t["id_type"])
        values.update(
            id=str(account["_id"]), name=account["name"], id_type=id_type,
            id_type_label=ID_TYPE_LABELS[id_type],
            id_number=id_number_of(self.cipher, t),
            phone=self.accounts.phone_of(account),
        )
        missing = [name for name in REQUIRED_PROFILE_FIELDS if not values.get(name)]
        photo = t.get("photo") or {}
        return ProfileOut(
            **values, has_photo=photo.get("file_id") is not None, photo_updated_at=photo.get("updated_at"),
            profile_complete=not missing, missing_fields=missing,
        )

    async def update(self, principal: Principal, body: ProfileUpdate, *, ip: str) -> ProfileOut:
        """Replace the editable profile; birth date and sex must agree with a resident ID."""
        account = await self.trainee(principal.account_id)
        t = account["trainee"]
        sex = body.sex or t.get("sex")
        birth = body.birth_date or birth_date_of(self.cipher, t)
        self._check_identity(account, sex, birth, body)
        fields = {f"trainee.{key}": value for key, value in body.stored_fields().items()}
        fields.update({
            "name": body.name, "trainee.sex": sex,
            "trainee.birth_date": birth.isoformat() if birth else None, "updated_at": self.now(),
        })
        # Compared in clear (a sealed value differs at every encryption), stored sealed.
        shown = {**account, "trainee": open_trainee(self.cipher, t)}
        changed = sorted(k.removeprefix("trainee.") for k, v in fields.items()
                         if k != "updated_at" and _current(shown, k) != v)
        updated = await self.collection.find_one_and_update(
            {"_id": account["_id"], "role": "trainee"},
            {"$set": seal_trainee(self.cipher, fields, prefix="trainee.")}, return_document=ReturnDocument.AFTER
        )
        if updated is None:
            raise errors.not_found("学员不存在")
        await self.audit.record(
            "profile.update", actor_id=principal.account_id, actor_role=principal.role,
            subject=trainee_subject(account["_id"]), subject_id=account["_id"], ip=ip, details={"fields": changed},
        )
        return self.profile_out(updated)

    def _check_identity(self, account: dict[str, Any], sex: str | None, birth: date | None,
                        body: ProfileUpdate) -> None:
        t = account["trainee"]
        id_number = id_number_of(self.cipher, t)
        try:
            check_profile_consistency(t["id_type"], id_number, birth, sex)
        except ProfileMismatch as exc:
            raise errors.validation("提交的数据有误，请检查标出的字段", {exc.field: exc.message}) from None
        if birth is not None and body.work_start < birth.strftime("%Y-%m"):
            raise errors.validation(fields={"work_start": "参加工作时间不能早于出生日期"})

    async def change_phone(self, principal: Principal, body: PhoneChangeIn, *, ip: str) -> ProfileOut:
        """Move the account to a new phone proven by an SMS code sent to it."""
        account = await self.trainee(principal.account_id)
        old = self.accounts.phone_of(account)
        if old == body.phone:
            raise errors.validation("新手机号与当前手机号相同", {"phone": "新手机号与当前手机号相同"})
        await self.sms_codes.verify(body.phone, SmsPurpose.change_phone, body.sms_code)
        updated = await self.collection.find_one_and_update(
            {"_id": account["_id"]},
            {"$set": {"phone": self.cipher.encrypt(body.phone, context="phone"),
                      "phone_index": self.cipher.blind_index(body.phone, context="phone"),
                      "updated_at": self.now()}},
            return_document=ReturnDocument.AFTER,
        )
        await self.audit.record(
            "profile.phone_change", actor_id=principal.account_id, actor_role=principal.role,
            # No phone, not even masked: two masks of one person's phones beside each other,
            # or beside an e-mail, narrow them; the account reference is enough to look it up.
            subject=trainee_subject(account["_id"]), subject_id=account["_id"], ip=ip,
        )
        return self.profile_out(updated)

    async def has_photo(self, account_id: ObjectId) -> bool:
        """Whether the trainee has an ID photo (the enrollment precondition)."""
        found = await self.collection.find_one(
            {"_id": account_id, "trainee.photo.file_id": {"$type": "objectId"}}, {"_id": 1}
        )
        return found is not None

    @staticmethod
    def options() -> ProfileOptionsOut:
        """The choices of the form's drop-downs."""
        return ProfileOptionsOut(
            education=list(EDUCATION_LEVELS), ethnicity=list(ETHNICITIES),
            political_status=list(POLITICAL_STATUSES), honor=list(HONORS),
            id_type={str(k): v for k, v in ID_TYPE_LABELS.items()},
        )


def _current(account: dict[str, Any], dotted: str) -> Any:
    node: Any = account
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
