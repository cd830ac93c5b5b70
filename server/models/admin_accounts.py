"""Accounts as association administrators see them: look one up, disable, re-enable."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from server.models.accounts import LoginAccount, Role

AccountStatus = Literal["active", "pending", "disabled"]

STATUS_LABELS: dict[str, str] = {"active": "正常", "disabled": "已停用", "pending": "未激活"}


class AdminAccountQuery(BaseModel):
    """``?account=``: what the person logs in with, spelled as they might type it."""

    account: LoginAccount = Field(
        description="身份证号 / 统一社会信用代码 / 协会用户名（与登录相同的规范化：空格、全角字符、小写 x 均可）"
    )


class AdminAccountItem(BaseModel):
    """One account for the administrator: personal data masked."""

    id: str
    role: Role
    role_label: str
    status: AccountStatus
    status_label: str = Field(description="正常 / 已停用 / 未激活")
    name: str = Field(description="显示名称（姓名、单位名称或协会账号名称）")
    account_masked: str = Field(description="登录账号，证件号码脱敏（统一社会信用代码、协会用户名原样）")
    phone_masked: str | None = None
    created_at: datetime


class AdminAccountPage(BaseModel):
    """The lookup's answer: at most one account (an unknown account: no items)."""

    items: list[AdminAccountItem]
    total: int
