"""Unit verification: the business licence, the association's decision, and the bind gate.

A self-registered unit only proved a USCC that passes its checksum. Before it may
bind people who registered themselves, it uploads its business licence image
(``PUT /api/v1/unit/licence``: re-encoded without metadata by ``normalize_scan``,
kept in the GridFS bucket ``unit_licences``) and an administrator approves it.

State on the unit's account, ``unit.verification = {status, licence_file_id,
submitted_at, decided_at, decided_by, reason}``; no subdocument means
``unverified``. Moves: ``unverified | rejected | pending → pending`` (upload or
replace), ``pending → verified | rejected`` (the decision, guarded by
``status: pending`` in the update's filter so two administrators cannot both
decide). A verified unit's licence is final (409 ``unit_already_verified``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.scan import normalize_scan
from server.integrations.notifier import Notifier
from server.models.binding import (
    VERIFICATION_LABELS,
    UnitVerificationItem,
    UnitVerificationOut,
    UnitVerificationPage,
    UnitVerificationQuery,
    VerificationDecisionIn,
)
from server.services import Principal
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.cpu import cpu_runner
from server.services.ids import parse_object_id

LICENCE_BUCKET = "unit_licences"
LICENCE_MAX_BYTES = 5 * 1024 * 1024
_STATUS = "unit.verification.status"
NOT_VERIFIED_MESSAGE = (
    "本单位尚未通过协会认证，暂不能绑定已自行注册的学员。请先在“单位信息”中上传营业执照，"
    "协会审核通过后即可绑定；单独添加、批量导入学员和报名不受影响。"
)


def verification_status(unit_account: dict[str, Any]) -> str:
    """The stored status of a unit account, ``unverified`` when it never sent a licence."""
    return str(((unit_account.get("unit") or {}).get("verification") or {}).get("status") or "unverified")


class UnitVerificationService:
    """Licence upload by the unit, review by administrators, and the ``verified`` gate."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        audit: AuditLog,
        notifier: Notifier,
        executor: Executor,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = AccountRepository(db)
        self.bucket = AsyncGridFSBucket(db, bucket_name=LICENCE_BUCKET)
        self.audit = audit
        self.notifier = notifier
        self.run_cpu = cpu_runner(executor)
        self.now = now or (lambda: datetime.now(UTC))

    # ---- the unit -------------------------------------------------------------------

    async def _unit(self, unit_id: ObjectId) -> dict[str, Any]:
        account = await self.accounts.find_one({"_id": unit_id, "role": "unit"})
        if account is None:
            raise errors.not_found("单位不存在")
        return account

    async def status(self, unit: Principal) -> UnitVerificationOut:
        """The calling unit's verification."""
        return self.out(await self._unit(unit.account_id))

    @staticmethod
    def out(account: dict[str, Any]) -> UnitVerificationOut:
        """A unit account's verification as the unit sees it."""
        v = (account.get("unit") or {}).get("verification") or {}
        status = verification_status(account)
        return UnitVerificationOut(
            status=status, status_label=VERIFICATION_LABELS[status],  # type: ignore[arg-type]
            has_licence=v.get("licence_file_id") is not None, submitted_at=v.get("submitted_at"),
            decided_at=v.get("decided_at"), reason=v.get("reason"), can_bind=status == "verified",
        )

    async def upload(self, unit: Principal, data: bytes, *, ip: str | None) -> UnitVerificationOut:
        """Store the licence image (metadata removed) and ask for review; replaces an earlier one."""
        _, _, jpeg = await self.run_cpu(normalize_scan, data, max_bytes=LICENCE_MAX_BYTES)
        file_id = await self.bucket.upload_from_stream(
            "licence.jpg", jpeg, metadata={"account_id": unit.account_id, "content_type": "image/jpeg"})
        now = self.now()
        try:
            before = await self.accounts.find_one_and_update(
                {"_id": unit.account_id, "role": "unit", _STATUS: {"$ne": "verified"}},
                {"$set": {"unit.verification": {"status": "pending", "licence_file_id": file_id, "submitted_at": now,
                                                "decided_at": None, "decided_by": None, "reason": None},
                          "updated_at": now}},
            )
        except BaseException:
            await self._delete_file(file_id)
            raise
        if before is None:
            await self._delete_file(file_id)
            raise errors.conflict("unit_already_verified", "本单位已通过认证，无需重复上传营业执照")
        old = ((before.get("unit") or {}).get("verification") or {}).get("licence_file_id")
        if old is not None:
            await self._delete_file(old)
        await self.audit.record("unit.licence_upload", actor_id=unit.account_id, actor_role=unit.role,
                                subject=(before.get("unit") or {}).get("uscc"), subject_id=unit.account_id, ip=ip,
                                details={"replaced": old is not None})
        return await self.status(unit)

    async def require_verified(self, unit: Principal) -> dict[str, Any]:
        """The unit's account; 403 ``unit_not_verified`` unless an administrator approved its licence."""
        found = await self.accounts.find_one({"_id": unit.account_id, "role": "unit", _STATUS: "verified"},
                                             {"name": 1, "unit.uscc": 1})
        if found is None:
            raise errors.forbidden(NOT_VERIFIED_MESSAGE, code="unit_not_verified")
        return found

    # ---- administrators ---------------------------------------------------------------

    async def list(self, query: UnitVerificationQuery) -> UnitVerificationPage:
        """Units by verification status, oldest submission first (a queue)."""
        where: dict[str, Any] = {"role": "unit"}
        if query.status == "unverified":
            where["unit.verification"] = {"$exists": False}
        else:
            where[_STATUS] = query.status
        total = await self.accounts.count_documents(where)
        cursor = self.accounts.find(where).sort([("unit.verification.submitted_at", 1), ("_id", 1)])
        docs = await cursor.skip(query.skip).limit(query.page_size).to_list()
        return UnitVerificationPage(items=[self.item(d) for d in docs], total=total)

    @staticmethod
    def item(account: dict[str, Any]) -> UnitVerificationItem:
        """A unit account as a queue item."""
        v = (account.get("unit") or {}).get("verification") or {}
        status = verification_status(account)
        unit = account.get("unit") or {}
        return UnitVerificationItem(
            id=str(account["_id"]), name=account["name"], uscc=unit.get("uscc", ""),
            contact_name=unit.get("contact_name"), status=status,  # type: ignore[arg-type]
            status_label=VERIFICATION_LABELS[status], submitted_at=v.get("submitted_at"),
            decided_at=v.get("decided_at"), reason=v.get("reason"),
        )

    async def licence(self, admin: Principal, unit_id: str, *, ip: str | None) -> bytes:
        """The licence JPEG of a unit, for the reviewing administrator (audited)."""
        account = await self._unit(parse_object_id(unit_id, "单位不存在"))
        file_id = ((account.get("unit") or {}).get("verification") or {}).get("licence_file_id")
        if file_id is None:
            raise errors.not_found("该单位尚未上传营业执照", code="licence_not_found")
        try:
            data = await (await self.bucket.open_download_stream(file_id)).read()
        except NoFile:
            raise errors.not_found("该单位尚未上传营业执照", code="licence_not_found") from None
        await self.audit.record("unit.licence_view", actor_id=admin.account_id, actor_role=admin.role,
                                subject=(account.get("unit") or {}).get("uscc"), subject_id=account["_id"], ip=ip)
        return data

    async def decide(self, admin: Principal | None, unit_id: str, body: VerificationDecisionIn,
                     *, ip: str | None) -> UnitVerificationItem:
        """Approve or reject a pending unit; the unit is notified. 409 unless it is pending.

        ``admin`` None is the command line or the demo data (audited as an admin without an actor id).
        """
        account_id = parse_object_id(unit_id, "单位不存在")
        status = "verified" if body.decision == "approve" else "rejected"
        reason = body.reason if status == "rejected" else None
        updated = await self.accounts.find_one_and_update(
            {"_id": account_id, "role": "unit", _STATUS: "pending"},
            {"$set": {_STATUS: status, "unit.verification.decided_at": self.now(),
                      "unit.verification.decided_by": admin.account_id if admin else None,
                      "unit.verification.reason": reason}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            current = await self._unit(account_id)  # 404 when there is no such unit
            raise errors.conflict("verification_not_pending",
                                  f"该单位当前状态为“{VERIFICATION_LABELS[verification_status(current)]}”，不在待审核状态")
        await self.audit.record(f"unit.verification_{status}", actor_id=admin.account_id if admin else None,
                                actor_role=admin.role if admin else "admin",
                                subject=updated["unit"].get("uscc"), subject_id=account_id, ip=ip,
                                details={"reason": reason} if reason else None)
        text = ("贵单位的营业执照已通过协会审核，现在可以绑定已注册的学员。" if status == "verified"
                else f"贵单位的营业执照未通过协会审核，原因：{reason}。请重新上传。")
        await self.notifier.notify(account_id, f"unit_{status}", text, {"reason": reason} if reason else None)
        return self.item(updated)

    async def _delete_file(self, file_id: ObjectId) -> None:
        try:
            await self.bucket.delete(file_id)
        except NoFile:
            pass
