"""Pieces shared by the models of every area."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")


class FieldError(ValueError):
    """A model-level check failed on one field; the 422 details name that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Unicode White_Space: what a body's ``str_strip_whitespace`` trims; trimmed the same way here,
# so that a query (not trimmed by its model) and a body agree, and the schema patterns can say so.
_WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def clean_text(value: str) -> str:
    """Trim white space, then refuse control and invisible direction characters (they spoof lists and logs)."""
    value = value.strip(_WHITE_SPACE)
    if _CONTROL.search(value):
        raise ValueError("不能包含控制字符")
    return value


def _required_text(value: str) -> str:
    value = clean_text(value)
    if not value:
        raise ValueError("必填项")
    return value


# ---- what the validators check, said in the JSON Schema -----------------------------------
# The validators stay the authority (they fold full-width forms, strip, give Chinese reasons);
# these patterns say the same rule to generated clients. Bodies are stripped of Unicode white
# space at both ends before any check (``str_strip_whitespace``), so the patterns allow it there.
_WS = r"\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CTRL = r"\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff"  # what ``clean_text`` refuses inside
TEXT_PATTERN = rf"^[{_WS}]*[^{_CTRL}]*[{_WS}]*$"
REQUIRED_TEXT_PATTERN = rf"^[{_WS}]*[^{_CTRL}{_WS}](?:[^{_CTRL}]*[^{_CTRL}{_WS}])?[{_WS}]*$"
BLANK_PATTERN = rf"^[{_WS}]*$"
NOT_BLANK_PATTERN = rf"^[{_WS}]*[^{_WS}]"
# After NFKC the validators drop white space (Python's ``\s``, spelled out: ECMA's differs), phone
# separators too, and upper-case.
_PY_WS = r"\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
PHONE_PATTERN = rf"^[{_PY_WS}-]*(?:(?:\+|00)?86[{_PY_WS}-]*)?1[3-9](?:[{_PY_WS}-]*[0-9]){{9}}[{_PY_WS}-]*$"
USCC_PATTERN = rf"^[{_PY_WS}]*(?:[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y][{_PY_WS}]*){{18}}$"  # GB 32100: no I O S V Z
ID_NUMBER_PATTERN = rf"^[{_PY_WS}]*(?:[0-9A-Za-z][{_PY_WS}]*){{5,18}}$"  # any document type; its rule: ``id_type``


def schema(**extra: object) -> Any:
    """JSON Schema keywords for a type, beside (not instead of) its validators."""
    return Field(json_schema_extra=extra)  # type: ignore[arg-type]


def sent_length(max_length: int) -> BeforeValidator:
    """Refuse text longer than ``max_length`` as sent, before it is trimmed: the schema's maxLength."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and len(value) > max_length:
            raise ValueError(f"长度不能超过 {max_length} 个字符")
        return value

    return BeforeValidator(check)


def required_text(max_length: int) -> Any:
    """Text that must not be blank and has no control characters (trimmed)."""
    return Annotated[str, sent_length(max_length), StringConstraints(max_length=max_length),
                     AfterValidator(_required_text), schema(minLength=1, pattern=REQUIRED_TEXT_PATTERN)]


def optional_text(max_length: int) -> Any:
    """Text without control characters (trimmed; may be empty)."""
    return Annotated[str, sent_length(max_length), StringConstraints(max_length=max_length),
                     AfterValidator(clean_text), schema(pattern=TEXT_PATTERN)]


PersonName = required_text(50)
OrgName = required_text(100)
ShortText = optional_text(200)


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, strings trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    """A page of a list: ``{"items": [...], "total": N}``."""

    items: list[T]
    total: int


class PageQuery(BaseModel):
    """``?page=1&page_size=20``."""

    page: int = Field(default=1, ge=1, le=100000)
    page_size: int = Field(default=20, ge=1, le=100)

    @property
    def skip(self) -> int:
        """Documents to skip."""
        return (self.page - 1) * self.page_size


class OkOut(BaseModel):
    """A plain acknowledgement."""

    ok: bool = True
