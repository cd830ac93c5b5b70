"""The person's side of a binding: see one's units, consent to one, leave one.

A trainee belongs to at most one unit (``trainee.unit_id``). Consent is stored on
the person's account as ``trainee.unit_consent = {unit_id, at}`` and only counts
for that unit (:mod:`server.services.unit_access`); leaving (like the unit's
unbind) removes the binding and the consent together, in one guarded update.
Every change is audited and the unit is told.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.integrations.notifier import Notifier
from server.models.binding import MyUnitList, MyUnitOut
from server.services import Principal
from server.services.accounts.personal import id_masked_of, trainee_subject
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.ids import parse_object_id
from server.services.pii import FieldCipher
from server.services.unit_access import unit_access

NOT_YOUR_UNIT = "您当前不属于该单位"


class UnitMembershipService:
    """A trainee's units: list, consent, leave."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        audit: AuditLog,
        notifier: Notifier,
        cipher: FieldCipher,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.accounts = AccountRepository(db)
        self.cipher = cipher
        self.audit = audit
        self.notifier = notifier
        self.now = now or (lambda: datetime.now(UTC))

    async def _me(self, principal: Principal) -> dict[str, Any]:
        account = await self.accounts.find_one({"_id": principal.account_id, "role": "trainee"})
        if account is None:
            raise errors.not_found("学员不存在")
        return account

    async def list(self, principal: Principal) -> MyUnitList:
        """The caller's unit (at most one), with what it may see."""
        account = await self._me(principal)
        items = [item for item in [await self._item(account)] if item is not None]
        return MyUnitList(items=items, total=len(items))

    async def _item(self, account: dict[str, Any]) -> MyUnitOut | None:
        t = account.get("trainee") or {}
        unit_id = t.get("unit_id")
        if unit_id is None:
            return None
        unit = await self.accounts.find_one({"_id": unit_id, "role": "unit"}, {"name": 1, "unit.uscc": 1}) or {}
        consent = t.get("unit_consent") or {}
        consented = consent.get("unit_id") == unit_id
        return MyUnitOut(
            id=str(unit_id), name=unit.get("name", "（单位已不存在）"), uscc=(unit.get("unit") or {}).get("uscc", ""),
            bound_at=t.get("bound_at"), created_by_unit=account.get("created_by") == unit_id, consent=consented,
            consented_at=consent.get("at") if consented else None,
            unit_sees=unit_access(unit_id, account) or "limited",
        )

    async def consent(self, principal: Principal, unit_id: str, *, ip: str | None) -> MyUnitOut:
        """Let the bound unit see and maintain one's data (idempotent); the unit is told."""
        unit_oid = parse_object_id(unit_id, NOT_YOUR_UNIT)
        now = self.now()
        updated = await self.accounts.find_one_and_update(
            {"_id": principal.account_id, "role": "trainee", "trainee.unit_id": unit_oid,
             "trainee.unit_consent.unit_id": {"$ne": unit_oid}},
            {"$set": {"trainee.unit_consent": {"unit_id": unit_oid, "at": now}, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:  # not bound to that unit, or consented already
            account = await self._me(principal)
            if (account.get("trainee") or {}).get("unit_id") != unit_oid:
                raise errors.not_found(NOT_YOUR_UNIT, code="unit_not_found")
            item = await self._item(account)
            assert item is not None
            return item
        await self.audit.record("staff.consent", actor_id=principal.account_id, actor_role=principal.role,
                                subject=trainee_subject(principal.account_id), subject_id=principal.account_id, ip=ip,
                                details={"unit_id": str(unit_oid)})
        await self.notifier.notify(
            unit_oid, "staff_consent",
            f"学员{updated['name']}（{id_masked_of(self.cipher, updated['trainee'])}）已授权贵单位查看和维护其个人资料。",
            {"trainee_id": str(principal.account_id)})
        item = await self._item(updated)
        assert item is not None
        return item

    async def withdraw(self, principal: Principal, unit_id: str, *, ip: str | None) -> MyUnitOut:
        """Take back one's consent and stay in the unit (idempotent); the unit is told.

        A unit that created the account keeps seeing what it typed in itself: for it
        the answer still says ``unit_sees: full``.
        """
        unit_oid = parse_object_id(unit_id, NOT_YOUR_UNIT)
        updated = await self.accounts.find_one_and_update(
            {"_id": principal.account_id, "role": "trainee", "trainee.unit_id": unit_oid,
             "trainee.unit_consent.unit_id": unit_oid},
            {"$unset": {"trainee.unit_consent": ""}, "$set": {"updated_at": self.now()}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:  # not bound to that unit, or no consent to take back
            account = await self._me(principal)
            if (account.get("trainee") or {}).get("unit_id") != unit_oid:
                raise errors.not_found(NOT_YOUR_UNIT, code="unit_not_found")
            updated = account
        else:
            await self.audit.record("staff.consent_withdraw", actor_id=principal.account_id,
                                    actor_role=principal.role, subject=trainee_subject(principal.account_id),
                                    subject_id=principal.account_id, ip=ip, details={"unit_id": str(unit_oid)})
            await self.notifier.notify(
                unit_oid, "staff_consent_withdrawn",
                f"学员{updated['name']}（{id_masked_of(self.cipher, updated['trainee'])}）"
                "已撤回对贵单位查看和维护其个人资料的授权。",
                {"trainee_id": str(principal.account_id)})
        item = await self._item(updated)
        assert item is not None
        return item

    async def leave(self, principal: Principal, unit_id: str, *, ip: str | None) -> None:
        """Leave the unit: the binding and any consent go in one update; the unit is told."""
        unit_oid = parse_object_id(unit_id, NOT_YOUR_UNIT)
        before = await self.accounts.find_one_and_update(
            {"_id": principal.account_id, "role": "trainee", "trainee.unit_id": unit_oid},
            {"$unset": {"trainee.unit_id": "", "trainee.bound_at": "", "trainee.unit_consent": ""},
             "$set": {"updated_at": self.now()}},
        )
        if before is None:
            raise errors.not_found(NOT_YOUR_UNIT, code="unit_not_found")
        await self.audit.record("staff.leave", actor_id=principal.account_id, actor_role=principal.role,
                                subject=trainee_subject(principal.account_id), subject_id=principal.account_id, ip=ip,
                                details={"unit_id": str(unit_oid)})
        await self.notifier.notify(
            unit_oid, "staff_left", f"学员{before['name']}（{id_masked_of(self.cipher, before['trainee'])}）已退出贵单位。",
            {"trainee_id": str(principal.account_id)})

