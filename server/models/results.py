"""Exam results (考试管理-查看成绩, issue 13): entered by staff as drafts, published per session."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from server.models.common import PageQuery, StrictModel
from server.models.enrollments import ObjectIdStr

Score = Annotated[int, Field(ge=0, le=100, description="考试成绩（0–100 分）")]
Verdict = Literal["passed", "failed", "absent"]
VERDICT_LABELS: dict[str, str] = {"passed": "合格", "failed": "不合格", "absent": "缺考"}
STATUS_LABELS: dict[str, str] = {"draft": "草稿（未发布）", "published": "已发布"}


def verdict_of(score: int | None, pass_mark: int) -> str:
    """合格 / 不合格 from the score and the course's pass mark; 缺考 without a score."""
    if score is None:
        return "absent"
    return "passed" if score >= pass_mark else "failed"


class AttendanceOut(BaseModel):
    """出勤 from the venue check-ins: the training days checked in, of the session's training days."""

    days: int = Field(description="签到天数")
    training_days: int = Field(description="培训天数")
    percent: int = Field(description="出勤率（%，向下取整）")
    label: str = Field(description="如“2/3 天”")

    @classmethod
    def of(cls, days: int, training_days: int) -> AttendanceOut:
        """From the counts."""
        return cls(days=days, training_days=training_days, percent=days * 100 // max(1, training_days),
                   label=f"{days}/{training_days} 天")

    def meets(self, minimum: int | None) -> bool:
        """Whether it reaches a course's minimum (percent; None or 0: no minimum), compared exactly:
        ``days / training_days >= minimum / 100``."""
        return not minimum or self.days * 100 >= minimum * self.training_days


class ResultIn(StrictModel):
    """A score, or 缺考; a correction of a published result needs a reason."""

    score: Score | None = Field(default=None, description="成绩；缺考时不填")
    absent: bool = Field(default=False, description="缺考")
    reason: str | None = Field(default=None, min_length=2, max_length=200,
                               description="更正原因（成绩发布后更正时必填，记入审计日志）")

    @model_validator(mode="after")
    def _score_or_absent(self) -> ResultIn:
        if self.absent and self.score is not None:
            raise ValueError("缺考时不能填写成绩")
        if not self.absent and self.score is None:
            raise ValueError("请填写成绩或标记缺考")
        return self


class ResultOut(BaseModel):
    """One result as staff, the trainee or their unit see it (ID number masked)."""

    id: str
    enrollment_id: str
    session_id: str
    session_code: str
    course_name: str
    trainee_id: str
    name: str
    id_masked: str | None
    score: int | None
    verdict: Verdict
    verdict_label: str
    status: Literal["draft", "published"]
    status_label: str
    published_at: datetime | None
    updated_at: datetime
    attendance: AttendanceOut | None = Field(default=None, description="出勤（签到天数 / 培训天数）")

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ResultOut:
        """From a stored result (with ``name``, ``id_masked`` and ``attendance`` added by the service)."""
        return cls(
            id=str(doc["_id"]), enrollment_id=str(doc["enrollment_id"]), session_id=str(doc["session_id"]),
            session_code=doc["session_code"], course_name=doc["course_name"], trainee_id=str(doc["trainee_id"]),
            name=doc["name"], id_masked=doc.get("id_masked"), score=doc.get("score"), verdict=doc["verdict"],
            verdict_label=VERDICT_LABELS[doc["verdict"]], status=doc["status"],
            status_label=STATUS_LABELS[doc["status"]], published_at=doc.get("published_at"),
            updated_at=doc["updated_at"], attendance=doc.get("attendance"),
        )


class ResultPage(BaseModel):
    """Published results, newest first."""

    items: list[ResultOut]
    total: int


class ResultQuery(PageQuery):
    """``?session_id=…`` narrows a unit's list to one session."""

    session_id: ObjectIdStr | None = None


class RosterRow(BaseModel):
    """An approved enrollment of the session, with its result when one is entered (staff view)."""

    enrollment_id: str
    trainee_id: str
    name: str
    id_masked: str | None
    enrollment_status: str
    attendance: AttendanceOut = Field(description="出勤（签到天数 / 培训天数）")
    meets_attendance: bool = Field(description="是否达到课程的发证最低出勤率（课程不要求时为 true）")
    result: ResultOut | None


class SessionResultsOut(BaseModel):
    """The session's roster for entering results (staff): who sits the exam, what is entered."""

    session_id: str
    pass_mark: int
    min_attendance_percent: int | None = Field(default=None, description="发证最低出勤率（%）；空为不要求")
    training_days: int
    rows: list[RosterRow]
    drafts: int
    published: int


class PublishOut(BaseModel):
    """What a publish did."""

    published: int
    passed: int
    failed: int
    absent: int


class ResultImportRow(BaseModel):
    """One row of a results sheet and its verdict (``ok`` or why it cannot be imported)."""

    row: int
    name: str | None
    id_masked: str | None
    score: int | None
    absent: bool
    attendance: str | None = Field(default=None, description="该学员本班次出勤（如“2/3 天”）；未匹配到报名时为空")
    verdict: Literal["ok", "bad_score", "unknown_id", "not_enrolled", "published", "duplicate"]
    verdict_label: str
    message: str


class ResultImportOut(BaseModel):
    """A check (``committed`` false) or an import (all rows, ``committed`` true) of a results sheet."""

    committed: bool
    rows: list[ResultImportRow]
    ok: int
    errors: int


class ImportQuery(BaseModel):
    """``?commit=true`` imports (only a sheet without errors); without it, a check that writes nothing."""

    commit: bool = False
