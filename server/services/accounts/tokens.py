"""Login tokens: opaque 256-bit random strings; only their SHA-256 is stored.

Lifetimes (idle = unused for that long; absolute = since login):
- trainees and units, mostly on phones: 30 days idle, 90 days absolute;
- association staff, who can approve payments and certificates: 2 hours idle, 12 hours absolute.

A token with scope ``password_change`` comes from a login with a one-time
secret: it allows only the password change (and ``/me``, logout).

With a :class:`PrincipalCache` (the server's default, ``TOKEN_CACHE``), repeat requests of a
live token are answered from memory; every change of a token document (revocation, scope, touch)
evicts it in every process through a change stream (see principal_cache.py).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.services import Principal
from server.services.accounts.principal_cache import CachedToken, PrincipalCache
from server.services.accounts.repository import AccountRepository

STAFF_ROLES = frozenset({"admin", "reviewer", "scanner"})


@dataclass(frozen=True)
class Lifetime:
    """How long a token lives."""

    idle: timedelta
    absolute: timedelta


PERSON_LIFETIME = Lifetime(idle=timedelta(days=30), absolute=timedelta(days=90))
STAFF_LIFETIME = Lifetime(idle=timedelta(hours=2), absolute=timedelta(hours=12))
# Admin actions need a proof of password and second factor this recent (``fresh`` endpoints).
FRESH_WINDOW = timedelta(minutes=15)
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
        self, db: AsyncDatabase[dict[str, Any]], now: Callable[[], datetime] | None = None,
        *, cache: bool = False,
    ) -> None:
        self.tokens = db["tokens"]
        self.accounts = AccountRepository(db)
        self.now = now or (lambda: datetime.now(UTC))
        self.cache = PrincipalCache(self.tokens) if cache else None

    async def close(self) -> None:
        """Stop the cache's change stream (if any)."""
        if self.cache is not None:
            await self.cache.close()

    async def issue(
        self, account_id: ObjectId, role: str, *, scope: str = "full", authenticated_at: datetime | None = None
    ) -> IssuedToken:
        """A new token for the account; it counts as a fresh proof of identity (``authenticated_at``,
        now unless given): every caller has just checked the credentials."""
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
            "authenticated_at": authenticated_at or now,
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
        hashed = token_hash(token)
        cache = self.cache
        if cache is not None:
            cache.start()
            hit = cache.get(hashed, now, TOUCH_INTERVAL)
            if hit is not None:
                return hit
            generation = cache.generation
        doc = await self.tokens.find_one(
            {"hash": hashed, "revoked_at": None, "expires_at": {"$gt": now},
             "idle_until": {"$gt": now}}
        )
        if doc is None:
            return None
        principal = Principal(
            account_id=doc["account_id"], role=doc["role"], token_id=doc["_id"], scope=doc["scope"],
            authenticated_at=doc.get("authenticated_at"),
        )
        if now - doc["touched_at"] > TOUCH_INTERVAL:
            idle = lifetime_for(doc["role"]).idle
            await self.tokens.update_one(
                {"_id": doc["_id"]}, {"$set": {"touched_at": now, "idle_until": now + idle}}
            )
            return principal  # its change event is on the way: the next request caches it
        if cache is not None:
            cache.put(hashed, CachedToken(principal, doc["expires_at"], doc["idle_until"], doc["touched_at"]),
                      generation)
        return principal

    async def revoke(self, token_id: ObjectId) -> None:
        """Log this token out."""
        self._expect([token_id])
        result = await self.tokens.update_one(
            {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": self.now()}}
        )
        await self._evicted([token_id] if result.modified_count else [], also=[token_id])

    async def revoke_all(
        self, account_id: ObjectId, *, except_id: ObjectId | None = None, at: datetime | None = None,
        session: AsyncClientSession | None = None,
    ) -> int:
        """Log the account out everywhere (but ``except_id``), in the caller's transaction if any; the number revoked."""
        query: dict[str, Any] = {"account_id": account_id, "revoked_at": None}
        if except_id is not None:
            query["_id"] = {"$ne": except_id}
        ids = await self.tokens.distinct("_id", query, session=session) if self.cache is not None else []
        if session is None:
            self._expect(ids)
        result = await self.tokens.update_many(query, {"$set": {"revoked_at": at or self.now()}}, session=session)
        if self.cache is not None:
            self.cache.forget(account_id=account_id)
            if session is None:  # in a transaction the events come at its commit, after this returns
                await self._evicted(ids)
        return result.modified_count

    def _expect(self, token_ids: list[ObjectId]) -> None:
        if self.cache is not None:
            self.cache.expect(token_ids)

    async def _evicted(self, token_ids: list[ObjectId], *, also: Sequence[ObjectId] = ()) -> None:
        """Evict in this process at once, and wait until the change stream carried the changes of
        ``token_ids`` to the others (``also``: evicted, nothing to wait for: the write changed nothing)."""
        if self.cache is not None:
            for token_id in [*token_ids, *also]:
                self.cache.forget(token_id)
            await self.cache.settle(token_ids)
            self.cache.settle_nothing(also)

    async def widen_scope(self, token_id: ObjectId) -> None:
        """After the password change, a one-time-secret login becomes a full one."""
        self._expect([token_id])
        # Only the one-time-secret scope: a staff member's ``totp_setup`` token never becomes full this way.
        result = await self.tokens.update_one(
            {"_id": token_id, "scope": "password_change"}, {"$set": {"scope": "full"}}
        )
        await self._evicted([token_id] if result.modified_count else [], also=[token_id])

    async def reauthenticated(self, token_id: ObjectId) -> datetime:
        """The person proved password and second factor again on this token: it is fresh from now.

        Evicted from every process's cache like a revocation, so the next request anywhere sees it.
        """
        now = self.now()
        self._expect([token_id])
        result = await self.tokens.update_one(
            {"_id": token_id, "revoked_at": None}, {"$set": {"authenticated_at": now}}
        )
        await self._evicted([token_id] if result.modified_count else [], also=[token_id])
        return now
