"""Notification wordings for association administrators: list, edit, restore the default."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.notify_texts import NotificationTextIn, NotificationTextList, NotificationTextOut

TAGS = ["admin"]
ADMIN = ["admin"]


class NotificationTextsHandler(ApiHandler):
    """``/api/v1/admin/notification-texts``."""

    @endpoint("通知模板：可修改文字的通知、当前文字、默认文字与可用占位符", response=NotificationTextList, roles=ADMIN,
              tags=TAGS)
    async def get(self) -> NotificationTextList:
        """Every editable kind."""
        return await self.services.notification_texts.list()


class NotificationTextHandler(ApiHandler):
    """``/api/v1/admin/notification-texts/{kind}``."""

    @endpoint("修改一种通知的文字（占位符须为该通知可用的）", body=NotificationTextIn, response=NotificationTextOut,
              roles=ADMIN, tags=TAGS, errors=[404, 422], fresh=True)
    async def put(self, kind: str, body: NotificationTextIn) -> NotificationTextOut:
        """Store the wording; audited as ``notification_text.update``."""
        assert self.principal is not None
        return await self.services.notification_texts.put(kind, body, by=self.principal, ip=self.client_ip)

    @endpoint("恢复一种通知的默认文字", response=NotificationTextOut, roles=ADMIN, tags=TAGS, errors=[404], fresh=True)
    async def delete(self, kind: str) -> NotificationTextOut:
        """Drop the stored wording; audited as ``notification_text.restore``."""
        assert self.principal is not None
        return await self.services.notification_texts.restore(kind, by=self.principal, ip=self.client_ip)


routes = [
    (r"/api/v1/admin/notification-texts", NotificationTextsHandler),
    (r"/api/v1/admin/notification-texts/(?P<kind>[^/]+)", NotificationTextHandler),
]
