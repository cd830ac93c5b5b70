"""ID photos: consent, the normalization pipeline, GridFS storage, and who may see one.

The picture is normalized off the event loop (``normalize_id_photo``: 295x413
metadata-free JPEG) and stored in the GridFS bucket ``photos``. The account
points at it with ``trainee.photo = {file_id, updated_at, width, height}``.
Replacing a photo uploads the new file first, then moves the pointer with an
update guarded by the old file id, and only then deletes the old file: there is
never an account without a photo it had, and no orphan file after a success
(a refused or lost race deletes the new file again).

The first upload needs the trainee's consent to the photo notice
(``PHOTO_NOTICE_VERSION``), recorded as ``trainee.consents.photo = {version, at,
by, by_role}`` (``by``: the account that confirmed it — the trainee, or the unit
uploading for its staff); a new notice version asks again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.photo import PHOTO_HEIGHT, PHOTO_WIDTH, normalize_id_photo
from server.models.profile import PhotoOut
from server.services import Principal
from server.services.accounts.personal import trainee_subject
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.cpu import cpu_runner
from server.services.profile.profile import ProfileService
from server.services.unit_access import STAFF_CONSENT_MESSAGE, unit_access

PHOTO_BUCKET = "photos"
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_NOTICE_VERSION = "2025-01"
PHOTO_NOTICE = (
    "上传证件照前，请阅读并同意《证件照采集告知》：照片仅用于协会培训考试的报名审核、"
    "听课证和合格证制作以及考场身份核验；服务器会自动裁剪为 295×413 的 1 寸照片，"
    "并删除照片中的拍摄地点等附加信息；照片仅协会工作人员和您所属的单位可以查看，"
    "您可以随时更换。同意后请在上传时一并提交 consent=true。"
)
# Association staff see every trainee's photo (review, venue check-in).
PHOTO_STAFF_ROLES = frozenset({"admin", "reviewer", "scanner"})
_POINTER_TRIES = 5  # concurrent uploads of one trainee (a double tap) settle in a few tries


def can_view_photo(principal: Principal, trainee_account: dict[str, Any]) -> bool:
    """Whether ``principal`` may see the ID photo of ``trainee_account``.

    The trainee themself and association staff always; a unit only for its own
    staff, i.e. when ``trainee.unit_id`` (set by the unit's staff binding) is
    the unit's account id, and only with full access (it created the account, or
    the person consented: :mod:`server.services.unit_access`); nobody else.
    """
    if principal.role in PHOTO_STAFF_ROLES:
        return True
    if principal.role == "trainee":
        return bool(principal.account_id == trainee_account["_id"])
    if principal.role == "unit":
        return unit_access(principal.account_id, trainee_account) == "full"
    return False


class PhotoService:
    """Upload, replace and read trainees' ID photos."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        profiles: ProfileService,
        audit: AuditLog,
        executor: Executor,
        max_bytes: int = PHOTO_MAX_BYTES,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = AccountRepository(db)
        self.bucket = AsyncGridFSBucket(db, bucket_name=PHOTO_BUCKET)
        self.profiles = profiles
        self.audit = audit
        self.run_cpu = cpu_runner(executor)
        self.max_bytes = max_bytes
        self.now = now or (lambda: datetime.now(UTC))

    async def upload(self, principal: Principal, data: bytes, *, consent: bool, ip: str | None) -> PhotoOut:
        """Normalize ``data`` into the caller's ID photo, replacing the previous one."""
        account = await self.profiles.trainee(principal.account_id)
        return await self.store(account, data, consent=consent, actor=principal, ip=ip)

    async def store(
        self, account: dict[str, Any], data: bytes, *, consent: bool, actor: Principal, ip: str | None
    ) -> PhotoOut:
        """Normalize and store ``data`` as the photo of the trainee ``account``."""
        t = account["trainee"]
        if actor.role == "unit" and unit_access(actor.account_id, account) != "full":
            # A unit that bound a self-registered person has no say over their photo without consent.
            raise errors.forbidden(STAFF_CONSENT_MESSAGE, code="staff_consent_required")
        recorded = (t.get("consents") or {}).get("photo") or {}
        needs_consent = recorded.get("version") != PHOTO_NOTICE_VERSION
        if needs_consent and not consent:
            raise errors.AppError(422, "consent_required", PHOTO_NOTICE,
                                  {"notice_version": PHOTO_NOTICE_VERSION, "fields": {"consent": "请先同意证件照采集告知"}})
        _, _, jpeg = await self.run_cpu(normalize_id_photo, data, max_bytes=self.max_bytes)
        now = self.now()
        file_id = await self.bucket.upload_from_stream(
            "photo.jpg", jpeg, metadata={"account_id": account["_id"], "content_type": "image/jpeg"}
        )
        changes: dict[str, Any] = {
            "trainee.photo": {"file_id": file_id, "updated_at": now, "width": PHOTO_WIDTH,
                              "height": PHOTO_HEIGHT, "bytes": len(jpeg)},
            "updated_at": now,
        }
        # ``by``: who confirmed the consent — the trainee, or the unit uploading for its staff.
        consent_record = recorded if not needs_consent else {"version": PHOTO_NOTICE_VERSION, "at": now,
                                                             "by": actor.account_id, "by_role": actor.role}
        if needs_consent:
            changes["trainee.consents.photo"] = consent_record
        old_id = await self._point_at(account["_id"], (t.get("photo") or {}).get("file_id"), file_id, changes)
        if old_id is not None:
            await self._delete_file(old_id)
        await self.audit.record(
            "profile.photo_set", actor_id=actor.account_id, actor_role=actor.role, subject=trainee_subject(account["_id"]),
            subject_id=account["_id"], ip=ip,
            details={"consent_version": PHOTO_NOTICE_VERSION if needs_consent else None, "replaced": old_id is not None},
        )
        return PhotoOut(width=PHOTO_WIDTH, height=PHOTO_HEIGHT, updated_at=now,
                        consent_version=consent_record["version"])

    async def _point_at(self, account_id: ObjectId, old_id: ObjectId | None, new_id: ObjectId,
                        changes: dict[str, Any]) -> ObjectId | None:
        """Move the pointer from the current file to ``new_id``; the file it displaced.

        The filter names the file id last seen, so two concurrent uploads cannot both
        displace the same file: the later one sees the guard miss, re-reads, and
        displaces (and so deletes) the earlier one's file. The last upload wins and
        no file is left without a pointer.
        """
        try:
            for _ in range(_POINTER_TRIES):
                result = await self.accounts.update_one(
                    {"_id": account_id, "trainee.photo.file_id": old_id}, {"$set": changes}
                )
                if result.matched_count == 1:
                    return old_id
                current = await self.accounts.find_one({"_id": account_id}, {"trainee.photo.file_id": 1})
                if current is None:
                    raise errors.not_found("学员不存在")
                old_id = ((current.get("trainee") or {}).get("photo") or {}).get("file_id")
        except BaseException:
            await self._delete_file(new_id)
            raise
        await self._delete_file(new_id)
        raise errors.conflict("photo_changed", "照片刚刚被其他操作更新，请稍后重试")

    async def _delete_file(self, file_id: ObjectId) -> None:
        try:
            await self.bucket.delete(file_id)
        except NoFile:
            pass  # already gone: deleting is idempotent for us

    async def read_own(self, principal: Principal) -> bytes:
        """The caller's ID photo JPEG, or 404."""
        return await self._read(await self.profiles.trainee(principal.account_id))

    async def read_for(self, principal: Principal, trainee_id: str) -> bytes:
        """A trainee's ID photo for someone allowed to see it; 404 for everyone else."""
        try:
            account_id = ObjectId(trainee_id)
        except (InvalidId, TypeError):
            raise errors.not_found("学员不存在") from None
        account = await self.accounts.find_one({"_id": account_id, "role": "trainee"})
        if account is None or not can_view_photo(principal, account):
            raise errors.not_found("学员不存在")
        return await self._read(account)

    async def read_file(self, account: dict[str, Any]) -> bytes | None:
        """The trainee's ID photo JPEG, or None when there is none (for the data export)."""
        try:
            return await self._read(account)
        except errors.AppError:
            return None

    async def delete_files_of(self, account_ids: list[ObjectId]) -> None:
        """Delete every photo file of these people (found by metadata, so earlier orphans go too)."""
        files = self.bucket.find({"metadata.account_id": {"$in": account_ids}})
        for file_id in [f._id async for f in files]:
            await self._delete_file(file_id)

    async def _read(self, account: dict[str, Any]) -> bytes:
        file_id = ((account.get("trainee") or {}).get("photo") or {}).get("file_id")
        if file_id is None:
            raise errors.not_found("尚未上传证件照", code="photo_not_found")
        try:
            stream = await self.bucket.open_download_stream(file_id)
            return await stream.read()
        except NoFile:
            raise errors.not_found("尚未上传证件照", code="photo_not_found") from None
