"""Plain factory functions for tests: valid identifiers and ready-made accounts, with overrides."""

from __future__ import annotations

import itertools
import random
from datetime import date
from pathlib import Path
from typing import Any

from server.services.accounts.identity import resident_check_char, uscc_check_char
from tests.client import ApiClient
from tests.outbox import last_code

_serial = itertools.count(100)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

STRONG_PASSWORD = "Kx9#travel-Lamp"


def resident_id(birth: str = "19900307", *, male: bool = True, region: str = "110105") -> str:
    """A valid resident ID number, different at each call."""
    seq = (2 * next(_serial) + (1 if male else 0)) % 1000  # odd 17th digit: male
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


# ---- catalog (courses, sessions) and staff --------------------------------------------------

_session_serial = itertools.count(1)


async def staff_token(services: Any, role: str = "admin") -> str:
    """A logged-in association staff account of ``role`` (token issued directly)."""
    from server.models.accounts import StaffCreate

    username = f"{role}{next(_serial)}"
    account_id = await services.accounts.create_staff(
        StaffCreate(username=username, role=role, name=username, password="Chief#Desk-2026")
    )
    return str((await services.tokens.issue(account_id, role)).token)


def course_body(**overrides: Any) -> dict[str, Any]:
    """A course creation body."""
    body: dict[str, Any] = {
        "name": "岩土工程勘察专项培训", "course_type": "继续教育", "activity_type": "培训",
        "specialty": "岩土工程", "hours": 24, "pass_mark": 60, "mails_books": False,
    }
    body.update(overrides)
    return body


def session_body(course_id: str, **overrides: Any) -> dict[str, Any]:
    """A session creation body (a unique code unless given)."""
    body: dict[str, Any] = {
        "course_id": course_id, "code": f"S{next(_session_serial):04d}", "round": "一期",
        "enroll_start": "2026-03-01", "enroll_end": "2026-03-10",
        "start_date": "2026-03-15", "end_date": "2026-03-17",
        "fee_fen": 120000, "capacity": 50, "venue": "上海市徐汇区宜山路 700 号",
    }
    body.update(overrides)
    return body


async def published_session(api: ApiClient, admin: str, course_id: str, **overrides: Any) -> dict[str, Any]:
    """Create and publish a session through the admin API; the published session."""
    r = await api.post("/api/v1/admin/sessions", session_body(course_id, **overrides), token=admin)
    assert r.status == 201, r.body
    r = await api.post(f"/api/v1/admin/sessions/{r.json['id']}/publish", token=admin)
    assert r.status == 200, r.body
    return r.json  # type: ignore[no-any-return]


def unique_code() -> str:
    """A session code not used before in this test run."""
    return f"E{next(_session_serial):05d}"
