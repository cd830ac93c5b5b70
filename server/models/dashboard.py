"""The back office's home (工作台): what needs attention now, in one request.

Each part is present only for the roles that may see it: an admin sees everything, a reviewer
everything but the background jobs (the job list is an admin screen), a scanner only today's
check-ins (the part of the season a door scanner works on).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class OpenSessionOut(BaseModel):
    """A published session: its seats and its waitlist."""

    id: str
    code: str
    round: str
    course_name: str
    enroll_start: date
    enroll_end: date
    start_date: date
    end_date: date
    capacity: int = Field(description="计划人数")
    seats_taken: int = Field(description="已报名（占用名额）")
    seats_held: int = Field(description="为候补者保留的名额（已通知，待报名）")
    waitlist: int = Field(description="候补排队人数")
    seats_left: int = Field(description="新报名者还可占用的名额")


class WaitingPaymentOut(BaseModel):
    """A payment waiting for review (oldest first)."""

    id: str
    reference: str
    payer_name: str
    payer_kind: str = Field(description="个人 / 单位")
    people: int = Field(description="缴费人数")
    amount_fen: int
    submitted_at: datetime


class ReviewPart(BaseModel):
    """The review queue: how many wait, and the oldest few."""

    waiting: int
    oldest: list[WaitingPaymentOut]


class TodayCheckinsOut(BaseModel):
    """A session in training today (Beijing time) and its check-ins so far."""

    session_id: str
    code: str
    course_name: str
    approved: int = Field(description="已审核通过（应到）")
    checked_in: int = Field(description="已签到")
    not_yet: int = Field(description="未到")
    late: int = Field(description="迟到")
    conflicts: int = Field(description="签到冲突")


class JobsPart(BaseModel):
    """Background jobs that need an administrator."""

    failed: int = Field(description="失败，等待重试")
    dead: int = Field(description="已停止重试")


class OfficeDashboardOut(BaseModel):
    """The back office's home; a part the caller's role may not see is null."""

    today: date = Field(description="今天（北京时间）")
    open_sessions: list[OpenSessionOut] | None = Field(description="已发布的班次（按培训开始日期）；验证员无")
    open_sessions_total: int | None = None
    review: ReviewPart | None = Field(description="待审核缴费；验证员无")
    checkins_today: list[TodayCheckinsOut] = Field(description="今天培训中的班次的签到")
    jobs: JobsPart | None = Field(description="失败的后台任务；仅管理员")
