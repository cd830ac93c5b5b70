"""Notifications to people: one small protocol and its adapters.

A notification says that something happened to a person's enrollment (a seat
freed for them, a payment reviewed, a pass issued, a certificate ready). The
real delivery (``NOTIFY_BACKEND=wechat_sms``) is a WeChat subscribe message where
the trainee agreed, SMS otherwise: it needs the database (who accepted what, the
phone on record), so it is built with the services, see
:class:`server.services.jobs.notify.PersonalNotifier` and its adapters
:mod:`server.integrations.wechat_subscribe` and :mod:`server.integrations.sms`.
``FileNotifier`` (``NOTIFY_BACKEND=file``) appends one JSON line per notification
to ``NOTIFY_OUTBOX`` for development and tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bson import ObjectId

from server.integrations.outbox import JsonLinesOutbox

if TYPE_CHECKING:
    from server.config import Settings


class Notifier(Protocol):
    """Tells an account that something happened."""

    async def notify(self, account_id: ObjectId, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        """Deliver ``text`` (Chinese) about ``kind`` (stable English) to the account."""
        ...


class FileNotifier:
    """Appends ``{"account_id", "kind", "text", "data", "at"}`` lines to a file."""

    def __init__(self, path: Path) -> None:
        self.outbox = JsonLinesOutbox(path)

    async def notify(self, account_id: ObjectId, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        """Append the notification to the outbox file."""
        await self.outbox.append({"account_id": str(account_id), "kind": kind, "text": text, "data": data or {}})


def make_notifier(settings: Settings) -> Notifier:
    """The file notifier (``NOTIFY_BACKEND=file``); ``wechat_sms`` is built by ``services.jobs.notify.build_notifier``."""
    if settings.notify_backend == "file":
        return FileNotifier(settings.notify_outbox)
    raise ValueError(f"unknown NOTIFY_BACKEND {settings.notify_backend!r}")
