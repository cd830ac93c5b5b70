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

More than ``INLINE_LIMIT`` files run as a background task of this process;
its progress lives in a ``photo_jobs`` document any process can read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from server import errors
from server.documents.xlsx_common import check_zip_members, refused
from server.models.staff import PhotoBatchOut, PhotoFileResult
from server.services import Principal
from server.services.accounts.accounts import AccountService
from server.services.accounts.identity import mask_id_number
from server.services.audit import AuditLog
from server.services.cpu import patient
from server.services.ids import parse_object_id
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
STALE_AFTER = timedelta(minutes=2)
_DASHES = "-－—–‐‑‒―﹣﹘_"
_NAME = re.compile(rf"^(?P<name>.+?)\s*[{_DASHES}]\s*(?P<id>[0-9A-Za-z]{{5,20}})$")
_ID_RUN = re.compile(r"[0-9A-Za-z]{6,}")
_SKIP = re.compile(r"(^|/)(__MACOSX/|\.)|(^|/)(Thumbs\.db|desktop\.ini)$", re.I)

_PHOTO_VERDICTS = {
    "payload_too_large": "too_large", "photo_bad_format": "bad_format", "photo_no_face": "no_face",
    "consent_required": "consent_required",
}
_MESSAGES = {
    "saved": "已保存", "name_mismatch": "姓名与该身份证号的人员不一致", "unknown_id": "本单位人员中没有该身份证号",
    "bad_name": "文件名应为“姓名-身份证号.jpg”", "bad_format": "仅支持 JPG 格式的照片",
    "too_large": f"照片超过 {PHOTO_MAX_BYTES // (1024 * 1024)} MB", "duplicate": "同一人员的照片重复，已忽略",
    "failed": "保存失败，请重试",
}


@dataclass
class PhotoEntry:
    """One file of the upload: its name, declared size and how to read it."""

    name: str
    size: int
    read: Callable[[], bytes]


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
        concurrency: int = 2,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.jobs = db["photo_jobs"]
        self.accounts = accounts
        self.photos = photos
        self.audit = audit
        self.concurrency = concurrency
        self.now = now or (lambda: datetime.now(UTC))
        self._running: set[asyncio.Task[None]] = set()

    async def upload(self, unit: Principal, entries: list[PhotoEntry], *, consent: bool, ip: str,
                     cleanup: Callable[[], None] = lambda: None) -> PhotoBatchOut:
        """Store every photo (inline for a few files, else a background job); a verdict per file."""
        if not entries:
            cleanup()
            raise errors.bad_request("file_missing", "没有可处理的照片文件")
        if len(entries) > MAX_FILES:
            cleanup()
            raise too_many_photos()
        now = self.now()
        if len(entries) <= INLINE_LIMIT:
            try:
                results = await self._process(unit, entries, consent=consent, ip=ip, job_id=None)
            finally:
                cleanup()
            return PhotoBatchOut(status="done", total=len(entries), processed=len(results),
                                 counts=dict(Counter(r.verdict for r in results)), files=results,
                                 started_at=now, finished_at=self.now())
        job = {"_id": ObjectId(), "unit_id": unit.account_id, "status": "running", "total": len(entries),
               "processed": 0, "counts": {}, "files": [], "started_at": now, "heartbeat_at": now,
               "expires_at": now + JOB_LIFETIME}
        await self.jobs.insert_one(job)
        task = asyncio.create_task(self._run_job(unit, entries, job["_id"], consent, ip, cleanup))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return self._job_out(job)

    async def close(self) -> None:
        """Stop the running jobs at shutdown (their files are cleaned up; they show as interrupted)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _run_job(self, unit: Principal, entries: list[PhotoEntry], job_id: ObjectId, consent: bool,
                       ip: str, cleanup: Callable[[], None]) -> None:
        try:
            await self._process(unit, entries, consent=consent, ip=ip, job_id=job_id)
            await self.jobs.update_one({"_id": job_id}, {"$set": {"status": "done", "finished_at": self.now()}})
        except Exception:
            log.exception("photo job %s failed", job_id)
            await self.jobs.update_one({"_id": job_id}, {"$set": {"status": "interrupted"}})
        finally:
            cleanup()

    async def _process(self, unit: Principal, entries: list[PhotoEntry], *, consent: bool, ip: str,
                       job_id: ObjectId | None) -> list[PhotoFileResult]:
        seen: set[str] = set()
        gate = asyncio.Semaphore(self.concurrency)
        results: list[PhotoFileResult] = []

        async def one(entry: PhotoEntry) -> None:
            async with gate:
                result = await self._one(unit, entry, seen, consent=consent, ip=ip)
            results.append(result)
            if job_id is not None:
                # The file name is sealed (it holds an ID number): masked when the job is shown.
                file = self.accounts.cipher.encrypt(entry.name, context="photo_file_name")
                await self.jobs.update_one({"_id": job_id}, {
                    "$push": {"files": result.model_dump() | {"file": file}},
                    "$inc": {"processed": 1, f"counts.{result.verdict}": 1},
                    "$set": {"heartbeat_at": self.now()}})

        with patient():  # a batch waits for room in the documents pool rather than failing files with 503
            await asyncio.gather(*(one(e) for e in entries))
        await self.audit.record("staff.photos_bulk", actor_id=unit.account_id, actor_role=unit.role, ip=ip,
                                subject_id=job_id, details={"counts": dict(Counter(r.verdict for r in results))})
        return results

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
            data = await self.photos.run_cpu(entry.read)  # inflating a ZIP entry is CPU work
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
        job = await self.jobs.find_one({"_id": parse_object_id(job_id, "任务不存在"), "unit_id": unit.account_id})
        if job is None:
            raise errors.not_found("任务不存在")
        return self._job_out(job)

    def _file_out(self, stored: dict[str, Any]) -> PhotoFileResult:
        """A stored verdict of a job as shown: the sealed file name decrypted and masked."""
        name = unseal(self.accounts.cipher, stored["file"], context="photo_file_name") or ""
        return PhotoFileResult(**{**stored, "file": masked_file_name(name)})

    def _job_out(self, job: dict[str, Any]) -> PhotoBatchOut:
        status = job["status"]
        if status == "running" and job["heartbeat_at"] < self.now() - STALE_AFTER:
            status = "interrupted"  # the process running it stopped
        return PhotoBatchOut(job_id=str(job["_id"]), status=status, total=job["total"], processed=job["processed"],
                             counts=job.get("counts") or {}, files=[self._file_out(f) for f in job["files"]],
                             started_at=job.get("started_at"), finished_at=job.get("finished_at"))
