"""Passes (听课证), check-in and the scanners' offline bundle: request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.models.common import StrictModel
from server.models.enrollments import ObjectIdStr

ScanResult = Literal["ok", "already_checked_in", "revoked", "wrong_session", "not_today", "invalid"]
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]

RESULT_MESSAGES: dict[str, str] = {
    "ok": "签到成功，请核对照片",
    "already_checked_in": "今日已签到",
    "revoked": "听课证已作废",
    "wrong_session": "不是本班次的听课证",
    "not_today": "听课证不在有效期内（非本班次培训日）",
    "invalid": "无效的听课证",
}


class PassOut(BaseModel):
    """A pass as the trainee's mini-program shows it: the QR text and what is printed beside it."""

    serial: str = Field(description="听课证编号（20 位十六进制）")
    token: str = Field(description="二维码内容（签名令牌，不含个人信息）")
    enrollment_id: str
    session_id: str
    status: Literal["valid", "revoked"]
    valid_from: datetime
    valid_to: datetime
    issued_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PassOut:
        """From a stored pass."""
        return cls(serial=doc["serial"], token=doc["token"], enrollment_id=str(doc["enrollment_id"]),
                   session_id=str(doc["session_id"]), status=doc["status"], valid_from=doc["valid_from"],
                   valid_to=doc["valid_to"], issued_at=doc["issued_at"])


class CheckinCreate(StrictModel):
    """One scan at the door, sent at once by a scanner that has the network."""

    token: str = Field(max_length=300, description="二维码内容")
    session_id: ObjectIdStr = Field(description="验证员选择的班次")
    client_id: ClientId = Field(description="扫描端为这次扫描生成的唯一编号（重发时相同，保证幂等）")
    device_id: ClientId = Field(description="扫描设备编号")


class CheckinOut(BaseModel):
    """The verdict of one scan."""

    result: ScanResult
    message: str
    serial: str | None = None
    name: str | None = Field(default=None, description="学员姓名（ok 时），供核对照片")
    photo_url: str | None = Field(default=None, description="证件照缩略图地址（ok 时）")
    first_at: datetime | None = Field(default=None, description="首次签到时间（already_checked_in 时）")
    first_device: str | None = Field(default=None, description="首次签到设备（already_checked_in 时）")


class OfflineScan(CheckinCreate):
    """A scan made with no network, uploaded later as a fact with its own time."""

    scanned_at: datetime = Field(description="扫描时间（扫描设备时钟）")


class CheckinBatch(StrictModel):
    """Offline scans uploaded together (the same batch may be uploaded again: no duplicates)."""

    scans: list[OfflineScan] = Field(min_length=1, max_length=2000)


class BatchVerdict(BaseModel):
    """What became of one offline scan."""

    client_id: str
    result: ScanResult
    conflict: bool = Field(description="同一听课证当天已在另一台设备签到（已记录，交工作人员处理）")


class CheckinBatchOut(BaseModel):
    """The merge of an offline batch."""

    results: list[BatchVerdict]
    recorded: int = Field(description="新记录的签到")
    conflicts: int


class ScannerKey(BaseModel):
    """One public key of the pass signatures."""

    kid: int
    public_key: str = Field(description="Ed25519 公钥（32 字节，base64）")
    retired_at: datetime | None
    valid_until: datetime | None


class ScannerKeys(BaseModel):
    """The published kid → public key list (version 1 tokens are Ed25519)."""

    algorithm: Literal["Ed25519"] = "Ed25519"
    keys: list[ScannerKey]


class RosterEntry(BaseModel):
    """One valid pass of the session, for offline checks."""

    serial: str
    name: str
    photo: str | None = Field(description="证件照缩略图（JPEG，base64，约 2 KB）")


class BundleQuery(StrictModel):
    """Ask for a delta: what changed after the bundle version the scanner has."""

    since: int | None = Field(default=None, ge=0, description="已有离线包的版本号")


class BundleOut(BaseModel):
    """What a scanner needs to check passes of one session with no network; delete after the session."""

    session_id: str
    session_number: int | None
    version: int = Field(description="版本号（毫秒时间戳）；下次以 since 获取增量")
    delta: bool
    valid_until: datetime = Field(description="离线包有效期，过期后扫描端必须删除")
    keys: list[ScannerKey]
    revoked: list[str] = Field(description="作废的听课证编号")
    roster: list[RosterEntry]


class UnitPassesQuery(StrictModel):
    """The session whose passes a unit downloads (its own enrollments only)."""

    session_id: ObjectIdStr


class PassJobCreate(StrictModel):
    """Generate all the unit's passes of one session in the background."""

    session_id: ObjectIdStr


class PassJobOut(BaseModel):
    """The progress of a unit's pass PDF job; ``download_url`` once done."""

    id: str
    session_id: str
    status: Literal["running", "done"]
    total: int
    done: int
    download_url: str | None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PassJobOut:
        """From the progress document."""
        done = doc["status"] == "done"
        return cls(id=str(doc["_id"]), session_id=str(doc["session_id"]), status=doc["status"], total=doc["total"],
                   done=doc["done"], download_url=f"/api/v1/unit/pass-jobs/{doc['_id']}/file" if done else None)


class DashboardQuery(StrictModel):
    """The day of the dashboard (default: today, Beijing time)."""

    day: date | None = None


class DashboardOut(BaseModel):
    """Attendance of one session on one day."""

    session_id: str
    day: date
    approved: int
    checked_in: int
    not_yet: int
    late: int = Field(description="迟到人数（首次签到晚于 PASS_LATE_AFTER）")
    conflicts: int = Field(description="同一听课证在两台设备签到（离线合并时发现）")
