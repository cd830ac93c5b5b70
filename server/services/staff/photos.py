"""Bulk ID photos of a unit's staff: many JPGs or one ZIP, named ``姓名-身份证号.jpg`` (manual §3.3).

Each file is matched to the unit's *own* staff by ID number (blind index), the
name is checked, and the picture goes through the trainee photo pipeline
(``PhotoService.store``: normalized off the event loop, GridFS). Every file
gets a verdict. A ZIP is checked as a whole before any entry is read: entry
count, declared sizes and ratios (zip bomb), and paths (``../``, absolute) —
an unsafe archive is refused with nothing stored. System files (``__MACOSX/``,
``._*``, ``.DS_Store``, ``Thumbs.db``, directories) are skipped before the photos
are counted against ``MAX_FILES`` (the size and bomb checks still cover every
entry). Names without the UTF-8 flag, which ``zipfile`` decodes as cp437, are
re-decoded: strict UTF-8 first (macOS and Info-ZIP write UTF-8 without the flag),
then GBK (Windows' Chinese zips), else left as they are. File names are read
after NFKC folding, with any common dash (``-－—–‐﹣``) or ``_`` between name and
number. An ID number that is not among the unit's staff answers ``unknown_id``
whether or not it is registered elsewhere (no probing). The file names in the
verdicts have the ID number masked, as in lists; a job keeps them for days with
the file name sealed (it holds the ID number in full), masked when shown.

More than ``INLINE_LIMIT`` files run as a ``staff_photos`` job of the durable job runner
(services/jobs): the ZIP (or each file) goes to GridFS, the job survives restarts and runs in
any process; its progress and verdicts live in a ``photo_jobs`` document (same id as the job)
any process can read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import re
import tempfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from server import errors
from server.documents.xlsx_common import check_zip_members, refused
from server.models.staff import PhotoBatchOut, PhotoFileResult
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.identity import mask_id_number
from server.services.audit import AuditLog
from server.services.cpu import patient
from server.services.ids import parse_object_id
from server.services.jobs.queue import Job, JobQueue
from server.services.pii import unseal
from server.services.profile.photos import PHOTO_MAX_BYTES, PhotoService
from server.services.staff.staff import same_name, staff_filter

log = logging.getLogger(__name__)

INLINE_LIMIT = 20
MAX_FILES = 2000  # photos of one upload
MAX_ENTRIES = 3 * MAX_FILES + 1000  # every entry of a ZIP, system files and folders included
FILE_NAME_MAX = 100  # characters of a file name shown in a verdict
MAX_UNCOMPRESSED = 4 * 1024 * 1024 * 1024  # declared total of a ZIP (2,000 photos of ~2 MB)
MAX_RATIO = 50  # JPEGs barely compress: a high ratio is a bomb
JOB_LIFETIME = timedelta(days=7)
PHOTO_JOB_KIND = "staff_photos"
_DASHES = "-－—–‐‑‒―﹣﹘_"
_NAME = re.compile(rf"^(?P<name>.+?)\s*[{_DASHES}]\s*(?P<id>[0-9A-Za-z]{{5,20}})$")
_ID_RUN = re.compile(r"[0-9A-Za-z]{6,}")
_SKIP = re.compile(r"(^|/)(__MACOSX/|\.)|(^|/)(Thumbs\.db|desktop\.ini)$", re.I)

_PHOTO_VERDICTS = {
    "payload_too_large": "too_large", "photo_bad_format": "bad_format", "photo_no_face": "no_face",
    "consent_required": "consent_required",
}
_NOT_MATCHED = {"bad_format", "bad_name", "unknown_id", "name_mismatch"}  # verdicts given before the ID is "seen"
_MESSAGES = {
    "saved": "已保存", "name_mismatch": "姓名与该身份证号的人员不一致", "unknown_id": "本单位人员中没有该身份证号",
    "bad_name": "文件名应为“姓名-身份证号.jpg”", "bad_format": "仅支持 JPG 格式的照片",
    "too_large": f"照片超过 {PHOTO_MAX_BYTES // (1024 * 1024)} MB", "duplicate": "同一人员的照片重复，已忽略",
    "failed": "保存失败，请重试",
}


@dataclass
class PhotoEntry:
    """One file of the upload: its name, declared size and how to read it (``aread``: from GridFS)."""

    name: str
    size: int
    read: Callable[[], bytes]
    aread: Callable[[], Awaitable[bytes]] | None = None


def zip_entry_name(info: zipfile.ZipInfo) -> str:
    """The real name of an entry: without the UTF-8 flag zipfile decoded the bytes as cp437.

    Those bytes are UTF-8 from macOS and Info-ZIP (strict UTF-8 is tried first: GBK
    text is almost never valid UTF-8), GBK from Windows' Chinese zips, else cp437.
    """
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def is_system_file(name: str) -> bool:
    """Files an archiver or a desktop adds next to the photos (skipped, not counted)."""
    return bool(_SKIP.search(name))


def open_zip_entries(path: str) -> tuple[zipfile.ZipFile, list[PhotoEntry]]:
    """Check a ZIP as a whole (count, sizes, ratios, paths) and list its photo entries."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise errors.unsupported_media("请上传 ZIP 压缩包或 JPG 照片", "archive_bad_format") from None
    try:
        members = archive.infolist()
        # Sizes and ratios of every entry (system files too); the count of all entries is only a sanity cap.
        check_zip_members(members, max_members=MAX_ENTRIES, max_uncompressed=MAX_UNCOMPRESSED,
                          max_ratio=MAX_RATIO, ratio_floor=64 * 1024)
        entries = []
        for member in members:
            name = zip_entry_name(member).replace("\\", "/")
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
                raise refused("archive_unsafe_path", "压缩包含有不安全的路径，已拒绝", member=name[:200])
            if member.is_dir() or name.endswith("/") or is_system_file(name):
                continue
            entries.append(PhotoEntry(posixpath.basename(name), member.file_size,
                                      lambda m=member: _read_capped(archive, m)))
            if len(entries) > MAX_FILES:
                raise too_many_photos()
        return archive, entries
    except BaseException:
        archive.close()
        raise


def _read_capped(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    # zipfile stops at the declared size and checks the CRC: a lying header cannot inflate more.
    with archive.open(member) as f:
        return f.read(PHOTO_MAX_BYTES + 1)


def too_many_photos() -> errors.AppError:
    """More photos than one upload may hold."""
    return refused("archive_too_many_files", f"照片过多（上限 {MAX_FILES} 个）", limit=MAX_FILES)


def parse_photo_name(filename: str) -> tuple[str, str] | None:
    """``张三-11010519491231002X.jpg`` → (name, ID number); None when the name does not fit.

    The name is NFKC-folded first (全角 digits, ｘ, the full-width and small dashes),
    and any common dash or ``_`` may separate name and number.
    """
    stem, ext = os.path.splitext(unicodedata.normalize("NFKC", filename).strip())
    if ext.lower() not in (".jpg", ".jpeg"):
        return None
    match = _NAME.match(stem.strip())
    if not match:
        return None
    return match["name"].strip(), match["id"].upper()


def masked_file_name(filename: str) -> str:
    """A file name as shown in a verdict: any run that may be an ID number masked, at most 100 characters."""
    folded = unicodedata.normalize("NFKC", filename)
    masked = _ID_RUN.sub(lambda m: mask_id_number(m[0]) if sum(c.isdigit() for c in m[0]) >= 6 else m[0], folded)
    return masked if len(masked) <= FILE_NAME_MAX else masked[:FILE_NAME_MAX - 1] + "…"


class StaffPhotoService:
    """Bulk photo uploads and their jobs."""

    def __init__(
        self,
        db: Any,
        *,
        accounts: AccountService,
        photos: PhotoService,
        audit: AuditLog,
        jobs: JobQueue,
        concurrency: int = 2,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = db.client
        self.progress = db["photo_jobs"]
        self.accounts = accounts
        self.photos = photos
        self.audit = audit
        self.queue = jobs
        self.concurrency = concurrency
        self.now = now or (lambda: datetime.now(UTC))

    async def upload(self, unit: Principal, entries: list[PhotoEntry], *, consent: bool, ip: str,
                     archive: str | None = None, cleanup: Callable[[], None] = lambda: None) -> PhotoBatchOut:
        """Store every photo (inline for a few files, else a ``staff_photos`` job); a verdict per file.

        ``archive``: the path of the uploaded ZIP the entries come from (a job takes the ZIP itself
        to GridFS); without it the entries' bytes are taken one file each. ``cleanup`` removes the
        local upload and is always called before this returns.
        """
        try:
            if not entries:
                raise errors.bad_request("file_missing", "没有可处理的照片文件")
            if len(entries) > MAX_FILES:
                raise too_many_photos()
            now = self.now()
            if len(entries) <= INLINE_LIMIT:
                results = await self._process(unit, entries, consent=consent, ip=ip, job_id=None)
                await self._audit(unit, ip, None, results)
                return PhotoBatchOut(status="done", total=len(entries), processed=len(results),
                                     counts=dict(Counter(r.verdict for r in results)), files=results,
                                     started_at=now, finished_at=self.now())
            return await self._enqueue(unit, entries, consent=consent, ip=ip, archive=archive)
        finally:
            cleanup()

    async def _enqueue(self, unit: Principal, entries: list[PhotoEntry], *, consent: bool, ip: str,
                       archive: str | None) -> PhotoBatchOut:
        """Files to GridFS first (no transaction there), then the progress document and the job together."""
        payload: dict[str, Any] = {"unit_id": str(unit.account_id), "consent": consent, "ip": ip}
        if archive is not None:
            with open(archive, "rb") as f:
                files = [await self.queue.put_file("photos.zip", f)]
            payload["source"] = "zip"
        else:
            # Parts are held in memory. Their names (with ID numbers) stay with the files, which go when
            # the job is done, not in the payload that is kept for days.
            files = [await self.queue.put_file(e.name, e.read()) for e in entries]
            payload["source"] = "files"
        now = self.now()
        job = {"_id": ObjectId(), "unit_id": unit.account_id, "status": "running", "total": len(entries),
               "processed": 0, "counts": {}, "files": [], "done_idx": [], "started_at": now,
               "expires_at": now + JOB_LIFETIME}

        async def both(s: Any) -> None:
            await self.progress.insert_one(job, session=s)
            await self.queue.enqueue(PHOTO_JOB_KIND, payload, files=files, job_id=job["_id"], session=s)

        # If this fails the uploaded files are orphans: JobQueue.purge drops them later.
        async with self.client.start_session() as s:
            await s.with_transaction(both)
        return self._job_out(job, {"status": "queued"})

    async def run_job(self, job: Job) -> dict[str, Any]:
        """The ``staff_photos`` job: the files not yet judged get their verdict (idempotent by job id).

        Each verdict is pushed with its entry's index under a guard (``done_idx`` must not hold it
        yet), so a job run again after a crash skips the files already done and counts none twice.
        """
        state = await self.progress.find_one({"_id": job.id})
        if state is None or state["status"] == "done":
            return {"skipped": True}  # expired, or finished by a run whose ``done`` was not recorded
        p = job.payload
        unit = Principal(ObjectId(p["unit_id"]), "unit")
        with tempfile.TemporaryDirectory(prefix="photo-job-") as scratch:
            entries, close = await self._job_entries(job, scratch)
            try:
                seen = self._seen_before(entries, state)
                results = await self._process(unit, entries, consent=p["consent"], ip=p["ip"], job_id=job.id,
                                              seen=seen, skip=set(state.get("done_idx") or []))
            finally:
                close()
        finished = await self.progress.find_one_and_update(
            {"_id": job.id, "status": "running"}, {"$set": {"status": "done", "finished_at": self.now()}},
            return_document=ReturnDocument.AFTER)
        if finished is not None:  # once per job, whichever run got here
            await self._audit(unit, p["ip"], job.id, [PhotoFileResult(**f) for f in finished["files"]])
        return {"processed": len(results)}

    async def _job_entries(self, job: Job, scratch: str) -> tuple[list[PhotoEntry], Callable[[], None]]:
        """The job's files as entries: the ZIP copied to scratch space (zipfile needs to seek), or GridFS files."""
        p = job.payload
        if p["source"] == "zip":
            path = os.path.join(scratch, "photos.zip")
            with open(path, "wb") as f:
                await self.queue.download(job.files[0], f)
            archive, entries = await self.photos.run_cpu(open_zip_entries, path)
            return entries, archive.close
        info = await self.queue.file_info(job.files)
        entries = [PhotoEntry(*info[file_id], read=lambda: b"", aread=lambda fid=file_id: self.queue.read_file(fid))
                   for file_id in job.files]
        return entries, lambda: None

    @staticmethod
    def _seen_before(entries: list[PhotoEntry], state: dict[str, Any]) -> set[str]:
        """ID numbers already matched by files judged in an earlier run (for the ``duplicate`` verdict)."""
        seen = set()
        for idx, result in zip(state.get("done_idx") or [], state.get("files") or [], strict=False):
            parsed = parse_photo_name(entries[idx].name) if idx < len(entries) else None
            if parsed and result["verdict"] not in _NOT_MATCHED:
                seen.add(parsed[1])
        return seen

    async def _audit(self, unit: Principal, ip: str, job_id: ObjectId | None, results: list[PhotoFileResult]) -> None:
        await self.audit.record("staff.photos_bulk", actor_id=unit.account_id, actor_role=unit.role, ip=ip,
                                subject_id=job_id, details={"counts": dict(Counter(r.verdict for r in results))})

    async def _process(self, unit: Principal, entries: list[PhotoEntry], *, consent: bool, ip: str,
                       job_id: ObjectId | None, seen: set[str] | None = None,
                       skip: set[int] | None = None) -> list[PhotoFileResult]:
        seen = seen if seen is not None else set()
        gate = asyncio.Semaphore(self.concurrency)
        results: list[PhotoFileResult] = []

        async def one(idx: int, entry: PhotoEntry) -> None:
            async with gate:
                result = await self._one(unit, entry, seen, consent=consent, ip=ip)
            results.append(result)
            if job_id is not None:
                await self._record(job_id, idx, result, entry.name)

        # A failure (the database away) stops the siblings too: the job is retried as a whole. The batch
        # waits for room in the documents pool rather than failing its files with 503.
        try:
            with patient():
                async with asyncio.TaskGroup() as group:
                    for i, entry in enumerate(entries):
                        if i not in (skip or set()):
                            group.create_task(one(i, entry))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return results

    async def _record(self, job_id: ObjectId, idx: int, result: PhotoFileResult, name: str) -> None:
        """Add a file's verdict to the job's progress, once: a rerun of the job cannot count it again.

        The file name is stored sealed (it holds an ID number) and masked when the job is shown.
        """
        file = self.accounts.cipher.encrypt(name, context="photo_file_name")
        await self.progress.update_one({"_id": job_id, "done_idx": {"$ne": idx}}, {
            "$push": {"files": result.model_dump() | {"file": file}, "done_idx": idx},
            "$inc": {"processed": 1, f"counts.{result.verdict}": 1}})

    async def _one(self, unit: Principal, entry: PhotoEntry, seen: set[str], *, consent: bool,
                   ip: str) -> PhotoFileResult:
        def verdict(kind: str, message: str | None = None, account: Any = None) -> PhotoFileResult:
            return PhotoFileResult(file=masked_file_name(entry.name), verdict=kind, message=message or _MESSAGES[kind],  # type: ignore[arg-type]
                                   trainee_id=str(account["_id"]) if account else None)

        parsed = parse_photo_name(entry.name)
        if parsed is None:
            return verdict("bad_format" if not entry.name.lower().endswith((".jpg", ".jpeg")) else "bad_name")
        name, id_number = parsed
        account = await self.accounts.accounts.find_one(
            {"login_key": self.accounts.trainee_key(id_number), **staff_filter(unit.account_id)})
        if account is None:
            return verdict("unknown_id")
        if not same_name(account["name"], name):
            return verdict("name_mismatch")
        if id_number in seen:
            return verdict("duplicate", account=account)
        seen.add(id_number)
        if entry.size > PHOTO_MAX_BYTES:
            return verdict("too_large", account=account)
        try:
            # inflating a ZIP entry is CPU work; a file of a job comes from GridFS
            data = await entry.aread() if entry.aread is not None else await self.photos.run_cpu(entry.read)
            await self.photos.store(account, data, consent=consent, actor=unit, ip=ip)
        except errors.AppError as exc:
            kind = _PHOTO_VERDICTS.get(exc.code, "bad_photo")
            return verdict(kind, exc.message if kind != "consent_required" else "请先确认本人已同意证件照采集告知",
                           account)
        except Exception:
            log.exception("bulk photo %s failed", account["_id"])
            return verdict("failed", account=account)
        return verdict("saved", account=account)

    async def job(self, unit: Principal, job_id: str) -> PhotoBatchOut:
        """The progress of a background job of the unit; 404 for anyone else's."""
        oid = parse_object_id(job_id, "任务不存在")
        job = await self.progress.find_one({"_id": oid, "unit_id": unit.account_id}, {"done_idx": 0})
        if job is None:
            raise errors.not_found("任务不存在")
        return self._job_out(job, await self.queue.get(oid) if job["status"] == "running" else None)

    def _file_out(self, stored: dict[str, Any]) -> PhotoFileResult:
        """A stored verdict of a job as shown: the sealed file name decrypted and masked."""
        name = unseal(self.accounts.cipher, stored["file"], context="photo_file_name") or ""
        return PhotoFileResult(**{**stored, "file": masked_file_name(name)})

    def _job_out(self, job: dict[str, Any], queued: dict[str, Any] | None) -> PhotoBatchOut:
        status = job["status"]
        if status == "running" and (queued is None or queued["status"] == "dead"):
            # Dead: every attempt failed (an administrator may retry it). No job: a background task of
            # the version before the job runner, lost with its process.
            status = "interrupted"
        return PhotoBatchOut(job_id=str(job["_id"]), status=status, total=job["total"], processed=job["processed"],
                             counts=job.get("counts") or {}, files=[self._file_out(f) for f in job["files"]],
                             started_at=job.get("started_at"), finished_at=job.get("finished_at"))
