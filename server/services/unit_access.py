"""What a unit may see and change of a person bound to it (issue 10, "binding a stranger").

A unit's binding (``trainee.unit_id``) alone gives it only what it typed in
itself. Two cases give it the person's data in full (profile, phone, email,
photo, export rows, edits):

- the unit **created** the account (``created_by`` is the unit: 单独添加 or an
  Excel import) — it typed that data in itself;
- the person **consented** for this very unit (``trainee.unit_consent.unit_id``
  is the bound unit), from their own account (``POST /api/v1/me/units/{id}/consent``).

Everyone else — a person who registered themself, or whose account another unit
created — is *limited*: the unit sees the name and the masked ID number (the two
things it typed to bind) and nothing else until the person consents. Binding and
unbinding clear the consent, so it never carries over to another unit.
"""

from __future__ import annotations

from typing import Any, Literal

from bson import ObjectId

Access = Literal["full", "limited"]
STAFF_CONSENT_MESSAGE = (
    "该学员是自行注册后被绑定的，未经本人授权，单位只能查看姓名和脱敏证件号，不能查看或修改其资料和照片。"
    "请学员登录后在“我的单位”中授权。"
)


def unit_access(unit_id: ObjectId, account: dict[str, Any]) -> Access | None:
    """``full`` or ``limited`` for a person bound to ``unit_id``; None when not bound to it."""
    t = account.get("trainee") or {}
    if t.get("unit_id") is None or t.get("unit_id") != unit_id:
        return None
    if account.get("created_by") == unit_id:
        return "full"
    if (t.get("unit_consent") or {}).get("unit_id") == unit_id:
        return "full"
    return "limited"


def full_access_filter(unit_id: ObjectId) -> dict[str, Any]:
    """The query form of ``unit_access(...) == "full"`` (to add to a staff filter)."""
    return {"$or": [{"created_by": unit_id}, {"trainee.unit_consent.unit_id": unit_id}]}
