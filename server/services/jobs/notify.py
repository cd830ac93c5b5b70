"""The notification outbox: ``notify`` jobs, enqueued with the action that causes them, sent by a runner.

An action (a cancel that frees a seat, …) enqueues the notification in its own transaction
or right after its decisive write, and never calls the notifier itself: a notifier that
is down cannot turn a successful action into an error, and the message goes out, with
retries and backoff, when it is back.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from server.integrations.notifier import Notifier
from server.services.jobs.queue import Job, JobQueue

KIND = "notify"


async def enqueue_notification(
    queue: JobQueue, account_id: ObjectId, kind: str, text: str, data: dict[str, Any] | None = None, *,
    dedupe_key: str | None = None, session: AsyncClientSession | None = None,
) -> ObjectId:
    """Queue one notification to ``account_id`` (``dedupe_key``: at most one job per key)."""
    payload = {"account_id": str(account_id), "kind": kind, "text": text, "data": data or {}}
    return await queue.enqueue(KIND, payload, dedupe_key=dedupe_key, session=session)


class NotificationOutbox:
    """A :class:`Notifier` whose ``notify`` only enqueues: what services are given to tell people things.

    The action that called it has already committed; the message is delivered by a runner, with
    retries, so a notifier that is down never turns that action into an error.
    """

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    async def notify(self, account_id: ObjectId, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        """Queue the notification (delivered by the ``notify`` job)."""
        await enqueue_notification(self.queue, account_id, kind, text, data)


def notify_handler(notifier: Notifier) -> Any:
    """The ``notify`` job: one call of the notifier, carrying the job id as ``notification_id``.

    Idempotent by job id: a retry after a crash between the delivery and ``done`` sends the
    same ``notification_id`` again, which a delivery channel (or the person's inbox) dedupes.
    """

    async def run(job: Job) -> dict[str, Any]:
        p = job.payload
        data = {**(p.get("data") or {}), "notification_id": str(job.id)}
        await notifier.notify(ObjectId(p["account_id"]), p["kind"], p["text"], data)
        return {"sent": True}

    return run
