"""Accounts as association administrators see them: look one up, disable, re-enable; staff; password reset."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from server.models.accounts import LoginAccount, Phone, Role, StaffRole, Username
from server.models.common import PageQuery, PersonName, StrictModel

AccountStatus = Literal["active", "pending", "disabled"]

STATUS_LABELS: dict[str, str] = {"active": "正常", "disabled": "已停用", "pending": "未激活"}


class AdminAccountQuery(BaseModel):
    """``?account=``: what the person logs in with, spelled as they might type it."""

    account: LoginAccount = Field(
        description="身份证号 / 统一社会信用代码 / 协会用户名（与登录相同的规范化：空格、全角字符、小写 x 均可）"
    )

    @field_validator("account")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():  # the schema's pattern: only blanks is no account
            raise ValueError("请输入账号")
        return value


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


class StaffCreateIn(StrictModel):
    """A new staff member: no password here — they activate the account themselves with an SMS code."""

    username: Username = Field(description="登录用户名（小写字母开头，3–32 位小写字母、数字、_ . -）")
    role: StaffRole = Field(description="admin 管理员 / reviewer 审核员 / scanner 验证员")
    name: PersonName = Field(description="姓名")
    phone: Phone = Field(description="本人手机号（激活账号时接收验证码）")


class StaffAccountQuery(PageQuery):
    """Filters of the staff list."""

    role: StaffRole | None = None
    status: AccountStatus | None = None


class StaffAccountItem(AdminAccountItem):
    """A staff account as the administrator sees it."""

    username: str


class StaffAccountPage(BaseModel):
    """A page of staff accounts, newest first."""

    items: list[StaffAccountItem]
    total: int


class PasswordResetSentOut(BaseModel):
    """A reset code went to the account's phone on record; the person sets a new password with 忘记密码."""

    phone_masked: str = Field(description="接收验证码的手机号（脱敏）")
    expires_in: int = Field(description="验证码有效期（秒）")
