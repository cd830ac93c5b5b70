"""Plain factory functions for tests: valid identifiers and ready-made accounts, with overrides."""

from __future__ import annotations

import itertools
import random
from datetime import date
from pathlib import Path
from typing import Any

from server.services.identity import resident_check_char, uscc_check_char
from tests.client import ApiClient
from tests.outbox import last_code

_serial = itertools.count(100)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

STRONG_PASSWORD = "Kx9#travel-Lamp"


def resident_id(birth: str = "19900307", *, male: bool = True, region: str = "110105") -> str:
    """A valid resident ID number, different at each call."""
    seq = next(_serial) % 1000
    seq = seq - seq % 2 + (1 if male else 0)  # odd 17th digit: male
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + resident_check_char(first17)


def uscc() -> str:
    """A valid unified social credit code, random at each call."""
    first17 = "9111" + "".join(random.choice("0123456789") for _ in range(4)) + "".join(
        random.choice(_USCC_ALPHABET) for _ in range(9)
    )
    return first17 + uscc_check_char(first17)


def phone() -> str:
    """A mainland mobile number, random at each call."""
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


async def sms_code(api: ApiClient, outbox: Path, number: str, purpose: str = "register") -> str:
    """Ask the server for a code and read it from the SMS outbox, as a person reads their phone."""
    r = await api.post("/api/v1/auth/sms-codes", {"phone": number, "purpose": purpose})
    assert r.status in (200, 201), r.body
    return last_code(outbox, number)


def trainee_body(**overrides: Any) -> dict[str, Any]:
    """A registration body for a trainee (without the SMS code)."""
    body: dict[str, Any] = {
        "name": "张三",
        "id_type": "resident_id",
        "id_number": resident_id(),
        "phone": phone(),
        "email": "zhangsan@example.com",
        "password": STRONG_PASSWORD,
    }
    body.update(overrides)
    return body


async def register_trainee(api: ApiClient, outbox: Path, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """Register a trainee through the API; returns (token, the body sent)."""
    body = trainee_body(**overrides)
    body["sms_code"] = await sms_code(api, outbox, body["phone"])
    r = await api.post("/api/v1/auth/register/trainee", body)
    assert r.status == 201, r.body
    return r.json["token"], body


async def register_unit(api: ApiClient, outbox: Path, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """Register a unit through the API; returns (token, the body sent)."""
    body: dict[str, Any] = {
        "name": "上海某某勘察设计有限公司",
        "uscc": uscc(),
        "contact_name": "李四",
        "phone": phone(),
        "password": STRONG_PASSWORD,
    }
    body.update(overrides)
    body["sms_code"] = await sms_code(api, outbox, body["phone"])
    r = await api.post("/api/v1/auth/register/unit", body)
    assert r.status == 201, r.body
    return r.json["token"], body


def resident_id_birth() -> date:
    """The birth date that :func:`resident_id` encodes by default."""
    return date(1990, 3, 7)
