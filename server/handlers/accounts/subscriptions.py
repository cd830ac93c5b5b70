"""``/api/v1/me/subscriptions``: which WeChat subscribe messages the person accepted."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.subscriptions import SubscriptionsIn, SubscriptionsOut

TAGS = ["notifications"]
ROLES = ["trainee", "unit"]


class SubscriptionsHandler(ApiHandler):
    """``/api/v1/me/subscriptions``."""

    @endpoint("查看已授权的微信订阅消息（每次同意可发送一条；其余以短信通知）", response=SubscriptionsOut,
              roles=ROLES, tags=TAGS)
    async def get(self) -> SubscriptionsOut:
        """What the caller accepted, per kind of message."""
        assert self.principal is not None
        return await self.services.subscriptions.show(self.principal)

    @endpoint("报告 wx.requestSubscribeMessage 的结果（接受的模板各计一次发送额度）", body=SubscriptionsIn,
              response=SubscriptionsOut, roles=ROLES, tags=TAGS, errors=[422])
    async def post(self, body: SubscriptionsIn) -> SubscriptionsOut:
        """Record the caller's answers to the subscribe prompt."""
        assert self.principal is not None
        return await self.services.subscriptions.record(self.principal, body)


routes = [
    (r"/api/v1/me/subscriptions", SubscriptionsHandler),
]
