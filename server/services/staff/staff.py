"""A unit's staff (manual §3.3): add one, bind a registered trainee, list, edit, unbind, export.

A trainee belongs to at most one unit: ``trainee.unit_id`` on the trainee's
account (the photo permission check and enrollments read that exact field).
Binding is one guarded update (``trainee.unit_id`` missing or null), so two
units binding the same person at once cannot both win. Every unit path looks a
person up among *its own* staff only: another unit's staff id is a plain 404.

Accounts of an Excel import still being committed are invisible here (and to
login and bind): the accounts repository hides them from every query.

Binding a registered person needs a *verified* unit (:mod:`.verification`), tells
the person (notifier), and gives the unit only *limited* access until the person
consents (:mod:`server.services.unit_access`): the list shows name and masked ID
number, and detail, edit, photo upload and download are 403
``staff_consent_required``; the export row holds the name and masked ID number only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from server import errors
from server.documents.staff_xlsx import SEX_LABELS, render_staff_export
from server.integrations.notifier import Notifier
from server.models.profile import PhotoOut, ProfileOut
from server.models.staff import (
    BindIn,
    StaffCreate,
    StaffCreatedOut,
    StaffItem,
    StaffListQuery,
    StaffPage,
    StaffUpdate,
)
from server.services import Principal
from server.services.accounts.accounts import AccountService, NewPerson, login_forms
from server.services.accounts.identity import (
    ID_TYPE_LABELS,
    ProfileMismatch,
    check_profile_consistency,
    mask_email,
    mask_id_number,
    mask_phone,
    validate_cn_mobile,
)
from server.services.accounts.personal import (
    birth_date_of,
    id_masked_of,
    id_number_of,
    open_trainee,
    seal_trainee,
    trainee_subject,
)
from server.services.accounts.throttle import RateLimiter
from server.services.audit import AuditLog
from server.services.cpu import CpuRunner
from server.services.ids import parse_object_id
from server.services.pii import FieldCipher
from server.services.profile.photos import PhotoService
from server.services.profile.profile import ProfileService
from server.services.staff.verification import UnitVerificationService
from server.services.unit_access import STAFF_CONSENT_MESSAGE, full_access_filter, unit_access

IDENTITY_LOCKED = {
    "name": "学员已激活或并非本单位创建的账号，姓名只能由本人或协会修改",
    "sex": "学员已激活或并非本单位创建的账号，性别只能由本人或协会修改",
    "birth_date": "学员已激活或并非本单位创建的账号，出生日期只能由本人或协会修改",
}
BIND_LIMIT_PER_HOUR = 30
# One answer for every bind that cannot go through: no such number, another name, bound elsewhere,
# disabled. A stranger typing a name and an ID number learns nothing beyond "not bindable".
BIND_NOT_FOUND = ("未找到可绑定的学员：请核对姓名和身份证号是否与学员注册时一致；"
                  "如该学员已属于其他单位，需本人先在“我的单位”中退出（或由原单位解除绑定）后再绑定。")
IDENTITY_FIELDS = ("id_type", "id_number", "phone")
_LIST_FIELDS = {"name": 1, "status": 1, "phone": 1, "trainee": 1, "created_by": 1}


def same_name(a: str, b: str) -> bool:
    """Names compare after NFKC folding and without spaces (全角/半角, stray blanks)."""
    def fold(s: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))
    return fold(a) == fold(b)


def _current(account: dict[str, Any], key: str) -> Any:
    """The stored value of an ``$set`` key such as ``trainee.position``."""
    value: Any = account
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def staff_filter(unit_id: ObjectId) -> dict[str, Any]:
    """The trainee accounts bound to ``unit_id`` (the repository adds "not of an unfinished import")."""
    return {"role": "trainee", "trainee.unit_id": unit_id}


class StaffService:
    """The staff of the calling unit."""

    def __init__(
        self,
        accounts: AccountService,
        *,
        profiles: ProfileService,
        photos: PhotoService,
        cipher: FieldCipher,
        limiter: RateLimiter,
        audit: AuditLog,
        run_cpu: CpuRunner,
        verification: UnitVerificationService,
        notifier: Notifier,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = accounts
        self.collection = accounts.accounts
        self.profiles = profiles
        self.photos = photos
        self.cipher = cipher
        self.limiter = limiter
        self.audit = audit
        self.run_cpu = run_cpu
        self.verification = verification
        self.notifier = notifier
        self.now = now or (lambda: datetime.now(UTC))

    # ---- lookups --------------------------------------------------------------------

    async def own(self, unit: Principal, trainee_id: str) -> dict[str, Any]:
        """A person of the unit's own staff, or 404 (malformed, unknown, or someone else's)."""
        account_id = parse_object_id(trainee_id, "人员不存在")
        account = await self.collection.find_one({"_id": account_id, **staff_filter(unit.account_id)})
        if account is None:
            raise errors.not_found("人员不存在")
        return account

    async def own_in_full(self, unit: Principal, trainee_id: str) -> dict[str, Any]:
        """A person of the unit's own staff whose data the unit may see and change; 403 when limited."""
        account = await self.own(unit, trainee_id)
        if unit_access(unit.account_id, account) != "full":
            raise errors.forbidden(STAFF_CONSENT_MESSAGE, code="staff_consent_required")
        return account

    def item(self, account: dict[str, Any], unit_id: ObjectId | None = None) -> StaffItem:
        """A stored account as a masked list item (name and masked ID only when the unit's access is limited)."""
        t = account["trainee"]
        if unit_id is not None and unit_access(unit_id, account) == "limited":
            return StaffItem(id=str(account["_id"]), name=account["name"], id_masked=id_masked_of(self.cipher, t),
                             has_photo=False, status=account["status"], bound_at=t.get("bound_at"), data_access="limited")
        phone = self.accounts.phone_of(account)
        return StaffItem(
            id=str(account["_id"]), name=account["name"], sex=SEX_LABELS.get(t.get("sex") or ""),
            id_masked=id_masked_of(self.cipher, t), phone_masked=mask_phone(phone) if phone else None,
            education=t.get("education"), title=t.get("title"), position=t.get("position"),
            employer=t.get("employer"), has_photo=(t.get("photo") or {}).get("file_id") is not None,
            status=account["status"], bound_at=t.get("bound_at"), data_access="full",
        )

    # ---- list, detail, edit, unbind -------------------------------------------------------

    async def list(self, unit: Principal, query: StaffListQuery) -> StaffPage:
        """The unit's staff, searched and paged, personal data masked."""
        where = staff_filter(unit.account_id)
        if query.phone or query.position:
            # Searching by a value the unit may not see would reveal it: only people it sees in full.
            where |= full_access_filter(unit.account_id)
        if query.name:
            where["name"] = {"$regex": re.escape(unicodedata.normalize("NFKC", query.name))}
        if query.position:
            where["trainee.position"] = {"$regex": re.escape(query.position)}
        if query.id_number:
            where["login_key"] = self.accounts.trainee_key(login_forms(query.id_number)[1])
        if query.phone:
            try:
                phone = validate_cn_mobile(query.phone)
            except ValueError:
                return StaffPage(items=[], total=0)
            where["phone_index"] = self.cipher.blind_index(phone, context="phone")
        total = await self.collection.count_documents(where)
        cursor = self.collection.find(where, _LIST_FIELDS).sort([("name", 1), ("_id", 1)])
        docs = await cursor.skip(query.skip).limit(query.page_size).to_list()
        return StaffPage(items=[self.item(d, unit.account_id) for d in docs], total=total)

    async def detail(self, unit: Principal, trainee_id: str) -> ProfileOut:
        """One person's profile for the unit's edit form; ID number and phone masked (403 when limited)."""
        account = await self.own_in_full(unit, trainee_id)
        profile = self.profiles.profile_out(account)
        return profile.model_copy(update={
            "id_number": id_masked_of(self.cipher, account["trainee"]),
            "phone": mask_phone(profile.phone) if profile.phone else None,
            "email": mask_email(profile.email) if profile.email else None,
        })

    async def update(self, unit: Principal, trainee_id: str, body: StaffUpdate, *, ip: str) -> StaffItem:
        """Replace the profile fields a unit may edit (never the ID type or number, nor the phone).

        Name, sex and birth date only on an account the unit created that is still
        pending; elsewhere a different value is refused. The names of the changed
        fields are audited (``staff.update``). 403 ``staff_consent_required`` when the
        unit's access is limited (a self-registered person who has not consented).
        """
        account = await self.own_in_full(unit, trainee_id)
        t = account["trainee"]
        stored_birth = birth_date_of(self.cipher, t)
        # An omitted name, or the stored one typed differently (全角, blanks), keeps the stored name.
        name = account["name"] if body.name is None or same_name(body.name, account["name"]) else body.name
        sex = body.sex or t.get("sex")
        birth = body.birth_date or stored_birth
        identity = {"name": (name, account["name"]), "sex": (sex, t.get("sex")), "birth_date": (birth, stored_birth)}
        changed_identity = [k for k, (new, old) in identity.items() if new != old]
        if changed_identity and not self._identity_editable(unit, account):
            raise self._identity_locked(changed_identity)
        id_number = id_number_of(self.cipher, t)
        try:
            check_profile_consistency(t["id_type"], id_number, birth, sex)
        except ProfileMismatch as exc:
            raise errors.validation(fields={exc.field: exc.message}) from None
        if birth is not None and body.work_start < birth.strftime("%Y-%m"):
            raise errors.validation(fields={"work_start": "参加工作时间不能早于出生日期"})
        fields: dict[str, Any] = {f"trainee.{k}": v for k, v in body.stored_fields().items()}
        fields.update({"name": name, "trainee.sex": sex, "trainee.birth_date": birth.isoformat() if birth else None})
        # Compared in clear (a sealed value differs at every encryption), stored sealed.
        shown = {**account, "trainee": open_trainee(self.cipher, t)}
        changed = sorted(k.removeprefix("trainee.") for k, v in fields.items() if _current(shown, k) != v)
        fields = seal_trainee(self.cipher, fields, prefix="trainee.")
        fields["updated_at"] = self.now()
        # Still bound, and still in full (the person may leave or the binding change meanwhile).
        mine = {"_id": account["_id"], **staff_filter(unit.account_id), **full_access_filter(unit.account_id)}
        guard = mine | (self._identity_write_guard(unit) if changed_identity else {})
        updated = await self.collection.find_one_and_update(guard, {"$set": fields}, return_document=ReturnDocument.AFTER)
        if updated is None:
            if changed_identity and await self.collection.count_documents(mine, limit=1):  # activated meanwhile
                raise self._identity_locked(changed_identity)
            raise errors.not_found("人员不存在")  # unbound meanwhile
        await self.audit.record("staff.update", actor_id=unit.account_id, actor_role=unit.role,
                                subject=trainee_subject(account["_id"]), subject_id=account["_id"], ip=ip,
                                details={"fields": changed})
        return self.item(updated, unit.account_id)

    @staticmethod
    def _identity_write_guard(unit: Principal) -> dict[str, Any]:
        """Identity changes: still the unit's own pending account at the moment of the write."""
        return {"status": "pending", "created_by": unit.account_id}

    @staticmethod
    def _identity_locked(changed: list[str]) -> errors.AppError:
        return errors.AppError(422, "staff_identity_locked", "该学员的姓名、性别和出生日期只能由本人或协会修改",
                               {"fields": {k: IDENTITY_LOCKED[k] for k in changed}})

    @staticmethod
    def _identity_editable(unit: Principal, account: dict[str, Any]) -> bool:
        """A unit fixes name, sex and birth date only of an account it created that nobody activated yet."""
        return bool(account["status"] == "pending" and account.get("created_by") == unit.account_id)

    async def unbind(self, unit: Principal, trainee_id: str, *, ip: str) -> None:
        """Remove a person from the unit's staff; the trainee keeps the account."""
        account_id = parse_object_id(trainee_id, "人员不存在")
        account = await self.collection.find_one_and_update(
            staff_filter(unit.account_id) | {"_id": account_id},
            {"$unset": {"trainee.unit_id": "", "trainee.bound_at": "", "trainee.unit_consent": ""},
             "$set": {"updated_at": self.now()}},
        )
        if account is None:
            raise errors.not_found("人员不存在")
        await self.audit.record("staff.unbind", actor_id=unit.account_id, actor_role=unit.role,
                                subject=trainee_subject(account_id), subject_id=account_id, ip=ip)
        unit_name = await self._unit_name(unit.account_id)
        await self.notifier.notify(account_id, "unit_unbound", f"单位「{unit_name}」已将您移出本单位人员。",
                                   {"unit_id": str(unit.account_id)})

    async def set_photo(self, unit: Principal, trainee_id: str, data: bytes, *, consent: bool,
                        ip: str) -> PhotoOut:
        """The ID photo of one of the unit's staff, through the trainee photo pipeline (403 when limited)."""
        account = await self.own_in_full(unit, trainee_id)
        return await self.photos.store(account, data, consent=consent, actor=unit, ip=ip)

    # ---- add one, bind ----------------------------------------------------------------------

    async def add(self, unit: Principal, body: StaffCreate, *, ip: str) -> StaffCreatedOut:
        """Create a pending trainee account bound to the unit, in one insert."""
        assert body.birth_date is not None and body.sex is not None  # the model derives or requires them
        person = NewPerson(body.name, body.sex, body.id_type, body.id_number, body.birth_date, body.phone,
                           str(body.email))
        profile = self.profile_fields(body) | {"unit_id": unit.account_id, "bound_at": self.now()}
        try:
            pending = await self.accounts.create_pending_trainee(person, created_by=unit, ip=ip, profile=profile)
        except errors.AppError as exc:
            if exc.code == "account_exists":
                raise errors.conflict("account_exists", "该证件号码已有账号，请使用“绑定已注册学员”",
                                      {"bind": {"path": "/api/v1/unit/staff/bind", "name": body.name}}) from None
            raise
        await self.audit.record("staff.add", actor_id=unit.account_id, actor_role=unit.role,
                                subject=trainee_subject(pending.account_id), subject_id=pending.account_id, ip=ip)
        return StaffCreatedOut(id=str(pending.account_id), name=body.name, id_masked=mask_id_number(body.id_number),
                               status="pending", one_time_secret=pending.one_time_secret)

    @staticmethod
    def profile_fields(body: StaffCreate) -> dict[str, Any]:
        """The ``trainee`` subdocument fields of the form (identity fields are stored by accounts)."""
        return {k: v for k, v in body.stored_fields().items() if k not in IDENTITY_FIELDS}

    async def bind(self, unit: Principal, body: BindIn, *, ip: str) -> StaffItem:
        """Bind a registered trainee found by exact name + ID number (verified units; throttled per unit).

        Every refusal but "already yours" is the same 404 ``trainee_not_found``, so
        the answer tells a stranger only whether this exact pair can be bound now. On
        success the person is notified, and the unit's access stays limited until
        the person consents (unless the unit created the account itself).
        """
        unit_doc = await self.verification.require_verified(unit)
        await self.limiter.hit(f"staff_bind|{unit.account_id}", limit=BIND_LIMIT_PER_HOUR, window_seconds=3600,
                               message="绑定查询过于频繁，请稍后再试")
        key = self.accounts.trainee_key(login_forms(body.id_number)[1])
        account = await self.collection.find_one({"login_key": key, "role": "trainee"})
        if account is None or not same_name(account["name"], body.name) or account["status"] == "disabled":
            raise errors.not_found(BIND_NOT_FOUND, code="trainee_not_found")
        current_unit = account["trainee"].get("unit_id")
        if current_unit == unit.account_id:
            raise errors.conflict("already_bound", "该学员已是本单位人员")
        if current_unit is not None:  # bound elsewhere: the same answer, at the same cost, as a wrong pair
            raise errors.not_found(BIND_NOT_FOUND, code="trainee_not_found")
        updated = await self.collection.find_one_and_update(
            {"_id": account["_id"], "trainee.unit_id": None, "status": {"$ne": "disabled"}},
            {"$set": {"trainee.unit_id": unit.account_id, "trainee.bound_at": self.now(), "updated_at": self.now()},
             "$unset": {"trainee.unit_consent": ""}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            current = await self.collection.find_one({"_id": account["_id"]}, {"trainee.unit_id": 1})
            if current and (current.get("trainee") or {}).get("unit_id") == unit.account_id:
                raise errors.conflict("already_bound", "该学员已是本单位人员")
            raise errors.not_found(BIND_NOT_FOUND, code="trainee_not_found")
        access = unit_access(unit.account_id, updated)
        await self.audit.record("staff.bind", actor_id=unit.account_id, actor_role=unit.role,
                                subject=trainee_subject(account["_id"]), subject_id=account["_id"], ip=ip,
                                details={"access": access})
        text = f"单位「{unit_doc['name']}」已将您绑定为本单位人员。"
        if access == "limited":
            text += ("未经您授权，该单位只能看到您的姓名和脱敏证件号。"
                     "您可在“我的单位”中授权该单位查看和维护您的资料，或退出该单位。")
        await self.notifier.notify(account["_id"], "unit_bound", text,
                                   {"unit_id": str(unit.account_id), "unit_name": unit_doc["name"]})
        return self.item(updated, unit.account_id)

    async def _unit_name(self, unit_id: ObjectId) -> str:
        found = await self.collection.find_one({"_id": unit_id}, {"name": 1})
        return str(found["name"]) if found else ""

    # ---- export ----------------------------------------------------------------------------

    async def export(self, unit: Principal, *, ip: str) -> tuple[str, str, bytes]:
        """The unit's staff in full (it manages them); the access is audited."""
        docs = await self.collection.find(staff_filter(unit.account_id)).sort([("name", 1), ("_id", 1)]).to_list()
        people = [self._export_row(d) if unit_access(unit.account_id, d) == "full" else self._limited_row(d)
                  for d in docs]
        await self.audit.record("staff.export", actor_id=unit.account_id, actor_role=unit.role, ip=ip,
                                details={"count": len(people)})
        return await self.run_cpu(render_staff_export, people)  # type: ignore[no-any-return]

    def _limited_row(self, account: dict[str, Any]) -> dict[str, Any]:
        """A person the unit sees limited: the name and masked ID number, nothing else."""
        return {"name": account["name"], "id_number": id_masked_of(self.cipher, account["trainee"]),
                "remarks": "未经本人授权，仅显示姓名和脱敏证件号"}

    def _export_row(self, account: dict[str, Any]) -> dict[str, Any]:
        t = open_trainee(self.cipher, account["trainee"])  # the unit's export shows its staff in full
        row = {k: t.get(k) for k in t if not isinstance(t.get(k), (dict, ObjectId, datetime))}
        row.update(
            name=account["name"], sex=SEX_LABELS.get(t.get("sex") or ""),
            id_type=ID_TYPE_LABELS.get(t.get("id_type")),  # type: ignore[call-overload]
            id_number=id_number_of(self.cipher, t),
            phone=self.accounts.phone_of(account),
            status={"active": "已激活", "pending": "待激活", "disabled": "已停用"}.get(account["status"]),
            has_photo="有" if (t.get("photo") or {}).get("file_id") else "无",
        )
        return row
