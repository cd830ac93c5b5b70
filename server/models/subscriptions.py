"""WeChat subscribe-message consent: what the mini-program reports, what the person has accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.models.common import FieldError, StrictModel

SubscribeKind = Literal["payment_approved", "payment_rejected", "invoice_ready", "payment_deadline_near",
                        "results_published", "certificate_ready"]
# wx.requestSubscribeMessage's answer per template: accepted, declined this time, turned off for good
# (the "always decline" switch), filtered by WeChat (a template the app may not use).
SubscribeResult = Literal["accept", "reject", "ban", "filter"]
RESULTS = frozenset({"accept", "reject", "ban", "filter"})
TemplateKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

KIND_LABELS: dict[str, str] = {
    "payment_approved": "缴费审核通过",
    "payment_rejected": "缴费审核未通过",
    "invoice_ready": "发票已开具",
    "payment_deadline_near": "缴费截止提醒",
    "results_published": "考试成绩发布",
    "certificate_ready": "合格证已签发",
}


class SubscriptionsIn(StrictModel):
    """What ``wx.requestSubscribeMessage`` answered: ``results`` as it came (template id or kind →
    result; ``errMsg`` may stay in, it is ignored), or simply the accepted ``kinds``."""

    # The schema says what the validator below checks: at least one kind or one result.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"anyOf": [
        {"required": ["kinds"], "properties": {"kinds": {"minItems": 1}}},
        {"required": ["results"], "properties": {"results": {"minProperties": 1}}},
    ]})

    kinds: list[SubscribeKind] = Field(default_factory=list, max_length=10,
                                       description="接受的消息类型（每项计一次可发送额度）")
    results: dict[TemplateKey, str] = Field(
        default_factory=dict, max_length=10,
        # As the validator checks: each result one of RESULTS, except WeChat's own errMsg (any text).
        json_schema_extra={"properties": {"errMsg": {"type": "string"}},
                           "additionalProperties": {"type": "string", "enum": sorted(RESULTS)}},
        description="wx.requestSubscribeMessage 的返回结果：模板ID（或消息类型）→ accept/reject/ban/filter")

    @model_validator(mode="after")
    def _something(self) -> SubscriptionsIn:
        self.results.pop("errMsg", None)
        for key, value in self.results.items():
            if value not in RESULTS:
                raise FieldError("results", f"模板 {key[:64]} 的订阅结果无效（应为 accept、reject、ban 或 filter）")
        if not self.kinds and not self.results:
            raise FieldError("kinds", "请提供订阅结果")
        return self


class SubscriptionItem(BaseModel):
    """One kind of message: whether WeChat may carry it now, and how many times."""

    kind: SubscribeKind
    label: str
    available: bool = Field(description="是否已配置对应的订阅消息模板（未配置时以短信通知）")
    template_id: str | None = None
    remaining: int = Field(description="还可通过微信发送的次数（每次同意计一次，每发送一条消耗一次）")
    banned: bool = Field(description="已在微信中选择“总是拒绝”")
    last_result: SubscribeResult | None = None
    updated_at: datetime | None = None


class SubscriptionsOut(BaseModel):
    """What the person has accepted; messages beyond it go by SMS."""

    wechat_bound: bool = Field(description="账号是否已绑定微信（未绑定时全部以短信通知）")
    items: list[SubscriptionItem]
