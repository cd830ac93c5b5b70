"""A unit downloads all its staff's certificates of a session at once: one ZIP (a PDF each) or one
PDF, built by the job runner with progress, kept a day. Association staff (reviewer, admin) download
every valid certificate of the session the same way (the back office's 合格证 page).

The bundle document (``certificate_bundles``) holds the status and the progress (``done`` of
``total``); the job renders each certificate in the CPU executor and appends it to a ZIP in a
temporary file (memory stays at one certificate plus the photo in flight), then streams the file into
the GridFS bucket ``certificate_bundles``. A run again after a crash starts over and the bundle is
marked done once (guarded by its status). Only the unit (or the staff member) that asked sees the
bundle (404 otherwise): a unit's bundle has its ``unit_id``, a staff member's ``unit_id`` None and
``requested_by``.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.documents.certificate_pdf import render_certificate, render_certificates
from server.models.certificates import BundleIn
from server.services import Principal
from server.services.audit import AuditLog
from server.services.certificates.certificates import CertificateService
from server.services.ids import parse_object_id
from server.services.jobs.queue import Job, JobQueue

COLLECTION = "certificate_bundles"
BUCKET = "certificate_bundles"
JOB_KIND = "certificate_bundle"
KEEP = timedelta(days=1)
PROGRESS_EVERY = 10  # certificates between two progress writes


class CertificateBundles:
    """Ask for a bundle, follow it, download it; the job that builds it."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, certificates: CertificateService, jobs: JobQueue, audit: AuditLog,
        run_cpu: Callable[..., Awaitable[Any]], now: Callable[[], datetime] | None = None,
    ) -> None:
        self.bundles = db[COLLECTION]
        self.bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)
        self.certificates = certificates
        self.jobs = jobs
        self.audit = audit
        self.run_cpu = run_cpu
        self.now = now or (lambda: datetime.now(UTC))

    async def request(self, caller: Principal, body: BundleIn, *, ip: str | None) -> dict[str, Any]:
        """Queue the bundle of the valid certificates in the session (a unit's: its staff's only); 404 when
        there are none."""
        session_id = ObjectId(body.session_id)
        unit_id = caller.account_id if caller.role == "unit" else None
        total = await self.certificates.certificates.count_documents(_of(unit_id, session_id))
        if not total:
            raise errors.not_found("该班次没有本单位人员的有效合格证" if unit_id else "该班次没有有效的合格证",
                                   "no_certificates")
        now = self.now()
        doc = {"_id": ObjectId(), "unit_id": unit_id, "requested_by": caller.account_id, "session_id": session_id,
               "format": body.format, "status": "queued", "total": total, "done": 0, "file_id": None,
               "created_at": now, "expires_at": now + KEEP}
        await self.bundles.insert_one(doc)
        await self.jobs.enqueue(JOB_KIND, {"bundle_id": str(doc["_id"])}, dedupe_key=f"{JOB_KIND}:{doc['_id']}")
        await self.audit.record("certificates.bundle", actor_id=caller.account_id, actor_role=caller.role,
                                subject_id=doc["_id"], ip=ip, details={"session_id": body.session_id, "total": total})
        return doc

    async def get(self, caller: Principal, bundle_id: str) -> dict[str, Any]:
        """The caller's own bundle (another's: 404)."""
        owner = {"unit_id": caller.account_id} if caller.role == "unit" else {"unit_id": None, "requested_by": caller.account_id}
        doc = await self.bundles.find_one({"_id": parse_object_id(bundle_id, "下载任务不存在"), **owner})
        if doc is None:
            raise errors.not_found("下载任务不存在")
        return doc

    async def file(self, caller: Principal, bundle_id: str) -> tuple[str, str, bytes]:
        """(file name, content type, bytes) of a finished bundle; 409 while it is being built."""
        doc = await self.get(caller, bundle_id)
        if doc["status"] != "done" or doc.get("file_id") is None:
            raise errors.conflict("bundle_not_ready", "合格证正在生成，请稍后再下载")
        try:
            stream = await self.bucket.open_download_stream(doc["file_id"])
            data = await stream.read()
        except NoFile:
            raise errors.not_found("文件已过期，请重新生成") from None
        ext, ctype = ("zip", "application/zip") if doc["format"] == "zip" else ("pdf", "application/pdf")
        return f"合格证-{doc['_id']}.{ext}", ctype, data

    # ---- the job ------------------------------------------------------------------------------

    async def run_job(self, job: Job) -> dict[str, Any]:
        """Build the bundle: each certificate rendered in the executor, the file into GridFS."""
        bundle = await self.bundles.find_one({"_id": ObjectId(job.payload["bundle_id"])})
        if bundle is None or bundle["status"] == "done":
            return {"skipped": True}
        await self.bundles.update_one({"_id": bundle["_id"]}, {"$set": {"status": "running", "done": 0}})
        docs = await self.certificates.certificates.find(
            _of(bundle["unit_id"], bundle["session_id"])).sort("seq", 1).to_list()
        seal = await self.certificates.seal_png()
        with tempfile.TemporaryDirectory(prefix="certificates-") as scratch:
            path = os.path.join(scratch, "bundle")
            if bundle["format"] == "zip":
                with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
                    for index, doc in enumerate(docs, start=1):
                        sheet = await self.certificates.sheet(doc, seal)
                        pdf = await self.run_cpu(render_certificate, sheet)
                        name = "".join(ch for ch in doc["printed"]["name"] if ch not in '/\\:*?"<>|')
                        archive.writestr(f"{doc['number']}-{name}.pdf", pdf)
                        await self._progress(bundle["_id"], index, len(docs))
            else:
                sheets = [await self.certificates.sheet(doc, seal) for doc in docs]
                with open(path, "wb") as out:
                    out.write(await self.run_cpu(render_certificates, sheets))
            with open(path, "rb") as source:
                file_id = await self.bucket.upload_from_stream(f"{bundle['_id']}.{bundle['format']}", source)
        finished = await self.bundles.find_one_and_update(
            {"_id": bundle["_id"], "status": "running"},
            {"$set": {"status": "done", "done": len(docs), "total": len(docs), "file_id": file_id,
                      "finished_at": self.now()}}, return_document=ReturnDocument.AFTER)
        if finished is None:  # another run finished it first
            await self.bucket.delete(file_id)
        return {"certificates": len(docs)}

    async def _progress(self, bundle_id: ObjectId, done: int, total: int) -> None:
        if done % PROGRESS_EVERY == 0 or done == total:
            await self.bundles.update_one({"_id": bundle_id}, {"$set": {"done": done}})

    async def purge(self) -> int:
        """Delete bundles (and their files) past ``expires_at`` (a periodic task)."""
        count = 0
        for doc in await self.bundles.find({"expires_at": {"$lte": self.now()}}).to_list():
            if doc.get("file_id") is not None:
                try:
                    await self.bucket.delete(doc["file_id"])
                except NoFile:
                    pass
            await self.bundles.delete_one({"_id": doc["_id"]})
            count += 1
        return count


def _of(unit_id: ObjectId | None, session_id: ObjectId) -> dict[str, Any]:
    """The valid certificates of the session a bundle holds: the unit's staff's, or all (staff's bundle)."""
    query: dict[str, Any] = {"session_id": session_id, "status": "valid"}
    if unit_id is not None:
        query["unit_id"] = unit_id
    return query
