"""Notification wordings as the administrator edits them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from server.models.common import StrictModel


class PlaceholderOut(BaseModel):
    """A placeholder the wording may use, written ``{名称}``."""

    name: str
    description: str


class NotificationTextOut(BaseModel):
    """One kind of notification: its current wording, the code's default, the placeholders it may use."""

    kind: str
    label: str = Field(description="通知名称")
    text: str = Field(description="当前使用的文字")
    default_text: str = Field(description="系统默认文字")
    customized: bool = Field(description="是否已修改（false：使用默认文字）")
    updated_at: datetime | None = None
    placeholders: list[PlaceholderOut]


class NotificationTextList(BaseModel):
    """Every notification whose wording may be edited."""

    items: list[NotificationTextOut]


class NotificationTextIn(StrictModel):
    """A new wording; placeholders are checked against the kind's."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="通知文字（1–300 字，占位符写成 {名称}）")
