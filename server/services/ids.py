"""Ids from the outside world: a malformed id is simply not found (never a 500)."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId

from server import errors


def parse_object_id(value: str | ObjectId, message: str = "对象不存在", code: str = "not_found") -> ObjectId:
    """``value`` as an ObjectId, or 404 with ``message`` when it cannot be one."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise errors.not_found(message, code) from None
