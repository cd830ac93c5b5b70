"""Tencent Cloud SMS: signed requests to a local stub that checks the TC3 signature, Tencent's answers."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.integrations.sms import make_sms_sender
from server.integrations.tencent_sms import SmsError, TencentSmsSender
from server.services.container import build_services
from tests.conftest import serve_app
from tests.tencent_sms_stub import TEMPLATES, TencentSmsStub

PHONE = "13812345678"


@pytest.fixture
async def stub() -> AsyncIterator[TencentSmsStub]:
    async with TencentSmsStub() as running:
        yield running


def sender(stub: TencentSmsStub, make_settings: Callable[..., Settings], **changes: Any) -> TencentSmsSender:
    made = make_sms_sender(make_settings(**stub.settings_overrides(**changes)))
    assert isinstance(made, TencentSmsSender)
    return made


async def test_a_code_goes_signed_with_its_template(stub: TencentSmsStub, make_settings: Any) -> None:
    await sender(stub, make_settings).send(phone=PHONE, purpose="login", code="123456", text="…123456…")
    await sender(stub, make_settings).send(phone=PHONE, purpose="reset", code="654321", text="…")
    assert stub.sent == [
        {"phone": "+86" + PHONE, "template": TEMPLATES["code"], "params": ["123456"]},
        {"phone": "+86" + PHONE, "template": TEMPLATES["reset"], "params": ["654321"]},  # its own template
    ]
    assert stub.refused == []


async def test_a_notification_goes_with_the_notice_template(stub: TencentSmsStub, make_settings: Any) -> None:
    await sender(stub, make_settings).send(phone=PHONE, purpose="payment_approved", code="", text="缴费已确认")
    assert stub.sent == [{"phone": "+86" + PHONE, "template": TEMPLATES["notice"], "params": ["缴费已确认"]}]


async def test_a_wrong_secret_key_is_refused_by_the_signature_check(stub: TencentSmsStub, make_settings: Any,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    wrong = sender(stub, make_settings, tencent_sms_secret_key="not-the-key")
    with pytest.raises(SmsError) as raised:
        await wrong.send(phone=PHONE, purpose="login", code="123456", text="")
    assert (raised.value.status, raised.value.code) == (503, "sms_misconfigured")
    assert raised.value.message == "短信服务暂不可用，请联系协会"
    assert stub.refused == ["AuthFailure.SignatureFailure"] and stub.sent == []
    assert "AuthFailure.SignatureFailure" in caplog.text  # the operator's log says what to fix


async def test_a_request_signed_too_long_ago_is_refused(stub: TencentSmsStub, make_settings: Any) -> None:
    late = sender(stub, make_settings)
    late.clock = lambda: 1_700_000_000.0  # a clock far behind: Tencent allows five minutes
    with pytest.raises(SmsError):
        await late.send(phone=PHONE, purpose="login", code="123456", text="")
    assert stub.refused == ["AuthFailure.SignatureExpire"]


async def test_the_daily_limit_of_a_number_is_a_429_until_beijing_midnight(
        stub: TencentSmsStub, make_settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stub.phone_errors["+86" + PHONE] = "LimitExceeded.PhoneNumberDailyLimit"
    with pytest.raises(SmsError) as raised:
        await sender(stub, make_settings).send(phone=PHONE, purpose="login", code="123456", text="")
    error = raised.value
    assert (error.status, error.code, error.message) == (429, "sms_limited", "该手机号今日接收短信已达上限，请明天再试")
    assert 60 <= error.details["retry_after"] <= 24 * 3600
    assert error.headers["Retry-After"] == str(error.details["retry_after"])
    assert PHONE not in caplog.text and "138****5678" in caplog.text  # masked, never in full


@pytest.mark.parametrize(("code", "status", "reason"), [
    ("LimitExceeded.PhoneNumberThirtySecondLimit", 429, "sms_limited"),
    ("InvalidParameterValue.IncorrectPhoneNumber", 400, "sms_undeliverable"),
    ("FailedOperation.InsufficientBalanceInSmsPackage", 503, "sms_misconfigured"),
])
async def test_each_kind_of_number_error(stub: TencentSmsStub, make_settings: Any, code: str, status: int,
                                         reason: str) -> None:
    stub.phone_errors["+86" + PHONE] = code
    with pytest.raises(SmsError) as raised:
        await sender(stub, make_settings).send(phone=PHONE, purpose="login", code="123456", text="")
    assert (raised.value.status, raised.value.code, raised.value.provider_code) == (status, reason, code)


async def test_tencent_busy_or_unreachable_is_a_503_to_retry(stub: TencentSmsStub, make_settings: Any) -> None:
    stub.request_error = "InternalError.Timeout"
    with pytest.raises(SmsError) as raised:
        await sender(stub, make_settings).send(phone=PHONE, purpose="login", code="123456", text="")
    assert (raised.value.status, raised.value.message) == (503, "短信发送失败，请稍后重试")
    assert raised.value.retry_after == 30
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = sender(stub, make_settings, tencent_sms_endpoint=f"http://127.0.0.1:{port}/")
    with pytest.raises(SmsError) as raised:
        await down.send(phone=PHONE, purpose="login", code="123456", text="")
    assert (raised.value.status, raised.value.code) == (503, "sms_unavailable")


async def test_through_the_api_the_limit_reaches_the_person_and_gives_the_quota_back(
        stub: TencentSmsStub, make_settings: Any, db: AsyncDatabase[dict[str, Any]]) -> None:
    settings = make_settings(**stub.settings_overrides())
    built = build_services(settings, db)
    try:
        async with serve_app(settings, built) as client:
            stub.phone_errors["+86" + PHONE] = "LimitExceeded.PhoneNumberDailyLimit"
            refused = await client.post("/api/v1/auth/sms-codes", {"phone": PHONE, "purpose": "register"})
            assert refused.status == 429
            assert refused.json["error"]["message"] == "该手机号今日接收短信已达上限，请明天再试"
            assert int(refused.headers["Retry-After"]) >= 60
            del stub.phone_errors["+86" + PHONE]  # the cooldown was given back: a retry at once is sent
            sent = await client.post("/api/v1/auth/sms-codes", {"phone": PHONE, "purpose": "register"})
            assert sent.status == 201, sent.json
            assert [m["template"] for m in stub.sent] == [TEMPLATES["code"]]
            assert len(stub.sent[0]["params"][0]) == 6
            assert await db["sms_codes"].count_documents({"used": False}) == 1
    finally:
        await built.close()
