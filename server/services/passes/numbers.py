"""Session numbers: the 4-byte number a pass token names its session by (``pass_session_numbers``).

A session id is 12 bytes; the token has room for 4. Each session gets the next number the first
time a pass of it is issued: ``{_id: number, session_id}``, both unique, so two processes
numbering sessions at once never share a number, and a session is numbered once.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

MAX_NUMBER = 2**32 - 1


class SessionNumbers:
    """Assign and look up session numbers."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.numbers = db["pass_session_numbers"]
        self._cache: dict[ObjectId, int] = {}

    async def number_of(self, session_id: ObjectId) -> int:
        """The session's number, assigned now if it has none."""
        if session_id in self._cache:
            return self._cache[session_id]
        while True:
            known = await self.numbers.find_one({"session_id": session_id})
            if known is not None:
                break
            last = await self.numbers.find_one({}, sort=[("_id", -1)])
            try:
                await self.numbers.insert_one({"_id": int(last["_id"]) + 1 if last else 1, "session_id": session_id})
            except DuplicateKeyError:
                continue  # the number or the session was taken meanwhile: look again
        self._cache[session_id] = int(known["_id"])
        return self._cache[session_id]

    async def known(self, session_id: ObjectId) -> int | None:
        """The session's number, or None when none of its passes was ever issued."""
        if session_id in self._cache:
            return self._cache[session_id]
        doc = await self.numbers.find_one({"session_id": session_id})
        if doc is None:
            return None
        self._cache[session_id] = int(doc["_id"])  # a session is numbered once, for good: safe to keep
        return self._cache[session_id]
