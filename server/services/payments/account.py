"""The association's bank account (协会账号信息), shown on every payment page.

One document ``{_id: "bank_account"}`` in ``association_settings``: set by administrators (audited),
read by every payment page and by the OCR job (which reads the document directly).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.models.payments import AssociationAccountIn, AssociationAccountOut
from server.services import Principal
from server.services.audit import AuditLog

COLLECTION = "association_settings"
ACCOUNT_ID = "bank_account"


class AssociationAccount:
    """Read and set the account payers transfer to."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, audit: AuditLog,
                 now: Callable[[], datetime] | None = None) -> None:
        self.settings = db[COLLECTION]
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    async def get(self) -> AssociationAccountOut:
        """The account (``configured`` false until an administrator sets it)."""
        doc = await self.settings.find_one({"_id": ACCOUNT_ID})
        if doc is None:
            return AssociationAccountOut(configured=False)
        return AssociationAccountOut(configured=True, **{k: doc.get(k) for k in (
            "account_name", "bank_name", "account_number", "remark", "updated_at")})

    async def put(self, admin: Principal, body: AssociationAccountIn, *, ip: str | None) -> AssociationAccountOut:
        """Replace the account (audited with the old and new account numbers' tails)."""
        old = await self.settings.find_one({"_id": ACCOUNT_ID}) or {}
        values = {**body.model_dump(), "updated_at": self.now(), "updated_by": admin.account_id}
        await self.settings.replace_one({"_id": ACCOUNT_ID}, {"_id": ACCOUNT_ID, **values}, upsert=True)
        await self.audit.record(
            "association.account_set", actor_id=admin.account_id, actor_role=admin.role, ip=ip,
            subject="协会收款账户",
            details={"account_name": body.account_name, "bank_name": body.bank_name,
                     "account_tail": _tail(body.account_number),
                     "previous_tail": _tail(old.get("account_number") or "") or None})
        return await self.get()


def _tail(account_number: str) -> str:
    """The last four digits of an account number (spaces ignored)."""
    return account_number.replace(" ", "")[-4:]
