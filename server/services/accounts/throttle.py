"""Rate limits and cooldowns kept in MongoDB, so they hold across processes.

Two shapes of throttle, both on the ``rate_limits`` collection:

- :meth:`RateLimiter.hit` counts hits in a fixed window (document
  ``_id = "<key>|<window index>"``); each ``$inc`` (or the insert of count 1)
  is atomic and yields a distinct count, so with a limit of N exactly N of any
  number of concurrent hits pass.
- :meth:`RateLimiter.cooldown` refuses a key again within N seconds
  (document ``_id = "<key>|cooldown"``, guarded by ``until <= now``).

Keys end up stored in the database as ``_id``: callers build them from blind
indexes (``FieldCipher.blind_index``), never from a plain phone or ID number.
TTL deletion is eventual, so expired documents are also ignored by the code:
the window index in ``_id`` does it for hits, the ``until`` guard for cooldowns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors

COLLECTION = "rate_limits"


class RateLimiter:
    """Fixed-window counters and cooldowns shared by every process through MongoDB.

    Keys are stored in clear as ``_id``: build them from blind indexes, never from a
    plain phone, ID number or other personal data.
    """

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, now: Callable[[], datetime] | None = None
    ) -> None:
        self.collection = db[COLLECTION]
        self.now = now or (lambda: datetime.now(UTC))

    async def hit(
        self,
        key: str,
        *,
        limit: int,
        window_seconds: int,
        message: str | None = None,
        offset_seconds: int = 0,
    ) -> int:
        """Count one hit of ``key`` in the current window; 429 once the count exceeds ``limit``.

        ``offset_seconds`` shifts the window boundaries from UTC, e.g. ``8 * 3600``
        for a day that starts at midnight in Asia/Shanghai. Returns the count.
        """
        now = self.now()
        doc_id, window_end = _window(key, now, window_seconds, offset_seconds)
        count = await self._increment(doc_id, window_end)
        if count > limit:
            raise _throttled(window_end - now, message)
        return count

    async def undo(self, key: str, *, window_seconds: int, offset_seconds: int = 0) -> None:
        """Take back one hit of the current window (e.g. a successful login does not count)."""
        doc_id, _ = _window(key, self.now(), window_seconds, offset_seconds)
        await self.collection.update_one({"_id": doc_id, "count": {"$gt": 0}}, {"$inc": {"count": -1}})

    async def clear(self, key: str, *, window_seconds: int, offset_seconds: int = 0) -> None:
        """Forget every hit of the current window."""
        doc_id, _ = _window(key, self.now(), window_seconds, offset_seconds)
        await self.collection.delete_one({"_id": doc_id})

    async def cooldown(self, key: str, seconds: int, message: str | None = None) -> None:
        """Pass at most once per ``seconds`` for ``key``; 429 with the remaining time otherwise."""
        doc_id = f"{key}|cooldown"
        for _ in range(2):
            now = self.now()
            until = now + timedelta(seconds=seconds)
            try:
                # Matches only a missing or elapsed cooldown; a live one makes the upsert
                # insert a second document with the same _id, which the unique _id refuses.
                await self.collection.update_one(
                    {"_id": doc_id, "until": {"$lte": now}},
                    {"$set": {"until": until, "expires_at": until}},
                    upsert=True,
                )
                return
            except DuplicateKeyError:
                current = await self.collection.find_one({"_id": doc_id})
                if current is not None and current["until"] > now:
                    raise _throttled(current["until"] - now, message) from None
                # The live cooldown just elapsed (or was cleared) in between: try once more.
        raise _throttled(timedelta(seconds=1), message)

    async def clear_cooldown(self, key: str) -> None:
        """Lift the cooldown of ``key`` (e.g. when the guarded action failed)."""
        await self.collection.delete_one({"_id": f"{key}|cooldown"})

    async def _increment(self, doc_id: str, expires_at: datetime) -> int:
        """Add one to the window's counter and return the new count, atomically.

        Not a single ``find_one_and_update(upsert=True)``: under concurrent upserts
        SecantusDB 0.7 applies the increment but may answer no document, and the
        count is then unknown. An increment of an existing document, else an insert
        with count 1, are both unambiguous; a lost insert race falls back to the increment.
        """
        for _ in range(3):
            doc = await self.collection.find_one_and_update(
                {"_id": doc_id}, {"$inc": {"count": 1}}, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                return int(doc["count"])
            try:
                await self.collection.insert_one({"_id": doc_id, "count": 1, "expires_at": expires_at})
                return 1
            except DuplicateKeyError:
                continue  # another hit created the window first: increment it
        raise RuntimeError(f"rate limit window {doc_id!r} keeps disappearing")


def _window(key: str, now: datetime, window_seconds: int, offset_seconds: int) -> tuple[str, datetime]:
    """The document id of the window containing ``now``, and when that window ends."""
    if window_seconds <= 0:
        raise ValueError("window_seconds must be positive")
    shifted = math.floor(now.timestamp()) + offset_seconds
    index = shifted // window_seconds
    end = datetime.fromtimestamp((index + 1) * window_seconds - offset_seconds, UTC)
    return f"{key}|{index}", end


def _throttled(remaining: timedelta, message: str | None) -> errors.AppError:
    seconds = max(1, math.ceil(remaining.total_seconds()))
    return errors.throttled(seconds, message) if message else errors.throttled(seconds)
