"""A session's enrollments as association staff see them (报名管理): filterable, paged, ID numbers masked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from server.models.common import PageQuery, StrictModel
from server.models.enrollments import EnrollmentStatus, MyStatusOut

ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]


class SessionEnrollmentFilter(StrictModel):
    """The filters of a session's enrollments (the list and its export)."""

    status: EnrollmentStatus | None = Field(default=None, description="审批状态")
    unit_id: ObjectIdStr | None = Field(default=None, description="报名单位")
    no_unit: bool = Field(default=False, description="只看个人报名（无单位）")


class SessionEnrollmentQuery(SessionEnrollmentFilter, PageQuery):
    """Filters and page of a session's enrollments."""


class SessionEnrollmentRow(BaseModel):
    """One enrollment of the session."""

    id: str
    trainee_id: str
    name: str
    id_masked: str = Field(description="证件号（脱敏）")
    unit_id: str | None
    unit_name: str | None = Field(description="报名单位；个人报名为空")
    status: MyStatusOut
    fee_fen: int
    pay_by: datetime | None = Field(description="缴费截止时间（待缴费时）")
    created_at: datetime
    created_by_role: str = Field(description="trainee 学员本人 / unit 单位")


class SessionEnrollmentUnit(BaseModel):
    """A unit with enrollments in the session (the unit filter's choices)."""

    id: str
    name: str
    count: int


class SessionEnrollmentPage(BaseModel):
    """A page of the session's enrollments, in enrollment order; counts by status for the filter."""

    items: list[SessionEnrollmentRow]
    total: int
    by_status: dict[str, int] = Field(description="本班次各审批状态的报名数（不受筛选影响）")
    units: list[SessionEnrollmentUnit] = Field(description="本班次报名的单位")


class CheckinConflictOut(BaseModel):
    """An offline scan of a pass already checked in that day on another device."""

    id: str
    day: str
    serial: str
    name: str
    id_masked: str
    at: datetime = Field(description="这次扫描时间")
    device_id: str
    first_at: datetime = Field(description="首次签到时间")
    first_device: str | None


class CheckinConflictPage(BaseModel):
    """The check-in conflicts of a session on a day."""

    items: list[CheckinConflictOut]


class CheckinConflictQuery(StrictModel):
    """The day of the conflicts (default: every day of the session)."""

    day: date | None = Field(default=None, description="培训日期（北京时间）；不填为全部")
