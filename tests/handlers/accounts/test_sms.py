"""POST /api/v1/auth/sms-codes over real HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from tests.client import ApiClient
from tests.outbox import read_outbox

PATH = "/api/v1/auth/sms-codes"


async def test_sending_a_code_is_201_and_writes_the_outbox(api: ApiClient, settings: Settings) -> None:
    r = await api.post(PATH, {"phone": "138 1234 5678", "purpose": "register"})
    assert r.status == 201
    assert r.json == {"expires_in": 300, "resend_after": 60}
    [message] = read_outbox(settings.sms_outbox)
    assert set(message) == {"phone", "purpose", "code", "text", "at"}
    assert message["phone"] == "13812345678"
    assert message["purpose"] == "register"
    assert message["code"].isdigit() and len(message["code"]) == 6
    assert message["code"] in message["text"] and "注册" in message["text"]
    datetime.fromisoformat(message["at"])


async def test_a_bad_phone_is_422_on_phone(api: ApiClient, settings: Settings) -> None:
    r = await api.post(PATH, {"phone": "1234567", "purpose": "login"})
    assert r.status == 422
    assert r.error_code == "validation_error"
    assert "手机号码" in r.json["error"]["details"]["fields"]["phone"]
    assert read_outbox(settings.sms_outbox) == []


async def test_an_unknown_purpose_is_422(api: ApiClient, settings: Settings) -> None:
    r = await api.post(PATH, {"phone": "13812345678", "purpose": "hack"})
    assert r.status == 422
    assert "purpose" in r.json["error"]["details"]["fields"]
    assert read_outbox(settings.sms_outbox) == []


async def test_unknown_fields_are_422(api: ApiClient) -> None:
    r = await api.post(PATH, {"phone": "13812345678", "purpose": "login", "code": "000000"})
    assert r.status == 422
    assert "code" in r.json["error"]["details"]["fields"]


async def test_a_resend_within_a_minute_is_429_with_retry_after(api: ApiClient, settings: Settings) -> None:
    assert (await api.post(PATH, {"phone": "13812345678", "purpose": "login"})).status == 201
    r = await api.post(PATH, {"phone": "+8613812345678", "purpose": "login"})
    assert r.status == 429
    assert r.error_code == "too_many_requests"
    seconds = int(r.headers["Retry-After"])
    assert 1 <= seconds <= 60
    assert r.json["error"]["details"]["retry_after"] == seconds
    assert "秒后再试" in r.json["error"]["message"]
    assert len(read_outbox(settings.sms_outbox)) == 1


async def test_operator_injection_is_422_and_writes_nothing(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    r = await api.post(PATH, {"phone": {"$ne": None}, "purpose": "login"})
    assert r.status == 422
    assert "phone" in r.json["error"]["details"]["fields"]
    assert read_outbox(settings.sms_outbox) == []
    assert await db["sms_codes"].count_documents({}) == 0
    assert await db["rate_limits"].count_documents({}) == 0


async def test_the_endpoint_is_documented(api: ApiClient) -> None:
    document = (await api.get("/api/openapi.json")).json
    operation = document["paths"][PATH]["post"]
    assert "201" in operation["responses"] and "429" in operation["responses"]
    assert operation["tags"] == ["accounts"]
