"""The one rule of what a unit sees of a person bound to it."""

from __future__ import annotations

from bson import ObjectId

from server.services.unit_access import unit_access


def test_unit_access_cases() -> None:
    unit, other = ObjectId(), ObjectId()

    def account(**fields: object) -> dict:  # type: ignore[type-arg]
        trainee = {k: v for k, v in fields.items() if k != "created_by"}
        return {"_id": ObjectId(), "created_by": fields.get("created_by"), "trainee": trainee}

    assert unit_access(unit, account()) is None  # not bound
    assert unit_access(unit, account(unit_id=other)) is None  # someone else's
    assert unit_access(unit, account(unit_id=str(unit))) is None  # no loose comparison
    assert unit_access(unit, account(unit_id=unit)) == "limited"  # self-registered, no consent
    assert unit_access(unit, account(unit_id=unit, created_by=unit)) == "full"  # the unit typed it in
    assert unit_access(unit, account(unit_id=unit, created_by=other)) == "limited"  # another unit did
    assert unit_access(unit, account(unit_id=unit, unit_consent={"unit_id": unit})) == "full"
    # a consent given to another unit never carries over
    assert unit_access(unit, account(unit_id=unit, unit_consent={"unit_id": other})) == "limited"
