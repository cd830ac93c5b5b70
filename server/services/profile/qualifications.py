"""A trainee's professional licences (执业资格证书): type, number and an optional image.

One document per licence in ``qualifications`` {account_id, type, number,
image_file_id, created_at}; images are re-encoded without metadata and kept in
the GridFS bucket ``qualification_images``. At most ``QUALIFICATION_LIMIT`` per
trainee, guarded by a counter on the account (``trainee.qualification_count``)
that is raised atomically before the insert, so concurrent additions cannot
pass the limit. Another trainee's licence is a 404.
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
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.scan import normalize_scan
from server.models.profile import QualificationCreate, QualificationList, QualificationOut
from server.services import Principal
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.cpu import cpu_runner

QUALIFICATION_BUCKET = "qualification_images"
QUALIFICATION_LIMIT = 20
IMAGE_MAX_BYTES = 5 * 1024 * 1024
_COUNT = "trainee.qualification_count"


class QualificationService:
    """Listing, adding and deleting the caller's licences."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        audit: AuditLog,
        executor: Executor,
        limit: int = QUALIFICATION_LIMIT,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = AccountRepository(db)
        self.collection = db["qualifications"]
        self.bucket = AsyncGridFSBucket(db, bucket_name=QUALIFICATION_BUCKET)
        self.audit = audit
        self.run_cpu = cpu_runner(executor)
        self.limit = limit
        self.now = now or (lambda: datetime.now(UTC))

    async def list(self, principal: Principal) -> QualificationList:
        """The caller's licences, oldest first."""
        docs = await self.collection.find({"account_id": principal.account_id}).sort("created_at", 1).to_list()
        return QualificationList(items=[QualificationOut.from_doc(d) for d in docs], total=len(docs), limit=self.limit)

    async def add(
        self, principal: Principal, body: QualificationCreate, image: bytes | None, *, ip: str | None
    ) -> QualificationOut:
        """Add a licence (the image normalized first); 409 over the limit, nothing stored on refusal."""
        jpeg = None
        if image is not None:
            _, _, jpeg = await self.run_cpu(normalize_scan, image, max_bytes=IMAGE_MAX_BYTES)
        await self._take_slot(principal.account_id)
        doc: dict[str, Any] = {
            "_id": ObjectId(), "account_id": principal.account_id, "type": body.type,
            "number": body.number, "image_file_id": None, "created_at": self.now(),
        }
        try:
            if jpeg is not None:
                doc["image_file_id"] = await self.bucket.upload_from_stream(
                    "qualification.jpg", jpeg, metadata={"account_id": principal.account_id}
                )
            await self.collection.insert_one(doc)
        except BaseException:
            await self._release_slot(principal.account_id)
            if doc["image_file_id"] is not None:
                await self._delete_file(doc["image_file_id"])
            raise
        await self.audit.record(
            "qualification.add", actor_id=principal.account_id, actor_role=principal.role,
            subject=body.type, subject_id=doc["_id"], ip=ip, details={"with_image": jpeg is not None},
        )
        return QualificationOut.from_doc(doc)

    async def _take_slot(self, account_id: ObjectId) -> None:
        # Raising the counter only while it is under the limit is the guard: no count-then-insert.
        result = await self.accounts.update_one(
            {"_id": account_id, "role": "trainee",
             "$or": [{_COUNT: {"$lt": self.limit}}, {_COUNT: {"$exists": False}}]},
            {"$inc": {_COUNT: 1}},
        )
        if result.matched_count != 1:
            raise errors.conflict(
                "qualification_limit", f"最多可添加 {self.limit} 个执业资格证书", {"limit": self.limit}
            )

    async def _release_slot(self, account_id: ObjectId) -> None:
        await self.accounts.update_one({"_id": account_id, _COUNT: {"$gt": 0}}, {"$inc": {_COUNT: -1}})

    async def delete(self, principal: Principal, qualification_id: str, *, ip: str | None) -> None:
        """Delete one of the caller's licences and its image; 404 for anyone else's."""
        doc = await self.collection.find_one_and_delete(
            {"_id": _object_id(qualification_id), "account_id": principal.account_id}
        )
        if doc is None:
            raise errors.not_found("执业资格证书不存在")
        await self._release_slot(principal.account_id)
        if doc.get("image_file_id") is not None:
            await self._delete_file(doc["image_file_id"])
        await self.audit.record(
            "qualification.delete", actor_id=principal.account_id, actor_role=principal.role,
            subject=doc["type"], subject_id=doc["_id"], ip=ip,
        )

    async def image(self, principal: Principal, qualification_id: str) -> bytes:
        """The JPEG of one of the caller's licences; 404 when none or not theirs."""
        doc = await self.collection.find_one(
            {"_id": _object_id(qualification_id), "account_id": principal.account_id}
        )
        if doc is None or doc.get("image_file_id") is None:
            raise errors.not_found("证书图片不存在")
        try:
            stream = await self.bucket.open_download_stream(doc["image_file_id"])
            return await stream.read()
        except NoFile:
            raise errors.not_found("证书图片不存在") from None

    async def _delete_file(self, file_id: ObjectId) -> None:
        try:
            await self.bucket.delete(file_id)
        except NoFile:
            pass

    # ---- for the rights of the person (services/privacy) ----------------------------------

    async def of_person(self, account_id: ObjectId) -> list[dict[str, Any]]:
        """The stored licences of one person, oldest first (for the data export)."""
        return await self.collection.find({"account_id": account_id}).sort("created_at", 1).to_list()

    async def read_image(self, file_id: ObjectId) -> bytes | None:
        """One licence image by file id, or None when it is gone."""
        try:
            return await (await self.bucket.open_download_stream(file_id)).read()
        except NoFile:
            return None

    async def forget_person(self, account_id: ObjectId, *, session: AsyncClientSession | None) -> None:
        """Delete the person's licences, inside the caller's transaction (the images go after it)."""
        await self.collection.delete_many({"account_id": account_id}, session=session)

    async def delete_images_of(self, account_ids: list[ObjectId]) -> None:
        """Delete every licence image of these people (found by metadata, so earlier orphans go too)."""
        files = self.bucket.find({"metadata.account_id": {"$in": account_ids}})
        for file_id in [f._id async for f in files]:
            await self._delete_file(file_id)


def _object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise errors.not_found("执业资格证书不存在") from None
