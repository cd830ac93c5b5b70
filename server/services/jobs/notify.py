"""The notification outbox: ``notify`` jobs, enqueued with the action that causes them, sent by a runner.

An action (a cancel that frees a seat, …) enqueues the notification in its own transaction
or right after its decisive write, and never calls the notifier itself: a notifier that
is down cannot turn a successful action into an error, and the message goes out, with
retries and backoff, when it is back.

The delivery side (``NOTIFY_BACKEND=wechat_sms``, :class:`PersonalNotifier`) picks one channel
per person and message: a WeChat subscribe message when the account is bound to WeChat, a
template is configured for the kind and the person has an acceptance left (one is consumed), else
an SMS to the phone on record. A WeChat refusal (43101: no acceptance left, …) falls back to SMS
at once; WeChat down raises, so the runner retries with backoff, and after ``WECHAT_TRIES`` failed
attempts the SMS goes instead (a message is late, never lost to a long WeChat outage).

Owns ``notify_deliveries``: one document per notification (``_id`` = the ``notify`` job's id,
its ``notification_id``) — the channel chosen, and ``sent`` once delivered. A retry of a job
whose message already went out sends nothing; a retry after a WeChat failure uses the same
channel and the acceptance already consumed for it. (A crash between the provider's answer and
the ``sent`` mark sends the message again: at least once, never silently lost.) Two runners
holding the same job at once (a lapsed lease) do not both send: the sender claims the record
under a short lease (``sending_until``), the other one's attempt fails and is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.integrations.notifier import Notifier, make_notifier
from server.integrations.sms import SmsSender, make_sms_sender
from server.integrations.wechat_subscribe import (
    SubscribeMessenger,
    SubscribeRefused,
    SubscribeUnavailable,
    make_subscribe_messenger,
    mask_openid,
    template_data,
    template_page,
)
from server.services.accounts.identity import mask_phone
from server.services.jobs.queue import Job, JobQueue
from server.services.wechat_tokens import SharedAccessToken

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from server.config import Settings
    from server.services.accounts.accounts import AccountService
    from server.services.accounts.subscriptions import SubscriptionService
    from server.services.notify_texts import NotificationTexts

log = logging.getLogger(__name__)

KIND = "notify"
DELIVERIES = "notify_deliveries"
DELIVERY_KEPT = timedelta(days=30)  # a delivery record outlives any retry of its job (TTL on expires_at)
REFUSED_BY_WECHAT = 43101  # the person has no acceptance left for the template
WECHAT_TRIES = 4  # WeChat unreachable this many attempts (10+20+40 s of backoff by default): send the SMS instead
SENDING_LEASE = timedelta(minutes=2)  # one runner sends a notification at a time; longer than any send


class DeliveryInProgress(Exception):  # noqa: N818 — a retry signal for the job runner
    """Another runner is sending this notification right now (a lapsed job lease): retry later."""


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


def notify_handler(notifier: Notifier, *, texts: NotificationTexts | None = None) -> Any:
    """The ``notify`` job: one call of the notifier, carrying the job id as ``notification_id``.

    ``texts``: the association's edited wordings, rendered from the job's data (the enqueued text otherwise).

    Idempotent by job id: a retry after a crash between the delivery and ``done`` sends the
    same ``notification_id`` again, which a delivery channel (or the person's inbox) dedupes.
    """

    async def run(job: Job) -> dict[str, Any]:
        p = job.payload
        data = {**(p.get("data") or {}), "notification_id": str(job.id)}
        text = await texts.render(p["kind"], p.get("data") or {}, p["text"]) if texts else p["text"]
        await notifier.notify(ObjectId(p["account_id"]), p["kind"], text, data)
        return {"sent": True}

    return run


class PersonalNotifier:
    """A :class:`Notifier` that delivers to the person: WeChat subscribe message if accepted, else SMS.

    Called by the ``notify`` job with ``data["notification_id"]`` (the job id): the delivery is
    idempotent by that id (see the module docstring).
    """

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, accounts: AccountService, subscriptions: SubscriptionService,
        wechat: SubscribeMessenger, sms: SmsSender, templates: dict[str, str], page: str,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.deliveries = db[DELIVERIES]
        self.accounts = accounts
        self.subscriptions = subscriptions
        self.wechat = wechat
        self.sms = sms
        self.templates = templates
        self.page = page
        self.now = now or (lambda: datetime.now(UTC))

    async def notify(self, account_id: ObjectId, kind: str, text: str, data: dict[str, Any] | None = None) -> None:
        """Deliver once per ``notification_id``: WeChat when accepted, SMS otherwise; raise to be retried."""
        data = dict(data or {})
        nid = str(data.pop("notification_id", None) or ObjectId())
        record = await self.deliveries.find_one({"_id": nid})
        if record is not None and record["status"] != "pending":
            return  # sent (or undeliverable) already: a replay sends nothing
        account = await self.accounts.accounts.find_one({"_id": account_id})
        if account is None or account.get("status") == "deleted":
            await self._settle(nid, account_id, kind, "undeliverable", "sms", reason="no_account")
            return
        openid = (account.get("wechat") or {}).get("openid")
        message = self._wechat_message(nid, kind, data) if openid else None
        if record is None:
            record = await self._choose(nid, account_id, kind, openid if message else None)
        if not await self._claim(nid):
            return
        try:
            await self._deliver(nid, account, kind, text, record["channel"], openid, message)
        except BaseException:
            await self.deliveries.update_one({"_id": nid}, {"$unset": {"sending_until": ""}})  # the retry may send
            raise

    async def _claim(self, nid: str) -> bool:
        """Become the one sender of a pending notification (under a short lease).

        False when it was settled meanwhile; :class:`DeliveryInProgress` (the job is retried
        later) when another runner is sending it right now.
        """
        now = self.now()
        claimed = await self.deliveries.update_one(
            {"_id": nid, "status": "pending", "$or": [{"sending_until": None}, {"sending_until": {"$lt": now}}]},
            {"$set": {"sending_until": now + SENDING_LEASE}})
        if claimed.modified_count == 1:
            return True
        current = await self.deliveries.find_one({"_id": nid}, {"status": 1})
        if current is not None and current["status"] != "pending":
            return False
        raise DeliveryInProgress(f"notification {nid} is being sent by another runner")

    async def _deliver(self, nid: str, account: dict[str, Any], kind: str, text: str, channel: str,
                       openid: str | None, message: tuple[dict[str, Any], str] | None) -> None:
        account_id = account["_id"]
        if channel == "wechat" and openid and message:
            try:
                await self.wechat.send(openid, self.templates[kind], *message)
            except SubscribeUnavailable:
                failed = await self.deliveries.find_one_and_update(
                    {"_id": nid}, {"$inc": {"wechat_failures": 1}}, return_document=ReturnDocument.AFTER)
                if failed is None or failed["wechat_failures"] < WECHAT_TRIES:
                    raise  # the runner retries with backoff
                log.warning("notification %s to %s: WeChat unavailable %d times, by SMS instead", nid,
                            mask_openid(openid), failed["wechat_failures"])
                await self.deliveries.update_one({"_id": nid}, {"$set": {"channel": "sms", "updated_at": self.now()}})
            except SubscribeRefused as refused:
                if refused.errcode == REFUSED_BY_WECHAT:
                    await self.subscriptions.forget(account_id, kind)
                log.info("notification %s to %s: WeChat refused (%s), by SMS instead", nid, mask_openid(openid),
                         refused.errcode)
                await self.deliveries.update_one({"_id": nid}, {"$set": {
                    "channel": "sms", "wechat_error": refused.errcode, "updated_at": self.now()}})
            else:
                await self._settle(nid, account_id, kind, "sent", "wechat")
                return
        phone = self.accounts.phone_of(account)
        if not phone:
            log.warning("notification %s (%s) to account %s: no WeChat acceptance and no phone", nid, kind, account_id)
            await self._settle(nid, account_id, kind, "undeliverable", "sms", reason="no_phone")
            return
        await self.sms.send(phone=phone, purpose=kind, code="", text=text)
        log.info("notification %s (%s) sent by SMS to %s", nid, kind, mask_phone(phone))
        await self._settle(nid, account_id, kind, "sent", "sms")

    def _wechat_message(self, nid: str, kind: str, data: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
        """The subscribe message's data and page; None without a template or with data that does not fit."""
        if kind not in self.templates:
            return None
        try:
            return template_data(kind, data), template_page(kind, data, self.page)
        except (KeyError, TypeError, ValueError) as exc:  # a notification not following the contract
            log.error("notification %s (%s): data does not fit the template (%s); by SMS", nid, kind, exc)
            return None

    async def _choose(self, nid: str, account_id: ObjectId, kind: str, openid: str | None) -> dict[str, Any]:
        """Pick the channel and, for WeChat, consume one acceptance — in one transaction with the record."""
        now = self.now()
        record = {"_id": nid, "account_id": account_id, "kind": kind, "status": "pending", "channel": "sms",
                  "created_at": now, "updated_at": now, "expires_at": now + DELIVERY_KEPT}

        async def choose(s: AsyncClientSession) -> dict[str, Any]:
            chosen = dict(record)
            if openid and kind in self.templates and await self.subscriptions.consume(account_id, kind, session=s):
                chosen["channel"] = "wechat"
            await self.deliveries.insert_one(chosen, session=s)
            return chosen

        try:
            async with self.db.client.start_session() as s:
                return await s.with_transaction(choose)  # type: ignore[no-any-return]
        except DuplicateKeyError:  # another runner chose first (a lapsed lease): follow its choice
            existing = await self.deliveries.find_one({"_id": nid})
            assert existing is not None
            return existing

    async def _settle(self, nid: str, account_id: ObjectId, kind: str, status: str, channel: str,
                      reason: str | None = None) -> None:
        now = self.now()
        await self.deliveries.update_one({"_id": nid}, {
            "$set": {"status": status, "channel": channel, "reason": reason, "updated_at": now, "settled_at": now},
            "$unset": {"sending_until": ""},
            "$setOnInsert": {"account_id": account_id, "kind": kind, "created_at": now,
                             "expires_at": now + DELIVERY_KEPT}}, upsert=True)

    def close(self) -> None:
        """Close the WeChat adapter's connections (shutdown)."""
        close = getattr(self.wechat, "close", None)
        if close is not None:
            close()


def build_notifier(
    settings: Settings, db: AsyncDatabase[dict[str, Any]], *, accounts: AccountService,
    subscriptions: SubscriptionService, network: Executor,
) -> Notifier:
    """The delivery chosen by ``NOTIFY_BACKEND``: ``file`` (an outbox file) or ``wechat_sms`` (per person)."""
    if settings.notify_backend == "wechat_sms":
        return PersonalNotifier(
            db, accounts=accounts, subscriptions=subscriptions,
            wechat=make_subscribe_messenger(settings, network, SharedAccessToken(db)), sms=make_sms_sender(settings),
            templates=subscriptions.templates, page=settings.wechat_subscribe_page,
        )
    return make_notifier(settings)
