"""Sending SMS: one small protocol and its adapters.

``FileSmsSender`` is the development and test backend (``SMS_BACKEND=file``):
it appends one JSON line per message to ``SMS_OUTBOX``, the outbox described in
the API outline. ``SMS_BACKEND=tencent`` is Tencent Cloud SMS
(:mod:`server.integrations.tencent_sms`), the production backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from server.integrations.outbox import JsonLinesOutbox

if TYPE_CHECKING:
    from server.config import Settings


class SmsSender(Protocol):
    """Delivers one text message to a mainland mobile number."""

    async def send(self, *, phone: str, purpose: str, code: str, text: str) -> None:
        """Send ``text``; ``purpose`` and ``code`` are there for backends that template or record them."""
        ...


class FileSmsSender:
    """Appends each message as a JSON line ``{"phone", "purpose", "code", "text", "at"}``."""

    def __init__(self, path: Path) -> None:
        self.outbox = JsonLinesOutbox(path)

    async def send(self, *, phone: str, purpose: str, code: str, text: str) -> None:
        """Append the message to the outbox file."""
        await self.outbox.append({"phone": phone, "purpose": purpose, "code": code, "text": text})


def make_sms_sender(settings: Settings) -> SmsSender:
    """The sender chosen by ``SMS_BACKEND``."""
    if settings.sms_backend == "file":
        return FileSmsSender(settings.sms_outbox)
    if settings.sms_backend == "tencent":
        from server.integrations.tencent_sms import make_tencent_sender

        return make_tencent_sender(settings)
    raise ValueError(f"unknown SMS_BACKEND {settings.sms_backend!r}")
