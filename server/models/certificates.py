"""Certificates (合格证, issue 13): issued in a batch per session, revocable, publicly verifiable."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from server.models.common import PageQuery, StrictModel
from server.models.enrollments import ObjectIdStr

STATUS_LABELS = {"valid": "有效", "revoked": "已撤销"}


class CertificateOut(BaseModel):
    """A certificate as its holder, their unit or staff see it (ID number masked)."""

    id: str
    number: str
    enrollment_id: str
    session_id: str
    trainee_id: str
    name: str
    id_masked: str
    unit: str | None
    course: str
    hours: int
    start_date: str
    end_date: str
    issued_on: str
    status: Literal["valid", "revoked"]
    status_label: str
    revoke_reason: str | None = None
    verify_url: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any], base_url: str) -> CertificateOut:
        """From a stored certificate; ``base_url`` makes its verification URL."""
        p = doc["printed"]
        return cls(
            id=str(doc["_id"]), number=doc["number"], enrollment_id=str(doc["enrollment_id"]),
            session_id=str(doc["session_id"]), trainee_id=str(doc["trainee_id"]), name=p["name"],
            id_masked=p["id_masked"], unit=p.get("unit"), course=p["course"], hours=p["hours"],
            start_date=p["start_date"], end_date=p["end_date"], issued_on=doc["issued_on"], status=doc["status"],
            status_label=STATUS_LABELS[doc["status"]], revoke_reason=(doc.get("revoked") or {}).get("reason"),
            verify_url=verify_url(base_url, doc["code"]),
        )


def verify_url(base_url: str, code: str) -> str:
    """The public verification page of a code."""
    return f"{base_url}/verify/{code}"


class CertificatePage(BaseModel):
    """Certificates, newest first."""

    items: list[CertificateOut]
    total: int


class CertificateQuery(PageQuery):
    """``?session_id=…`` narrows a unit's list to one session."""

    session_id: ObjectIdStr | None = None


class IssueSkipOut(BaseModel):
    """A 合格 enrollment the batch approval did not certify, and why (e.g. attendance below the minimum)."""

    enrollment_id: str
    name: str
    code: Literal["attendance_below_minimum"]
    reason: str


class IssueOut(BaseModel):
    """What a batch approval did: certificates issued now, the 合格 ones that already had one, and the
    ones refused (with a reason each)."""

    issued: int
    already: int
    numbers: list[str]
    skipped: list[IssueSkipOut] = Field(default_factory=list, description="未发证的合格学员及原因（如出勤不足）")


class RevokeIn(StrictModel):
    """Revoking needs a reason (shown to the holder; the verification page only says 已撤销)."""

    reason: str = Field(min_length=2, max_length=200)


class VerificationOut(BaseModel):
    """What anyone who scans a certificate learns: nothing beyond this."""

    name: str
    id_masked: str
    course: str
    hours: int
    issued_on: str
    status: Literal["valid", "revoked"]
    status_label: str


class SealOut(BaseModel):
    """The association's seal as set by an admin."""

    set: bool
    updated_at: datetime | None = None


class BundleIn(StrictModel):
    """A unit downloads the certificates of its staff in one session at once."""

    session_id: ObjectIdStr
    format: Literal["zip", "pdf"] = Field(default="zip", description="zip：每人一个 PDF；pdf：合并为一个 PDF")


class CertificateBundleOut(BaseModel):
    """A unit's download of a session's certificates: its progress, then its file."""

    id: str
    session_id: str
    format: Literal["zip", "pdf"]
    status: Literal["queued", "running", "done"]
    total: int
    done: int

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CertificateBundleOut:
        """From a stored bundle."""
        return cls(id=str(doc["_id"]), session_id=str(doc["session_id"]), format=doc["format"], status=doc["status"],
                   total=doc["total"], done=doc["done"])
