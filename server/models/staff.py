"""A unit's staff: add one, bind a registered trainee, list, Excel import, bulk photos."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from server.models.accounts import BirthDate, IdNumberText, Phone, Sex, settle_identity
from server.models.common import FieldError, PageQuery, PersonName, StrictModel
from server.models.profile import ProfileUpdate
from server.services.accounts.identity import IdType


class StaffCreate(ProfileUpdate):
    """The manual's 基本信息 form for a new person (issue 4's profile plus the identity fields)."""

    id_type: IdType = Field(default=IdType.resident, description="证件类型")
    id_number: IdNumberText = Field(description="证件号码")
    phone: Phone = Field(description="手机号")

    @model_validator(mode="before")
    @classmethod
    def _no_identity_fields(cls, data: Any) -> Any:
        # Overrides the profile's refusal: whoever creates the account states the identity.
        return data

    @model_validator(mode="after")
    def _identity_consistent(self) -> StaffCreate:
        settle_identity(self)
        assert self.birth_date is not None
        if self.work_start < self.birth_date.strftime("%Y-%m"):
            raise FieldError("work_start", "参加工作时间不能早于出生日期")
        return self


class StaffUpdate(ProfileUpdate):
    """A unit's edit of one of its staff (PUT replaces the profile, as the trainee's own form does).

    ``name``, ``sex`` and ``birth_date`` are the person's identity: a unit may change
    them only on an account it created itself that is still pending (fixing its own
    typing); otherwise a different value is refused (``staff_identity_locked``) and
    an omitted or equal one keeps what is stored. ID type, number and phone are
    never editable here.
    """

    name: PersonName | None = Field(  # type: ignore[assignment]
        default=None, description="姓名；仅本单位创建且尚未激活的账号可修改，省略则不变")
    sex: Sex | None = Field(default=None, description="性别；同姓名，省略则不变")
    birth_date: BirthDate | None = Field(default=None, description="出生日期；同姓名，省略则不变")


class StaffListQuery(PageQuery):
    """Search: 姓名 (contains), 身份证号 and 手机号 (exact), 职务 (contains)."""

    name: Annotated[str, StringConstraints(max_length=50, strip_whitespace=True)] | None = None
    # Any text: an exact search (a malformed number simply finds nobody), so no pattern in the schema.
    id_number: Annotated[str, StringConstraints(max_length=30)] | None = None
    phone: Annotated[str, StringConstraints(max_length=20)] | None = None
    position: Annotated[str, StringConstraints(max_length=50, strip_whitespace=True)] | None = None


class StaffItem(BaseModel):
    """One person of the unit's staff, personal data masked."""

    id: str
    name: str
    sex: str | None = None
    id_masked: str
    phone_masked: str | None = None
    education: str | None = None
    title: str | None = None
    position: str | None = None
    employer: str | None = None
    has_photo: bool
    status: Literal["active", "pending", "disabled"]
    bound_at: datetime | None = None
    data_access: Literal["full", "limited"] = Field(
        default="full", description="full：本单位创建或本人已授权；limited：自行注册的学员未授权，仅姓名和脱敏证件号")


class StaffPage(BaseModel):
    """A page of the staff list."""

    items: list[StaffItem]
    total: int


class StaffCreatedOut(BaseModel):
    """A new pending account of the unit: its one-time secret is shown this once."""

    id: str
    name: str
    id_masked: str
    status: str
    one_time_secret: str = Field(description="一次性密码，仅显示这一次；也可用短信验证码激活")


class BindIn(StrictModel):
    """Bind a registered trainee found by exact name and ID number."""

    name: PersonName
    id_number: IdNumberText


class StaffPhotoForm(BaseModel):
    """Text fields of a staff photo upload: the unit confirms the person agreed to the notice."""

    consent: bool = False


ImportVerdict = Literal["ok", "error", "exists", "example"]


class ImportRowOut(BaseModel):
    """The verdict of one sheet row."""

    row: int
    verdict: ImportVerdict = Field(description="ok 可导入；error 有误；exists 存在账号；example 模板示例行，已跳过")
    errors: dict[str, str] = Field(default_factory=dict)
    note: str | None = Field(default=None, description="说明（如：示例行，已跳过）")
    name: str | None = Field(default=None, description="表格中的姓名（最多 50 个字符）")
    id_masked: str | None = None
    can_bind: bool | None = Field(default=None, description="存在账号时：是否可改为绑定（未绑定其他单位）")


class ImportOut(BaseModel):
    """A dry run: every row's verdict; nothing is written to accounts yet."""

    id: str
    status: str
    rows: list[ImportRowOut]
    counts: dict[str, int]
    expires_at: datetime


class CreatedAccountOut(BaseModel):
    """An account created by a committed import."""

    row: int
    id: str
    name: str
    id_masked: str
    one_time_secret: str


class ImportCommitOut(BaseModel):
    """A committed import: every good row was created, with its one-time secret (shown once here)."""

    id: str
    status: str
    created: int
    accounts: list[CreatedAccountOut]


PhotoVerdict = Literal[
    "saved", "name_mismatch", "unknown_id", "bad_name", "bad_format", "too_large", "no_face",
    "bad_photo", "duplicate", "consent_required", "failed",
]


class PhotoFileResult(BaseModel):
    """The verdict of one uploaded photo file."""

    file: str
    verdict: PhotoVerdict
    message: str
    trainee_id: str | None = None


class PhotoBatchOut(BaseModel):
    """Bulk photos: finished at once (small batches) or a background job with progress."""

    job_id: str | None = None
    status: Literal["done", "running", "interrupted"]
    total: int
    processed: int
    counts: dict[str, int]
    files: list[PhotoFileResult]
    started_at: datetime | None = None
    finished_at: datetime | None = None


BIRTH_FORMATS = "YYYY-MM-DD、YYYY-MM、YYYY年MM月、YYYY.MM 或日期单元格"
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel's phantom 1900-02-29 is before any birth here)
_BIRTH_TEXT = re.compile(
    r"(?P<y>\d{4})\s*(?:[-/.年]\s*(?P<m>\d{1,2})\s*(?:[-/.月]\s*(?:(?P<d>\d{1,2})\s*日?)?)?|(?P<md>\d{2}(?:\d{2})?))"
)


def birth_from_cell(value: Any) -> date | str:
    """A 出生年月 cell as a ``date``, or ``"YYYY-MM"`` when only the month is given.

    Accepted: date cells (datetime/date), Excel serial numbers of a General cell,
    ``YYYYMMDD``/``YYYYMM`` numbers, a ``YYYY.MM`` number (as ``work_start`` reads it),
    and text ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY年MM月[DD日]``, ``YYYY.MM[.DD]``,
    ``YYYY/MM/DD``, ``YYYYMMDD`` (full-width digits too). Anything else, or a day
    that does not exist, raises ``ValueError`` with the Chinese message.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _birth_number(value)
    if isinstance(value, str):
        return _birth_text(value)
    raise ValueError(f"出生年月格式应为 {BIRTH_FORMATS}")


def _birth_number(value: float) -> date | str:
    if float(value).is_integer():
        digits = str(int(value))
        if len(digits) in (6, 8):  # 198807 / 19880715 typed into a General cell
            return _birth_text(digits)
        if 1900 <= value <= 2100:  # a year alone: not a serial number of 1905
            raise ValueError("出生年月须包含月份，如 1988-07")
        if 1 <= value <= 73_050:  # a date serial (to 2099) that lost its date format
            return _EXCEL_EPOCH + timedelta(days=int(value))
    elif 1900 <= value < 2100:  # 1988.07 typed as a number: read as work_start reads it
        try:
            return _work_start_number(value)
        except ValueError:
            pass
    raise ValueError(f"出生年月格式应为 {BIRTH_FORMATS}（请以文本填写）")


def _birth_text(text: str) -> date | str:
    match = _BIRTH_TEXT.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        raise ValueError(f"出生年月格式应为 {BIRTH_FORMATS}")
    year, month, day = match.group("y"), match.group("m"), match.group("d")
    if match.group("md"):  # YYYYMM or YYYYMMDD
        month, day = match.group("md")[:2], match.group("md")[2:] or None
    try:
        if day is None:
            date(int(year), int(month), 1)  # the month exists
            return f"{year}-{int(month):02d}"
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"出生年月不是有效的日期：{text.strip()[:20]}") from None


def work_start_from_cell(value: Any) -> Any:
    """An Excel date cell as ``YYYY-MM``; ``1990.7`` / ``1990/07`` text normalized.

    A *number* cell (a General cell, where Excel drops trailing zeros) is read as
    ``YYYY.MM``: ``2010.05`` and ``2010.12`` are May and December, ``2010.7`` is July
    (``2010.70`` is no month), and ``201007`` is July; ``2010.1`` (January or a
    dropped ``2010.10``?) and anything else raise ``ValueError`` with the message.
    """
    if isinstance(value, (datetime, date)):
        return value.strftime("%Y-%m")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _work_start_number(value)
    if isinstance(value, str):
        parts = value.replace("/", "-").replace(".", "-").replace("年", "-").rstrip("月").split("-")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return f"{parts[0]}-{int(parts[1]):02d}"
    return value


def _work_start_number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        digits = str(int(value))
        if len(digits) == 6 and 1 <= int(digits[4:]) <= 12:
            return f"{digits[:4]}-{digits[4:]}"
        raise ValueError("参加工作时间应为年月，如 2010-07（请以文本填写）")
    year, _, fraction = f"{value:.6f}".rstrip("0").partition(".")
    if len(year) == 4 and fraction == "1":
        raise ValueError(f"{year}.1 无法确定是 1 月还是 10 月，请以文本填写，如 {year}-01 或 {year}-10")
    if len(year) == 4 and len(fraction) in (1, 2) and 1 <= int(fraction) <= 12 and fraction != "0":
        return f"{year}-{int(fraction):02d}"
    raise ValueError("参加工作时间应为年月，如 2010-07（请以文本填写）")
