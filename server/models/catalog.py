"""Catalog: courses (专项培训) and their sessions (班次), as staff edit them and people browse them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from server.models.common import FieldError, PageQuery, StrictModel, clean_text, optional_text, required_text
from server.models.enrollments import MyStatusOut


def _code(value: str) -> str:
    return clean_text(value).upper()


Label = required_text(50)
CourseName = required_text(100)
Venue = required_text(200)
SessionCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"), AfterValidator(_code)
]
FeeFen = Annotated[int, Field(ge=0, le=100_000_000, description="费用，单位：分")]
Capacity = Annotated[int, Field(gt=0, le=100_000, description="计划人数")]
Hours = Annotated[int, Field(gt=0, le=10_000, description="学时")]
PassMark = Annotated[int, Field(ge=0, le=100, description="合格分数线（0–100）")]
MinAttendance = Annotated[int, Field(ge=0, le=100, description=(
    "发证最低出勤率（%，0–100）：签到天数 ÷ 培训天数不低于此值才发合格证；不填或 0 为不要求"))]
SearchText = optional_text(50)


class SessionStatus(StrEnum):
    """draft → published → closed."""

    draft = "draft"
    published = "published"
    closed = "closed"

    @property
    def label(self) -> str:
        """The Chinese label."""
        return {"draft": "草稿", "published": "已发布", "closed": "已结束"}[self.value]


class PatchModel(StrictModel):
    """PATCH bodies: a field left out is unchanged; an explicit null is refused."""

    @model_validator(mode="after")
    def _no_nulls(self) -> Any:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise FieldError(name, "不能为空")
        return self


# ---- courses ----------------------------------------------------------------------------


class CourseCreate(StrictModel):
    """A course: what is taught and examined."""

    name: CourseName = Field(description="专项培训")
    course_type: Label = Field(description="课程类型")
    activity_type: Label = Field(description="活动类型")
    specialty: Label = Field(description="专业")
    hours: Hours
    pass_mark: PassMark = 60
    mails_books: bool = Field(default=False, description="是否快递培训书籍（报名需填写物流信息）")
    min_attendance_percent: MinAttendance | None = None


class CourseUpdate(PatchModel):
    """Change some fields of a course; ``archived: true`` stops new sessions of it."""

    name: CourseName | None = None
    course_type: Label | None = None
    activity_type: Label | None = None
    specialty: Label | None = None
    hours: Hours | None = None
    pass_mark: PassMark | None = None
    mails_books: bool | None = None
    min_attendance_percent: MinAttendance | None = None
    archived: bool | None = None


class CourseOut(BaseModel):
    """A course as staff see it."""

    id: str
    name: str
    course_type: str
    activity_type: str
    specialty: str
    hours: int
    pass_mark: int
    mails_books: bool
    min_attendance_percent: int | None = Field(default=None, description="发证最低出勤率（%）；空为不要求")
    archived: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CourseOut:
        """From the stored course (courses stored before a field existed get its default)."""
        return cls(id=str(doc["_id"]), **{k: doc[k] for k in cls.model_fields if k != "id" and k in doc})


class CourseQuery(PageQuery):
    """Filters of the staff's course list."""

    q: SearchText | None = Field(default=None, description="按课程名称搜索")
    archived: bool | None = Field(default=None, description="只看已归档 / 未归档")


class CoursePage(BaseModel):
    """A page of courses, newest first."""

    items: list[CourseOut]
    total: int


# ---- sessions (staff) ---------------------------------------------------------------------

SESSION_DATE_FIELDS = ("enroll_start", "enroll_end", "start_date", "end_date")


def date_order_problem(values: dict[str, Any]) -> FieldError | None:
    """The first violated date rule of a session (ISO strings or dates), or None."""
    d = {k: str(values[k]) for k in SESSION_DATE_FIELDS}
    if d["enroll_start"] > d["enroll_end"]:
        return FieldError("enroll_end", "报名结束日期不能早于报名开始日期")
    if d["start_date"] > d["end_date"]:
        return FieldError("end_date", "培训结束日期不能早于培训开始日期")
    if d["enroll_end"] >= d["start_date"]:
        # Unpaid enrollments lapse at the start at the latest, and nobody enrolls from then on.
        return FieldError("enroll_end", "报名结束日期须早于培训开始日期")
    return None


class SessionCreate(StrictModel):
    """A session (班次) of a course; created as a draft."""

    course_id: Annotated[str, StringConstraints(max_length=24)]
    code: SessionCode = Field(description="班次编号（唯一）")
    round: Label = Field(description="课程班次，如 一期 / 二期")
    enroll_start: date = Field(description="报名开始日期（北京时间）")
    enroll_end: date = Field(description="报名结束日期（北京时间，当天可报名；须早于培训开始日期）")
    start_date: date = Field(description="培训开始日期")
    end_date: date = Field(description="培训结束日期")
    fee_fen: FeeFen
    capacity: Capacity
    venue: Venue = Field(description="培训地点")

    @model_validator(mode="after")
    def _dates_in_order(self) -> SessionCreate:
        problem = date_order_problem(self.model_dump())
        if problem is not None:
            raise problem
        return self


class SessionUpdate(PatchModel):
    """Change some fields of a draft or published session (the course stays)."""

    code: SessionCode | None = None
    round: Label | None = None
    enroll_start: date | None = None
    enroll_end: date | None = None
    start_date: date | None = None
    end_date: date | None = None
    fee_fen: FeeFen | None = None
    capacity: Capacity | None = None
    venue: Venue | None = None


class SessionOut(BaseModel):
    """A session as staff see it."""

    id: str
    course_id: str
    code: str
    round: str
    course_name: str
    course_type: str
    activity_type: str
    specialty: str
    mails_books: bool
    enroll_start: date
    enroll_end: date
    start_date: date
    end_date: date
    fee_fen: int
    capacity: int
    seats_taken: int
    seats_left: int
    seats_held: int = Field(default=0, description="为候补者保留的名额（已通知，待其报名）")
    waitlist: int = Field(default=0, description="候补排队人数（计划人数提高后，新名额按排队顺序先保留给他们）")
    venue: str
    status: SessionStatus
    status_label: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SessionOut:
        """From the stored session."""
        fields = {k: doc[k] for k in cls.model_fields if k in doc and k not in ("id", "course_id")}
        return cls(
            **fields, id=str(doc["_id"]), course_id=str(doc["course_id"]),
            seats_left=max(0, doc["capacity"] - doc["seats_taken"] - len(doc.get("held_for", []))
                           - len(doc.get("waiting", []))),
            seats_held=len(doc.get("held_for", [])), waitlist=len(doc.get("waiting", [])),
            status_label=SessionStatus(doc["status"]).label,
        )


class AdminSessionQuery(PageQuery):
    """Filters of the staff's session list."""

    q: SearchText | None = Field(default=None, description="按班次编号或课程名称搜索")
    course_id: Annotated[str, StringConstraints(max_length=24)] | None = None
    status: SessionStatus | None = None


class AdminSessionPage(BaseModel):
    """A page of sessions, newest first."""

    items: list[SessionOut]
    total: int


# ---- sessions (everyone) ------------------------------------------------------------------


class SessionListQuery(PageQuery):
    """Filters of the public session list."""

    q: SearchText | None = Field(default=None, description="按班次编号或课程名称搜索")
    course_type: SearchText | None = Field(default=None, description="课程类型")
    specialty: SearchText | None = Field(default=None, description="专业")
    open_now: bool = Field(default=False, description="只看今天（北京时间）可报名的班次")


class SessionRow(BaseModel):
    """One row of the session list (the manual's columns); ``my_status`` for a trainee."""

    id: str
    code: str = Field(description="班次编号")
    course_id: str
    course_name: str = Field(description="专项培训")
    course_type: str = Field(description="课程类型")
    activity_type: str = Field(description="活动类型")
    specialty: str = Field(description="专业")
    round: str = Field(description="课程班次")
    enroll_start: date = Field(description="报名开始日期")
    enroll_end: date = Field(description="报名结束日期")
    fee_fen: int = Field(description="费用（分）")
    fee_yuan: str = Field(description="费用（元），如 1200.00")
    status: SessionStatus
    open_now: bool = Field(description="今天（北京时间）在报名期内且已发布")
    my_status: MyStatusOut | None = Field(default=None, description="审批状态：仅学员登录时有")


class SessionPage(BaseModel):
    """A page of the session list, newest first."""

    items: list[SessionRow]
    total: int


class SessionDetail(SessionRow):
    """The session detail: the row, plus dates, venue, seats and course facts."""

    start_date: date
    end_date: date
    venue: str
    capacity: int
    seats_left: int
    hours: int
    pass_mark: int
    mails_books: bool = Field(description="是否快递培训书籍（报名需填写物流信息）")
    min_attendance_percent: int | None = Field(default=None, description="发证最低出勤率（%）；空为不要求")
