"""Enrollment statuses as every area shows them (the enrollment area builds on these)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from server.models.common import StrictModel


class EnrollmentStatus(StrEnum):
    """The life of an enrollment; ``label`` is what people see."""

    pending_payment = "pending_payment"
    payment_submitted = "payment_submitted"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"
    expired = "expired"
    completed = "completed"  # the course is finished: no longer active, it may be taken again
    # Finished with published results (issue 13): 合格 / 不合格 / 缺考; also no longer active.
    completed_passed = "completed_passed"
    completed_failed = "completed_failed"
    absent = "absent"

    @property
    def label(self) -> str:
        """The Chinese label (审批状态)."""
        return ENROLLMENT_STATUS_LABELS[self]

    @property
    def active(self) -> bool:
        """Whether the enrollment still holds its seat (not cancelled or expired)."""
        return self not in INACTIVE_STATUSES


ENROLLMENT_STATUS_LABELS: dict[EnrollmentStatus, str] = {
    EnrollmentStatus.pending_payment: "待缴费",
    EnrollmentStatus.payment_submitted: "待审核",
    EnrollmentStatus.approved: "通过",
    EnrollmentStatus.rejected: "驳回",
    EnrollmentStatus.cancelled: "已取消",
    EnrollmentStatus.expired: "已过期",
    EnrollmentStatus.completed: "已结业",
    EnrollmentStatus.completed_passed: "已结业（合格）",
    EnrollmentStatus.completed_failed: "已结业（不合格）",
    EnrollmentStatus.absent: "缺考",
}

INACTIVE_STATUSES: frozenset[EnrollmentStatus] = frozenset(
    {EnrollmentStatus.cancelled, EnrollmentStatus.expired}
)
# The statuses of an enrollment that counts (``{"status": {"$in": ACTIVE_STATUS_VALUES}}``).
ACTIVE_STATUS_VALUES: tuple[str, ...] = tuple(str(s) for s in EnrollmentStatus if s not in INACTIVE_STATUSES)

NOT_APPLIED = "not_applied"
NOT_APPLIED_LABEL = "待申请"


class MyStatusOut(BaseModel):
    """The caller's status in a session: ``not_applied`` (待申请) or their enrollment's status."""

    code: str
    label: str

    @classmethod
    def of(cls, status: str | None) -> MyStatusOut:
        """From an active enrollment's status, or None when the trainee has none."""
        if status is None:
            return cls(code=NOT_APPLIED, label=NOT_APPLIED_LABEL)
        return cls(code=status, label=EnrollmentStatus(status).label)


# ---- the enrollment API ----------------------------------------------------------------

ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]


class EnrollmentCreate(StrictModel):
    """A trainee enrolls themselves."""

    session_id: ObjectIdStr
    address_id: ObjectIdStr | None = Field(default=None, description="物流信息模板；邮寄书籍的课程必填（缺省用默认模板）")


class UnitEnrollmentCreate(StrictModel):
    """A unit enrolls some of its staff; every person gets a verdict."""

    session_id: ObjectIdStr
    trainee_ids: list[ObjectIdStr] = Field(min_length=1, max_length=200)
    address_id: ObjectIdStr | None = None


class WaitlistJoin(StrictModel):
    """Join a full session's waitlist (a unit names the trainee)."""

    session_id: ObjectIdStr
    trainee_id: ObjectIdStr | None = Field(default=None, description="单位为其员工候补时填写")


class EnrollmentAddress(BaseModel):
    """The shipping address kept in an enrollment (a copy; ``id`` is the template it came from).

    Stored with the recipient's phone encrypted; every reader of the enrollment (the trainee,
    the enroller, association staff) gets it decrypted.
    """

    id: str
    recipient: str
    phone: str
    region: str
    address: str
    postcode: str | None


class EnrollmentOut(BaseModel):
    """One enrollment as its trainee, its unit or staff see it."""

    id: str
    session_id: str
    course_id: str
    trainee_id: str
    status: MyStatusOut
    fee_fen: int
    pay_by: datetime | None
    created_by_role: str
    address: EnrollmentAddress | None = Field(description="邮寄书籍的收货地址（报名时的副本）")
    created_at: datetime
    payment_id: str | None = Field(default=None, description="最近一次缴费记录")
    rejection_reason: str | None = Field(default=None, description="缴费被驳回的原因（驳回后可重新缴费）")

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> EnrollmentOut:
        """From an enrollment as the service shows it to the reader (the address phone decrypted or masked)."""
        return cls(
            id=str(doc["_id"]), session_id=str(doc["session_id"]), course_id=str(doc["course_id"]),
            trainee_id=str(doc["trainee_id"]), status=MyStatusOut.of(doc["status"]), fee_fen=doc["fee_fen"],
            pay_by=doc.get("pay_by"), created_by_role=doc["created_by"]["role"], address=doc.get("address"),
            created_at=doc["created_at"],
            payment_id=str(doc["payment_id"]) if doc.get("payment_id") else None,
            rejection_reason=(doc.get("rejection") or {}).get("reason") if doc["status"] == "rejected" else None,
        )


class EnrollmentPage(BaseModel):
    """A page of enrollments, newest first."""

    items: list[EnrollmentOut]
    total: int


class PersonVerdict(BaseModel):
    """The outcome for one person of a unit's batch: ``ok`` or the refusal's code and message."""

    trainee_id: str
    verdict: str
    message: str
    enrollment_id: str | None = None


class UnitEnrollmentResult(BaseModel):
    """A unit batch may partly succeed; every person has a verdict."""

    results: list[PersonVerdict]
    enrolled: int


class WaitlistOut(BaseModel):
    """A place in line."""

    id: str
    session_id: str
    trainee_id: str
    status: str = Field(description="waiting 候补中 / offered 有名额保留 / enrolled 已报名 / withdrawn 已退出 / lapsed 保留过期")
    position: int = Field(description="排第几位（1 为第一位；有名额保留时为 0）")
    session_code: str | None = Field(default=None, description="班次编号（我的候补列表中给出）")
    course_name: str | None = Field(default=None, description="课程名称（我的候补列表中给出）")
    offer_until: datetime | None = Field(default=None, description="名额保留至（offered 时）")

    @classmethod
    def from_entry(cls, entry: dict[str, Any], position: int) -> WaitlistOut:
        """From a stored waitlist entry (``session_code`` / ``course_name`` when the service added them)."""
        return cls(id=str(entry["_id"]), session_id=str(entry["session_id"]), trainee_id=str(entry["trainee_id"]),
                   status=entry["status"], position=position, session_code=entry.get("session_code"),
                   course_name=entry.get("course_name"), offer_until=entry.get("offer_until"))


class WaitlistPage(BaseModel):
    """My places in line still open (waiting or offered), oldest first."""

    items: list[WaitlistOut]
    total: int
