"""Unit verification, a person's units and consent, and the person's data rights (PIPL)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.models.common import NOT_BLANK_PATTERN, FieldError, PageQuery, ShortText, StrictModel

VerificationStatus = Literal["unverified", "pending", "verified", "rejected"]
VERIFICATION_LABELS: dict[str, str] = {
    "unverified": "未认证（请上传营业执照）",
    "pending": "审核中",
    "verified": "已认证",
    "rejected": "未通过",
}


class UnitVerificationOut(BaseModel):
    """A unit's verification: status, when the licence was sent, the decision and its reason."""

    status: VerificationStatus
    status_label: str
    has_licence: bool
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    reason: str | None = Field(default=None, description="未通过的原因")
    can_bind: bool = Field(description="是否可以绑定已注册学员（须已认证）")


class VerificationDecisionIn(StrictModel):
    """An administrator's decision on a pending unit; a rejection needs a reason."""

    # The schema says what the validator below checks: a rejection carries a non-blank reason.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"anyOf": [
        {"properties": {"decision": {"const": "approve"}}},
        {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": NOT_BLANK_PATTERN}}},
    ]})

    decision: Literal["approve", "reject"]
    reason: ShortText | None = Field(default=None, description="驳回原因（驳回时必填，会告知单位）")

    @model_validator(mode="after")
    def _reason_on_reject(self) -> VerificationDecisionIn:
        if self.decision == "reject" and not self.reason:
            raise FieldError("reason", "驳回时请填写原因")
        return self


class UnitVerificationQuery(PageQuery):
    """``?status=pending`` (default) lists the units waiting for a decision."""

    status: VerificationStatus = "pending"


class UnitVerificationItem(BaseModel):
    """A unit as the verifying administrator sees it (a USCC and a company name are public)."""

    id: str
    name: str
    uscc: str
    contact_name: str | None = None
    status: VerificationStatus
    status_label: str
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    reason: str | None = None


class UnitVerificationPage(BaseModel):
    """A page of units by verification status."""

    items: list[UnitVerificationItem]
    total: int


class MyUnitOut(BaseModel):
    """A unit the person belongs to, as the person sees it."""

    id: str
    name: str
    uscc: str
    bound_at: datetime | None = None
    created_by_unit: bool = Field(description="账号是否由该单位创建（单位录入的资料，单位可完整查看）")
    consent: bool = Field(description="是否已授权该单位查看和维护本人资料")
    consented_at: datetime | None = None
    unit_sees: Literal["full", "limited"] = Field(
        description="full：单位可查看和维护全部资料；limited：仅姓名和脱敏证件号")


class MyUnitList(BaseModel):
    """The units of the person (at most one today)."""

    items: list[MyUnitOut]
    total: int


PasswordText = Annotated[str, StringConstraints(max_length=128)]
SmsCodeText = Annotated[str, StringConstraints(max_length=10, strip_whitespace=True)]


class DeletionIn(StrictModel):
    """Re-proof for deleting one's account: the password, or an SMS code (purpose ``delete_account``)."""

    password: PasswordText | None = Field(default=None, description="登录密码")
    sms_code: SmsCodeText | None = Field(default=None, description="发送到本人手机的验证码（用途 delete_account）")
    confirm: Literal[True] = Field(description="确认注销：必须为 true")

    @model_validator(mode="after")
    def _one_proof(self) -> DeletionIn:
        if not self.password and not self.sms_code:
            raise FieldError("password", "请输入登录密码或短信验证码")
        return self


class DeletionOut(BaseModel):
    """What happened to the account."""

    deleted_at: datetime
    kept: list[str] = Field(description="依法保留（已去除个人信息）的记录类型")


class PurgeQuery(BaseModel):
    """``?dry_run=true`` counts without changing anything."""

    dry_run: bool = False


class PurgeOut(BaseModel):
    """The inactive accounts purged (or that would be, in a dry run)."""

    dry_run: bool
    retention_days: int
    cutoff: datetime
    count: int
    account_ids: list[str]
