"""Bulk photos of a unit's staff: the one handler whose body is streamed to a temporary file.

A ZIP of a unit's photos may reach 200 MB (``PHOTO_ZIP_MAX_BYTES``), far over what
any other endpoint accepts. ``ApiHandler.prepare`` size-checks and authenticates
before a byte of the body is read, with this handler's own limit; the body is
then written to a temporary file as it arrives instead of being held in memory (a
background job takes its files to GridFS and the temporary file is removed). A raw
ZIP body (``application/zip``) is read from that file entry by entry; a
multipart body (several JPGs, or one ZIP part) is parsed in memory and is held
to ``MULTIPART_MAX_BYTES``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import tornado.httputil
from pydantic import BaseModel

from server import errors
from server.handlers.base import ApiHandler, Endpoint, Upload, endpoint, parse_body_arguments
from server.models.staff import PhotoBatchOut
from server.services.staff.photos import PhotoEntry, open_zip_entries

TAGS = ["unit-staff"]
MULTIPART_MAX_BYTES = 64 * 1024 * 1024
ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/octet-stream"}


class BulkPhotoQuery(BaseModel):
    """``?consent=true``: the unit confirms each person agreed to the photo notice."""

    consent: bool = False


class StaffPhotosHandler(ApiHandler):
    """``/api/v1/unit/staff/photos``: the body is spooled to disk as it arrives, not kept in memory."""

    _spool: Any = None
    _received = 0
    _zip_path: str | None = None

    def body_limit(self, spec: Endpoint | None) -> int:
        """A ZIP of a whole unit's photos: its own setting."""
        return self.config.photo_zip_max_bytes

    async def prepare(self) -> None:
        """Size-check and authenticate before reading the body, then spool it to disk."""
        pending = super().prepare()
        if pending is not None:
            await pending
        if self.request.method == "POST":
            self._spool = tempfile.NamedTemporaryFile(prefix="unit-photos-", suffix=".upload", delete=False)

    def data_received(self, chunk: bytes) -> None:
        """Append a piece of the body to the temporary file."""
        if self._spool is not None:
            self._received += len(chunk)
            self._spool.write(chunk)

    @endpoint("批量上传照片（多个 JPG 或一个 ZIP，文件名“姓名-身份证号.jpg”）", query=BulkPhotoQuery,
              response=PhotoBatchOut, roles=["unit"], tags=TAGS, errors=[400, 413, 415, 422],
              upload=Upload(files=("files",), raw=("application/zip",)))
    async def post(self, query: BulkPhotoQuery) -> PhotoBatchOut:
        """Match each file to the unit's staff and store it; > 20 files run as a job (poll photo-jobs)."""
        assert self.principal is not None and self._spool is not None
        self._spool.close()
        path = self._spool.name
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        consent = query.consent
        if content_type == "multipart/form-data":
            entries, zip_path, form_consent = await self.services.run_cpu(self._multipart, path)
            consent = consent or form_consent
            if zip_path is not None:
                self._zip_path = path = zip_path
            else:
                return await self._upload(entries, consent, path)
        elif content_type not in ZIP_TYPES:
            raise errors.unsupported_media("请以 multipart/form-data（多个 JPG）或 application/zip 上传")
        archive, entries = await self.services.run_cpu(open_zip_entries, path)
        return await self._upload(entries, consent, path, archive.close, is_zip=True)

    async def _upload(self, entries: list[PhotoEntry], consent: bool, path: str,
                      close: Any = None, *, is_zip: bool = False) -> PhotoBatchOut:
        def cleanup() -> None:
            if close is not None:
                close()
            with contextlib.suppress(OSError):
                os.unlink(path)

        # The service owns ``path`` now: it reads it (a job copies it to GridFS), then cleans it up.
        self._spool = None if self._spool is not None and self._spool.name == path else self._spool
        self._zip_path = None  # before _discard: a ZIP sent as one multipart part is ``path`` itself
        self._discard()
        assert self.principal is not None
        return await self.services.staff_photos.upload(self.principal, entries, consent=consent, ip=self.client_ip,
                                                       archive=path if is_zip else None, cleanup=cleanup)

    def _multipart(self, path: str) -> tuple[list[PhotoEntry], str | None, bool]:
        if self._received > MULTIPART_MAX_BYTES:
            raise errors.AppError(413, "payload_too_large", "多文件上传不超过 64 MB；更大的 ZIP 请以 application/zip 直接上传",
                                  {"limit_bytes": MULTIPART_MAX_BYTES})
        with open(path, "rb") as f:
            body = f.read()
        args: dict[str, list[bytes]] = {}
        files: dict[str, list[tornado.httputil.HTTPFile]] = {}
        parse_body_arguments(self.request.headers["Content-Type"], body, args, files)
        del body
        parts = [part for group in files.values() for part in group]
        consent = any(v.strip().lower() in (b"true", b"1", b"on") for v in args.get("consent", []))
        if len(parts) == 1 and (parts[0].filename.lower().endswith(".zip") or parts[0].body[:4] == b"PK\x03\x04"):
            handle = tempfile.NamedTemporaryFile(prefix="unit-photos-", suffix=".zip", delete=False)
            with handle:
                handle.write(parts[0].body)
            return [], handle.name, consent
        entries = [PhotoEntry(os.path.basename(p.filename.replace("\\", "/")), len(p.body),
                              lambda body=p.body: body) for p in parts]
        return entries, None, consent

    def on_finish(self) -> None:
        """Remove the temporary file unless the service took it over."""
        self._discard()

    def on_connection_close(self) -> None:
        """The client went away: drop what was spooled."""
        self._discard()
        super().on_connection_close()

    def _discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            with contextlib.suppress(OSError):
                os.unlink(self._spool.name)
            self._spool = None
        if self._zip_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._zip_path)
            self._zip_path = None


class PhotoJobHandler(ApiHandler):
    """``/api/v1/unit/staff/photo-jobs/{job_id}``."""

    @endpoint("批量上传照片任务进度", response=PhotoBatchOut, roles=["unit"], tags=TAGS, errors=[404])
    async def get(self, job_id: str) -> PhotoBatchOut:
        """Progress counts and per-file verdicts of a background photo job."""
        assert self.principal is not None
        return await self.services.staff_photos.job(self.principal, job_id)


routes = [
    (r"/api/v1/unit/staff/photos", StaffPhotosHandler),
    (r"/api/v1/unit/staff/photo-jobs/(?P<job_id>[^/]+)", PhotoJobHandler),
]
