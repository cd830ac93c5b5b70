"""SMS codes for registration, login, password reset, activation and WeChat binding."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.sms import SmsCodeIn, SmsCodeOut


class SmsCodesHandler(ApiHandler):
    """``POST /api/v1/auth/sms-codes``."""

    @endpoint("发送短信验证码", body=SmsCodeIn, response=SmsCodeOut, status=201,
              tags=["accounts"], errors=[429])
    async def post(self, body: SmsCodeIn) -> SmsCodeOut:
        """Send a one-time code; throttled per phone, per day and per network address."""
        sent = await self.services.sms_codes.send(body.phone, body.purpose, ip=self.client_ip)
        return SmsCodeOut(expires_in=sent.expires_in, resend_after=sent.resend_after)


routes = [
    (r"/api/v1/auth/sms-codes", SmsCodesHandler),
]
