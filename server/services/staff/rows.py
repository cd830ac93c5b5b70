"""Checking the rows of a staff import sheet: pure, no database (runs in the executor).

Each row becomes a :class:`CheckedRow`: the validated :class:`StaffCreate` or
the per-field Chinese messages. Excel's ways of typing values are folded first
(男/女, the ID type's Chinese name, date cells, numbers typed as numbers).
Duplicates inside the file mark every occurrence: which one is right is the
unit's call, not ours. The template's example row (its ID number is the public
example number of GB 11643) is recognised and skipped, never imported. Text
echoed back from the sheet (the name) is cut to ``ECHO_MAX`` characters: a
verdict never carries a whole cell.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from server.documents.staff_xlsx import EXAMPLE_ID
from server.models.common import FieldError
from server.models.staff import StaffCreate, birth_from_cell, work_start_from_cell
from server.services.accounts.identity import (
    ID_TYPE_LABELS,
    IdType,
    mask_id_number,
    parse_resident_id,
    validate_id_number,
)

_SEX = {"男": "male", "女": "female", "male": "male", "female": "female"}
_ID_TYPES = {label: str(kind) for kind, label in ID_TYPE_LABELS.items()} | {"身份证": "resident_id"}
_NUMBER_FIELDS = ("phone", "postcode")
ECHO_MAX = 50  # characters of a cell echoed back in a verdict (the name)
DUPLICATES_LISTED = 5  # other rows named in a duplicate message

_MESSAGES = {
    "missing": "必填项",
    "literal_error": "取值无效",
    "enum": "取值无效",
    "string_too_long": "内容过长",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "string_type": "应为文本",
}


@dataclass
class CheckedRow:
    """One sheet row after the checks that need no database."""

    row: int
    data: StaffCreate | None
    errors: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    id_number: str | None = None  # normalized, only when the number itself is valid
    example: bool = False  # the template's example row: skipped, never imported

    @property
    def id_masked(self) -> str | None:
        """The masked number for the preview."""
        return mask_id_number(self.id_number) if self.id_number else None


def check_rows(rows: list[tuple[int, dict[str, Any]]]) -> list[CheckedRow]:
    """Validate every row and mark duplicate ID numbers inside the file."""
    checked = [check_row(number, raw) for number, raw in rows]
    seen: dict[str, list[CheckedRow]] = defaultdict(list)
    for row in checked:
        if row.id_number:
            seen[row.id_number].append(row)
    for same in seen.values():
        if len(same) > 1:
            for row in same:
                others = [str(r.row) for r in same if r is not row]
                listed = "、".join(others[:DUPLICATES_LISTED])
                more = f" 等 {len(others)} 行" if len(others) > DUPLICATES_LISTED else " 行"
                row.errors["id_number"] = f"与第 {listed}{more}的证件号码重复"
                row.data = None
    return checked


def check_row(number: int, raw: dict[str, Any]) -> CheckedRow:
    """One row: fold Excel's values, then the same model as the 单独添加 form."""
    values, errors = _fold(raw)
    name = echo(values["name"]) if isinstance(values.get("name"), str) else None
    if is_example(values.get("id_number")):
        return CheckedRow(number, None, {}, name, None, example=True)
    try:
        data = StaffCreate.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            path, message = _field_message(error)
            errors.setdefault(path, message)
        data = None
    if errors:
        return CheckedRow(number, None, errors, name, _valid_id(values, errors))
    assert data is not None
    return CheckedRow(number, data, {}, data.name, data.id_number)


def echo(text: str) -> str:
    """Cell text as echoed back in a verdict: at most ``ECHO_MAX`` characters."""
    return text if len(text) <= ECHO_MAX else text[:ECHO_MAX] + "…"


def is_example(id_number: Any) -> bool:
    """Whether a row carries the template's example ID number (the row is skipped)."""
    if not isinstance(id_number, str):
        return False
    return unicodedata.normalize("NFKC", id_number).replace(" ", "").upper() == EXAMPLE_ID


def _fold(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if key == "sex":
            value = _SEX.get(str(value).strip(), value)
        elif key == "id_type":
            value = _ID_TYPES.get(str(value).strip(), value)
        elif key == "id_number" and not isinstance(value, str):
            errors["id_number"] = "证件号码须以文本格式填写（数字格式会丢失位数）"
            continue
        elif key == "birth_date":
            try:
                value = birth_from_cell(value)
            except ValueError as exc:
                errors["birth_date"] = str(exc)
                continue
        elif key == "work_start":
            try:
                value = work_start_from_cell(value)
            except ValueError as exc:
                errors["work_start"] = str(exc)
                continue
        elif key in _NUMBER_FIELDS and isinstance(value, (int, float)) and float(value).is_integer():
            value = str(int(value))
        elif not isinstance(value, (str, date, datetime)):
            value = str(value)
        values[key] = value
    _settle_birth_month(values, errors)
    return values, errors


def _settle_birth_month(values: dict[str, Any], errors: dict[str, str]) -> None:
    """A 出生年月 of year and month only: checked against a resident ID, which gives the full date.

    Other documents do not encode the birth date, and the account needs the day: there a
    month alone is refused with the reason (no day is made up).
    """
    month = values.get("birth_date")
    if not isinstance(month, str):
        return
    del values["birth_date"]
    if str(values.get("id_type") or IdType.resident) != IdType.resident:
        errors["birth_date"] = "证件类型不是居民身份证时，出生年月须填写到日，如 1988-07-15"
        return
    try:
        born = parse_resident_id(validate_id_number(IdType.resident, str(values.get("id_number")))).birth_date
    except ValueError:
        return  # the ID number's own error is reported by the model
    if born.strftime("%Y-%m") != month:
        errors["birth_date"] = "出生年月与居民身份证号码不一致"


def _field_message(error: Any) -> tuple[str, str]:
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return cause.field, str(cause)
    path = ".".join(str(p) for p in error["loc"]) or "row"
    if path == "email":
        return path, "邮箱格式不正确"
    if error["type"] in ("value_error", "assertion_error"):
        return path, str(cause or error["msg"]).removeprefix("Value error, ")
    return path, _MESSAGES.get(error["type"], "格式不正确")


def _valid_id(values: dict[str, Any], errors: dict[str, str]) -> str | None:
    """The normalized ID number when it is valid by itself (for duplicates and the preview)."""
    if "id_number" in errors or not isinstance(values.get("id_number"), str):
        return None
    try:
        return validate_id_number(values.get("id_type") or "resident_id", values["id_number"])
    except (ValueError, KeyError):
        return None
