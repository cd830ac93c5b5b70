"""Pieces shared by the models of every area."""

from __future__ import annotations

import re
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")


class FieldError(ValueError):
    """A model-level check failed on one field; the 422 details name that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def clean_text(value: str) -> str:
    """Refuse control and invisible direction characters (they spoof lists and logs)."""
    if _CONTROL.search(value):
        raise ValueError("不能包含控制字符")
    return value.strip()


def _required_text(value: str) -> str:
    value = clean_text(value)
    if not value:
        raise ValueError("必填项")
    return value


PersonName = Annotated[str, StringConstraints(max_length=50), AfterValidator(_required_text)]
OrgName = Annotated[str, StringConstraints(max_length=100), AfterValidator(_required_text)]
ShortText = Annotated[str, StringConstraints(max_length=200), AfterValidator(clean_text)]


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
