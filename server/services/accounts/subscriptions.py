"""WeChat subscribe-message consent (订阅消息授权), counted per person and kind.

WeChat subscriptions are one-time: each time a person accepts a template in
``wx.requestSubscribeMessage`` the mini-program may send them ONE message with it. The
mini-program reports the answer (``POST /api/v1/me/subscriptions``); this module counts the
acceptances per kind and the notifier consumes one per message it sends by WeChat
(:meth:`SubscriptionService.consume`, inside the delivery's transaction). Without a credit the
message goes by SMS.

Owns ``notify_subscriptions``: one document per account, ``{_id: account_id, counts: {kind: n},
banned: {kind: bool}, last: {kind: {result, at}}, updated_at}``. Invariant: a count is never
negative (the decrement is guarded by ``count > 0`` in its filter).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.subscriptions import (
    KIND_LABELS,
    SubscriptionItem,
    SubscriptionsIn,
    SubscriptionsOut,
)
from server.services import Principal
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog

COLLECTION = "notify_subscriptions"
KINDS = tuple(KIND_LABELS)


def subscribe_templates(settings: Any) -> dict[str, str]:
    """kind → the configured template id (``WECHAT_TEMPLATE_<KIND>``); kinds without one are left out."""
    found = {kind: str(getattr(settings, f"wechat_template_{kind}", "") or "").strip() for kind in KINDS}
    return {kind: template for kind, template in found.items() if template}


class SubscriptionService:
    """Record what a person accepted; show it; consume one acceptance per message sent."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, templates: dict[str, str], audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.subscriptions = db[COLLECTION]
        self.accounts = AccountRepository(db)
        self.templates = templates
        self.by_template = {template: kind for kind, template in templates.items()}
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    async def record(self, principal: Principal, body: SubscriptionsIn) -> SubscriptionsOut:
        """Count the templates the person just accepted (one credit each), note refusals and bans.

        A key of ``results`` is a configured template id or a kind; 422 for an unknown one,
        nothing written.
        """
        results: dict[str, str] = {kind: "accept" for kind in body.kinds}
        for key, result in body.results.items():
            kind = self.by_template.get(key) or (key if key in KINDS else None)
            if kind is None:
                raise errors.validation("未知的订阅消息模板", {"results": f"未知的订阅消息模板：{key[:64]}"})
            results[kind] = result
        now = self.now()
        update: dict[str, Any] = {"$set": {"updated_at": now}}
        for kind, result in results.items():
            update["$set"][f"last.{kind}"] = {"result": result, "at": now}
            if result == "accept":
                update.setdefault("$inc", {})[f"counts.{kind}"] = 1
                update["$set"][f"banned.{kind}"] = False
            elif result == "ban":  # switched off in WeChat: earlier credits are gone too
                update["$set"][f"counts.{kind}"] = 0
                update["$set"][f"banned.{kind}"] = True
        await self.subscriptions.update_one({"_id": principal.account_id}, update, upsert=True)
        await self.audit.record("notify.subscriptions", actor_id=principal.account_id, actor_role=principal.role,
                                subject_id=principal.account_id, details={"results": results})
        return await self.show(principal)

    async def show(self, principal: Principal) -> SubscriptionsOut:
        """Per kind: whether a template is configured, the credits left, the last answer."""
        doc = await self.subscriptions.find_one({"_id": principal.account_id}) or {}
        account = await self.accounts.find_one({"_id": principal.account_id}, {"wechat.openid": 1}) or {}
        items = []
        for kind, label in KIND_LABELS.items():
            last = (doc.get("last") or {}).get(kind) or {}
            items.append(SubscriptionItem(
                kind=kind, label=label, available=kind in self.templates, template_id=self.templates.get(kind),  # type: ignore[arg-type]
                remaining=int((doc.get("counts") or {}).get(kind, 0)), banned=bool((doc.get("banned") or {}).get(kind)),
                last_result=last.get("result"), updated_at=last.get("at"),
            ))
        return SubscriptionsOut(wechat_bound=bool((account.get("wechat") or {}).get("openid")), items=items)

    async def consume(self, account_id: ObjectId, kind: str, *, session: AsyncClientSession | None = None) -> bool:
        """Use one acceptance of ``kind``; False when none is left (the message goes by SMS)."""
        used = await self.subscriptions.update_one(
            {"_id": account_id, f"counts.{kind}": {"$gt": 0}}, {"$inc": {f"counts.{kind}": -1}}, session=session)
        return used.modified_count == 1

    async def forget(self, account_id: ObjectId, kind: str) -> None:
        """WeChat said the person has no acceptance left (43101): our count was wrong, it is 0."""
        await self.subscriptions.update_one({"_id": account_id}, {"$set": {f"counts.{kind}": 0}})

    async def of_account(self, account_id: ObjectId) -> dict[str, Any]:
        """The stored consent of an account, for the data export (empty when none)."""
        doc = await self.subscriptions.find_one({"_id": account_id}, {"_id": 0}) or {}
        return {"counts": doc.get("counts") or {}, "banned": doc.get("banned") or {}, "last": doc.get("last") or {}}

    async def forget_account(self, account_id: ObjectId, *, session: AsyncClientSession | None = None) -> None:
        """Delete the account's consent (account deletion, inside its transaction)."""
        await self.subscriptions.delete_one({"_id": account_id}, session=session)
