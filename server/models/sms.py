"""SMS codes: the request to send one and the answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from server.models.common import PHONE_PATTERN, StrictModel, schema, sent_length
from server.services.accounts.identity import validate_cn_mobile
from server.services.accounts.sms import SmsPurpose

SmsPhone = Annotated[str, sent_length(20), StringConstraints(max_length=20), AfterValidator(validate_cn_mobile),
                     schema(pattern=PHONE_PATTERN)]


class SmsCodeIn(StrictModel):
    """Ask for a one-time code to be sent to a mainland mobile number."""

    phone: SmsPhone = Field(description="手机号")
    purpose: SmsPurpose = Field(
        description="用途：register 注册、login 登录、reset 重置密码、activate 激活账号、bind 绑定微信"
    )


class SmsCodeOut(BaseModel):
    """The code was sent."""

    expires_in: int = Field(description="验证码有效期（秒）")
    resend_after: int = Field(description="多少秒后可重新获取")
