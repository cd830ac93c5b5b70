"""The audit log: who did what to whom, when, from where — never personal data in full.

Every state change of the system records one entry here; later areas reuse
:meth:`AuditLog.record`. Subjects are masked by the caller (``mask_id_number``...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.services.batching import insert_batcher

log = logging.getLogger(__name__)


class AuditLog:
    """Append-only record of state changes."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], now: Callable[[], datetime] | None = None
    ) -> None:
        self.entries = db["audit_log"]
        self.now = now or (lambda: datetime.now(UTC))
        # Entries of the same moment go in one insert (services/batching.py); each caller still
        # waits for its own entry to be written.
        self._append = insert_batcher(self.entries, name="audit entries")

    async def record(
        self,
        action: str,
        *,
        actor_id: ObjectId | None,
        actor_role: str | None = None,
        subject: str | None = None,
        subject_id: ObjectId | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
        session: AsyncClientSession | None = None,
    ) -> None:
        """Append one entry; ``subject`` is a masked, human-readable name of what changed. With ``session``
        the entry is part of that transaction (it lands with the change it records, or not at all)."""
        entry = {
            "at": self.now(),
            "action": action,
            "actor_id": actor_id,
            "actor_role": actor_role,
            "subject": subject,
            "subject_id": subject_id,
            "ip": ip,
            "details": details or {},
        }
        if session is not None:
            await self.entries.insert_one(entry, session=session)
        else:
            await self._append(entry)
        log.info("audit %s actor=%s subject=%s", action, actor_id, subject)

    async def list(
        self, *, action: str | None = None, subject_id: ObjectId | None = None, actor_id: ObjectId | None = None,
        subject: str | None = None, since: datetime | None = None, until: datetime | None = None,
        skip: int = 0, limit: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first, with the total count for paging; every filter has an index led by it (then ``at``)."""
        query: dict[str, Any] = {}
        if action:
            query["action"] = action
        if subject_id:
            query["subject_id"] = subject_id
        if actor_id:
            query["actor_id"] = actor_id
        if subject:
            query["subject"] = subject
        if since or until:
            query["at"] = {k: v for k, v in (("$gte", since), ("$lt", until)) if v is not None}
        total = await self.entries.count_documents(query)
        cursor = self.entries.find(query).sort("at", -1).skip(skip).limit(limit)
        return await cursor.to_list(), total

    async def about_or_by(self, account_id: ObjectId) -> list[dict[str, Any]]:
        """Every entry about the person or by them, oldest first, without IPs (for the data export)."""
        query = {"$or": [{"subject_id": account_id}, {"actor_id": account_id}]}
        return await self.entries.find(query, {"ip": 0}).sort("at", 1).to_list()
