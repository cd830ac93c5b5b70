"""WeChat ``access_token`` shared by every process through the database (collection ``wechat_tokens``).

WeChat gives an app one current access token at a time (a new fetch makes the previous one expire
within minutes) and limits fetches per day: N processes each fetching and caching their own would
fetch N times and invalidate each other. One document per appid holds the token and its expiry; a
process that needs a fresh one takes a short *fetch lease* on that document — only if the stored
token is still the one it found stale (so a token another process just fetched is used, not
fetched again) — fetches, stores, and releases. The others poll until the new token appears (or
the lease lapses, when its holder died, and one of them takes over).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

COLLECTION = "wechat_tokens"
MARGIN = timedelta(seconds=300)  # refresh this long before WeChat's expiry
FETCH_LEASE = timedelta(seconds=15)  # longer than one fetch with its timeouts

# fetch() -> (token, expires_in seconds), blocking work done by the caller's executor
Fetch = Callable[[], Awaitable[tuple[str, int]]]


class SharedAccessToken:
    """The current access token of ``appid``, fetched by one process at a time."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, poll_seconds: float = 0.1, wait_seconds: float = 30) -> None:
        self.collection = db[COLLECTION]
        self.poll_seconds = poll_seconds
        self.wait_seconds = wait_seconds
        self.owner = f"{os.getpid()}:{secrets.token_hex(4)}"

    async def get(self, appid: str, fetch: Fetch, *, stale: str | None = None) -> str:
        """A token valid for a while and other than ``stale`` (one WeChat refused): stored, or fetched now."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            now = datetime.now(UTC)
            doc = await self.collection.find_one({"_id": appid}) or {}
            token = doc.get("token")
            if token and token != stale and doc["expires_at"] > now + MARGIN:
                return str(token)
            if await self._take_lease(appid, token, now):
                return await self._fetch_and_store(appid, fetch)
            if time.monotonic() > deadline:
                raise TimeoutError("another process has been fetching the WeChat access token for too long")
            await asyncio.sleep(self.poll_seconds)

    async def _take_lease(self, appid: str, seen: str | None, now: datetime) -> bool:
        """The fetch lease, only while the stored token is still ``seen`` and nobody else fetches."""
        try:
            await self.collection.find_one_and_update(
                {"_id": appid, "token": seen,
                 "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}]},
                {"$set": {"lease_owner": self.owner, "lease_until": now + FETCH_LEASE}}, upsert=True)
        except DuplicateKeyError:
            return False  # the token changed meanwhile, or another process holds the lease
        return True  # the document matched (updated) or there was none (inserted): ours

    async def _fetch_and_store(self, appid: str, fetch: Fetch) -> str:
        try:
            token, expires_in = await fetch()
        except BaseException:
            await self.collection.update_one({"_id": appid, "lease_owner": self.owner},
                                              {"$set": {"lease_until": None}})
            raise
        await self.collection.update_one(
            {"_id": appid, "lease_owner": self.owner},
            {"$set": {"token": token, "expires_at": datetime.now(UTC) + timedelta(seconds=expires_in),
                      "fetched_by": self.owner, "lease_until": None}})
        return token
