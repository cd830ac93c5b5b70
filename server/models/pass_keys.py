"""The pass signing keys as administrators see them (never a private key)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class PassKeyOut(BaseModel):
    """One signing key: its number, when it was made and retired, how long its passes stay valid."""

    kid: int = Field(description="密钥编号（听课证二维码中的 kid）")
    created_at: datetime
    retired_at: datetime | None = Field(default=None, description="停用时间（轮换后不再签发新听课证）")
    valid_until: datetime | None = Field(default=None, description="用它签发的听课证有效至（此前仍可验证）")
    current: bool = Field(description="当前用于签发的密钥")


class PassKeyPage(BaseModel):
    """Every signing key, newest first, and where the current one comes from."""

    items: list[PassKeyOut]
    source: Literal["env", "file"] = Field(description="env：由 PASS_SIGNING_KEY 设置，不能在此轮换；file：密钥文件")
    rotatable: bool
