"""Venue check-in: the scanners' keys, online and offline scans."""

from __future__ import annotations

from server.documents.xlsx_common import XLSX_CONTENT_TYPE
from server.handlers.base import ApiHandler, endpoint
from server.models.passes import (
    BundleOut,
    BundleQuery,
    CheckinBatch,
    CheckinBatchOut,
    CheckinCreate,
    CheckinOut,
    DashboardOut,
    DashboardQuery,
    ScannerKey,
    ScannerKeys,
)
from server.services.accounts.identity import today_shanghai
from server.services.ids import parse_object_id

TAGS = ["check-in"]
SCANNER = ["scanner", "admin"]


class KeysHandler(ApiHandler):
    """``/api/v1/scanner/keys``."""

    @endpoint("听课证验签公钥（kid → 公钥）", response=ScannerKeys, roles=SCANNER, tags=TAGS)
    async def get(self) -> ScannerKeys:
        """The public keys a scanner verifies passes with (current and retired-but-valid)."""
        docs = await self.services.passes.keyring.published()
        return ScannerKeys(keys=[ScannerKey(kid=d["_id"], public_key=d["public_key"], retired_at=d["retired_at"],
                                            valid_until=d["valid_until"]) for d in docs])


class CheckinsHandler(ApiHandler):
    """``/api/v1/checkins``."""

    @endpoint("扫码签到", body=CheckinCreate, response=CheckinOut, roles=SCANNER, tags=TAGS)
    async def post(self, body: CheckinCreate) -> CheckinOut:
        """Judge one scan; the verdict is the answer (a refused pass is not an HTTP error)."""
        assert self.principal is not None
        return await self.services.checkins.scan(self.principal, body)


class CheckinBatchHandler(ApiHandler):
    """``/api/v1/checkins/batch``."""

    @endpoint("上传离线签到（幂等合并，冲突上报）", body=CheckinBatch, response=CheckinBatchOut, roles=SCANNER,
              tags=TAGS, max_body_bytes=2 * 1024 * 1024)
    async def post(self, body: CheckinBatch) -> CheckinBatchOut:
        """Merge scans made offline; the same batch twice records nothing twice."""
        assert self.principal is not None
        return await self.services.checkins.merge_batch(self.principal, body.scans)


routes = [
    (r"/api/v1/scanner/keys", KeysHandler),
    (r"/api/v1/checkins", CheckinsHandler),
    (r"/api/v1/checkins/batch", CheckinBatchHandler),
]


class BundleHandler(ApiHandler):
    """``/api/v1/scanner/sessions/{session_id}/bundle``."""

    @endpoint("离线签到包（公钥、作废名单、名单与照片缩略图；ETag 与增量）", query=BundleQuery, response=BundleOut,
              roles=SCANNER, tags=TAGS, errors=[404])
    async def get(self, session_id: str, query: BundleQuery) -> BundleOut | None:
        """The session's offline bundle; 304 when the scanner's ETag is current."""
        bundles = self.services.scanner_bundles
        _, version = await bundles.version(session_id)
        self.set_header("Etag", f'"{session_id}-{version}-{query.since or 0}"')
        self.set_header("Cache-Control", "private, no-cache")
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return None
        return await bundles.build(session_id, since=query.since)


routes += [(r"/api/v1/scanner/sessions/(?P<session_id>[^/]+)/bundle", BundleHandler)]


class AttendanceHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}/attendance``."""

    @endpoint("签到看板（按班次、日期：已审核、已签到、未到、迟到、冲突）", query=DashboardQuery,
              response=DashboardOut, roles=SCANNER, tags=TAGS, errors=[404])
    async def get(self, session_id: str, query: DashboardQuery) -> DashboardOut:
        """Attendance counts of one session on one day (default today, Beijing time)."""
        day = query.day or today_shanghai()
        counts = await self.services.checkins.attendance(parse_object_id(session_id, "班次不存在"), day)
        return DashboardOut(session_id=session_id, day=day, **counts)


class AttendanceExportHandler(ApiHandler):
    """``/api/v1/admin/sessions/{session_id}/attendance.xlsx``."""

    @endpoint("导出签到记录（Excel）", roles=["admin"], tags=TAGS, produces=XLSX_CONTENT_TYPE, errors=[404])
    async def get(self, session_id: str) -> None:
        """Every check-in of the session, by day and time."""
        checkins = await self.services.checkins.of_session(parse_object_id(session_id, "班次不存在"))
        self.write_file(*await self.services.pass_documents.attendance_xlsx(session_id, checkins))


routes += [
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)/attendance", AttendanceHandler),
    (r"/api/v1/admin/sessions/(?P<session_id>[^/]+)/attendance\.xlsx", AttendanceExportHandler),
]
