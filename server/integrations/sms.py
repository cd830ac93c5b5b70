"""Sending SMS: one small protocol and its adapters.

``FileSmsSender`` is the development and test backend (``SMS_BACKEND=file``):
it appends one JSON line per message to ``SMS_OUTBOX``, the outbox described in
the API outline. A real provider is one more class with the same ``send``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

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
        self.path = Path(path)
        # One line per write call in append mode keeps lines whole; the lock keeps the
        # writes of concurrent requests of this process from interleaving in the thread pool.
        self._lock = asyncio.Lock()

    async def send(self, *, phone: str, purpose: str, code: str, text: str) -> None:
        """Append the message to the outbox file."""
        line = json.dumps(
            {"phone": phone, "purpose": purpose, "code": code, "text": text,
             "at": datetime.now(UTC).isoformat()},
            ensure_ascii=False,
        ) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)


def make_sms_sender(settings: Settings) -> SmsSender:
    """The sender chosen by ``SMS_BACKEND``."""
    if settings.sms_backend == "file":
        return FileSmsSender(settings.sms_outbox)
    # A real provider (e.g. Aliyun or Tencent Cloud SMS) becomes one more class above
    # and one more branch here, with its credentials in the settings.
    raise ValueError(f"unknown SMS_BACKEND {settings.sms_backend!r}")
