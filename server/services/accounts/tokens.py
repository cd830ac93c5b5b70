"""Login tokens: opaque 256-bit random strings; only their SHA-256 is stored.

Lifetimes (idle = unused for that long; absolute = since login):
- trainees and units, mostly on phones: 30 days idle, 90 days absolute;
- association staff, who can approve payments and certificates: 2 hours idle, 12 hours absolute.

A token with scope ``password_change`` comes from a login with a one-time
secret: it allows only the password change (and ``/me``, logout).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.services import Principal
from server.services.accounts.repository import AccountRepository

STAFF_ROLES = frozenset({"admin", "reviewer", "scanner"})


@dataclass(frozen=True)
class Lifetime:
    """How long a token lives."""

    idle: timedelta
    absolute: timedelta


PERSON_LIFETIME = Lifetime(idle=timedelta(days=30), absolute=timedelta(days=90))
STAFF_LIFETIME = Lifetime(idle=timedelta(hours=2), absolute=timedelta(hours=12))
# Refreshing the idle deadline on every request would be a write per request;
# once per this interval is enough.
TOUCH_INTERVAL = timedelta(minutes=5)


def lifetime_for(role: str) -> Lifetime:
    """Staff tokens are short, trainee and unit tokens long."""
    return STAFF_LIFETIME if role in STAFF_ROLES else PERSON_LIFETIME


def token_hash(token: str) -> str:
    """What is stored: a 256-bit random token needs no slow hash, SHA-256 is enough."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token as handed to the client, once."""

    token: str
    token_id: ObjectId
    expires_at: datetime
    scope: str = "full"


class TokenService:
    """Issue, resolve and revoke login tokens."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], now: Callable[[], datetime] | None = None
    ) -> None:
        self.tokens = db["tokens"]
        self.accounts = AccountRepository(db)
        self.now = now or (lambda: datetime.now(UTC))

    async def issue(self, account_id: ObjectId, role: str, *, scope: str = "full") -> IssuedToken:
        """A new token for the account."""
        token = secrets.token_urlsafe(32)
        now = self.now()
        life = lifetime_for(role)
        doc = {
            "_id": ObjectId(),
            "hash": token_hash(token),
            "account_id": account_id,
            "role": role,
            "scope": scope,
            "created_at": now,
            "touched_at": now,
            "idle_until": now + life.idle,
            "expires_at": now + life.absolute,
            "revoked_at": None,
        }
        await self.tokens.insert_one(doc)
        # Every login passes here: the purge of inactive accounts (services/privacy) reads this date.
        await self.accounts.update_one({"_id": account_id}, {"$set": {"last_login_at": now}})
        return IssuedToken(token, doc["_id"], doc["expires_at"], scope)

    async def resolve(self, token: str) -> Principal | None:
        """The principal of a live token, or None (unknown, revoked, expired)."""
        if len(token) > 128:
            return None
        now = self.now()
        doc = await self.tokens.find_one(
            {"hash": token_hash(token), "revoked_at": None, "expires_at": {"$gt": now},
             "idle_until": {"$gt": now}}
        )
        if doc is None:
            return None
        if now - doc["touched_at"] > TOUCH_INTERVAL:
            idle = lifetime_for(doc["role"]).idle
            await self.tokens.update_one(
                {"_id": doc["_id"]}, {"$set": {"touched_at": now, "idle_until": now + idle}}
            )
        return Principal(
            account_id=doc["account_id"], role=doc["role"], token_id=doc["_id"], scope=doc["scope"]
        )

    async def revoke(self, token_id: ObjectId) -> None:
        """Log this token out."""
        await self.tokens.update_one(
            {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": self.now()}}
        )

    async def revoke_all(
        self, account_id: ObjectId, *, except_id: ObjectId | None = None, at: datetime | None = None,
        session: AsyncClientSession | None = None,
    ) -> int:
        """Log the account out everywhere (but ``except_id``), in the caller's transaction if any; the number revoked."""
        query: dict[str, Any] = {"account_id": account_id, "revoked_at": None}
        if except_id is not None:
            query["_id"] = {"$ne": except_id}
        result = await self.tokens.update_many(query, {"$set": {"revoked_at": at or self.now()}}, session=session)
        return result.modified_count

    async def widen_scope(self, token_id: ObjectId) -> None:
        """After the password change, a one-time-secret login becomes a full one."""
        await self.tokens.update_one({"_id": token_id}, {"$set": {"scope": "full"}})
