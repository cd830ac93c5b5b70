"""One-time SMS codes: single use, limited tries, expiry, throttles, nothing stored in clear."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.errors import AppError
from server.integrations.sms import FileSmsSender
from server.services.accounts.sms import SmsCodes, SmsPurpose
from server.services.accounts.throttle import RateLimiter
from server.services.container import Services
from tests.clock import Clock
from tests.outbox import last_code, read_outbox

PHONE = "13812345678"
IP = "203.0.113.7"




@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(settings: Settings) -> Path:
    return settings.sms_outbox


@pytest.fixture
def codes(services: Services, db: AsyncDatabase[dict[str, Any]], clock: Clock, outbox: Path) -> SmsCodes:
    """SmsCodes on the test database with an injected clock (limiter included)."""
    return SmsCodes(
        db,
        FileSmsSender(outbox),
        RateLimiter(db, now=clock),
        services.cipher,
        services.settings.secret_key.get_secret_value().encode(),
        now=clock,
    )


def _field_error(exc: AppError) -> tuple[int, str, str]:
    return exc.status, exc.code, exc.details["fields"]["sms_code"]


async def test_send_writes_the_outbox_and_the_code_verifies_once(services: Services, outbox: Path) -> None:
    sent = await services.sms_codes.send("+86 138 1234 5678", SmsPurpose.register, ip=IP)
    assert (sent.expires_in, sent.resend_after) == (300, 60)
    [message] = read_outbox(outbox)
    assert message["phone"] == PHONE and message["purpose"] == "register"
    assert len(message["code"]) == 6 and message["code"].isdigit()
    assert message["text"] == (
        f"【协会培训考试】您的注册验证码为 {message['code']}，5 分钟内有效。如非本人操作请忽略。"
    )
    assert datetime.fromisoformat(message["at"]).tzinfo is not None

    await services.sms_codes.verify(PHONE, SmsPurpose.register, message["code"])
    with pytest.raises(AppError) as caught:
        await services.sms_codes.verify(PHONE, SmsPurpose.register, message["code"])
    assert _field_error(caught.value) == (422, "sms_code_expired", "验证码已过期或已使用，请重新获取")


async def test_concurrent_verifications_of_one_code_let_exactly_one_succeed(
    services: Services, outbox: Path
) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.login, ip=IP)
    code = last_code(outbox, PHONE)

    async def one() -> bool:
        try:
            await services.sms_codes.verify(PHONE, SmsPurpose.login, code)
            return True
        except AppError as exc:
            assert exc.code == "sms_code_expired"
            return False

    # Open several pooled connections first so that the verifications truly overlap.
    await asyncio.gather(*(services.db.command("ping") for _ in range(5)))
    results = await asyncio.gather(*(one() for _ in range(5)))
    assert results.count(True) == 1


async def test_wrong_codes_count_down_then_even_the_right_code_is_refused(
    services: Services, outbox: Path
) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.reset, ip=IP)
    code = last_code(outbox, PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for remaining in (4, 3, 2, 1, 0):
        with pytest.raises(AppError) as caught:
            await services.sms_codes.verify(PHONE, SmsPurpose.reset, wrong)
        assert caught.value.code == "sms_code_invalid"
        assert caught.value.details["remaining_attempts"] == remaining
        assert "验证码错误" in caught.value.details["fields"]["sms_code"]
    with pytest.raises(AppError) as caught:
        await services.sms_codes.verify(PHONE, SmsPurpose.reset, code)
    assert caught.value.code == "sms_code_expired"


async def test_concurrent_guesses_never_exceed_the_attempt_limit(services: Services, outbox: Path) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.login, ip=IP)
    code = last_code(outbox, PHONE)
    guesses = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 21)]
    results = await asyncio.gather(
        *(services.sms_codes.verify(PHONE, SmsPurpose.login, g) for g in guesses), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, AppError) and r.code == "sms_code_invalid") == 5
    assert sum(1 for r in results if isinstance(r, AppError) and r.code == "sms_code_expired") == 15


async def test_an_expired_code_is_refused(codes: SmsCodes, clock: Clock, outbox: Path) -> None:
    await codes.send(PHONE, SmsPurpose.activate, ip=IP)
    clock.advance(300)
    with pytest.raises(AppError) as caught:
        await codes.verify(PHONE, SmsPurpose.activate, last_code(outbox, PHONE))
    assert caught.value.code == "sms_code_expired"


async def test_a_code_just_before_expiry_is_accepted(codes: SmsCodes, clock: Clock, outbox: Path) -> None:
    await codes.send(PHONE, SmsPurpose.activate, ip=IP)
    clock.advance(299)
    await codes.verify(PHONE, SmsPurpose.activate, last_code(outbox, PHONE))


async def test_a_resend_within_60_seconds_is_429(codes: SmsCodes, clock: Clock) -> None:
    await codes.send(PHONE, SmsPurpose.register, ip=IP)
    clock.advance(20)
    with pytest.raises(AppError) as caught:
        await codes.send(PHONE, SmsPurpose.register, ip=IP)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "40"
    assert caught.value.message == "发送过于频繁，请 40 秒后再试"
    await codes.send(PHONE, SmsPurpose.login, ip=IP)  # another purpose has its own cooldown
    clock.advance(40)
    await codes.send(PHONE, SmsPurpose.register, ip=IP)


async def test_a_resend_replaces_the_earlier_code(codes: SmsCodes, clock: Clock, outbox: Path) -> None:
    await codes.send(PHONE, SmsPurpose.register, ip=IP)
    first = last_code(outbox, PHONE)
    clock.advance(61)
    await codes.send(PHONE, SmsPurpose.register, ip=IP)
    second = last_code(outbox, PHONE)
    if first != second:  # one in a million they are equal
        # Compared against the newest code only, the old one is simply wrong.
        with pytest.raises(AppError) as caught:
            await codes.verify(PHONE, SmsPurpose.register, first)
        assert caught.value.code == "sms_code_invalid"
    await codes.verify(PHONE, SmsPurpose.register, second)
    assert await codes.codes.count_documents({"used": False}) == 0


async def test_the_eleventh_code_of_the_day_is_429(codes: SmsCodes, clock: Clock, outbox: Path) -> None:
    purposes = list(SmsPurpose)
    for i in range(10):
        await codes.send(PHONE, purposes[i % len(purposes)], ip=IP)
        clock.advance(61)
    with pytest.raises(AppError) as caught:
        await codes.send(PHONE, SmsPurpose.register, ip=IP)
    assert caught.value.status == 429
    assert caught.value.message == "今日验证码发送次数已达上限"
    assert len(read_outbox(outbox)) == 10
    # The quota comes back at midnight Shanghai time (16:00 UTC), not at midnight UTC.
    midnight_shanghai = datetime(2025, 3, 1, 16, 0, 0, tzinfo=UTC)
    assert int(caught.value.headers["Retry-After"]) == int((midnight_shanghai - clock()).total_seconds())
    # The refused request did not leave a cooldown behind, and other phones are unaffected.
    await codes.send("13900001111", SmsPurpose.register, ip=IP)
    clock.at = midnight_shanghai
    await codes.send(PHONE, SmsPurpose.register, ip=IP)


async def test_the_hourly_cap_per_ip(
    services: Services, db: AsyncDatabase[dict[str, Any]], outbox: Path
) -> None:
    codes = SmsCodes(
        db, FileSmsSender(outbox), services.limiter, services.cipher, b"k" * 32, ip_hourly_limit=3
    )
    for i in range(3):
        await codes.send(f"1380000000{i}", SmsPurpose.register, ip=IP)
    with pytest.raises(AppError) as caught:
        await codes.send("13800000009", SmsPurpose.register, ip=IP)
    assert caught.value.status == 429
    await codes.send("13800000009", SmsPurpose.register, ip="198.51.100.1")
    assert len(read_outbox(outbox)) == 4


async def test_a_code_for_register_does_not_verify_for_login(services: Services, outbox: Path) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.register, ip=IP)
    code = last_code(outbox, PHONE)
    with pytest.raises(AppError) as caught:
        await services.sms_codes.verify(PHONE, SmsPurpose.login, code)
    assert caught.value.code == "sms_code_expired"
    await services.sms_codes.verify(PHONE, SmsPurpose.register, code)


async def test_a_code_for_one_phone_does_not_verify_for_another(services: Services, outbox: Path) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.login, ip=IP)
    with pytest.raises(AppError):
        await services.sms_codes.verify("13900001111", SmsPurpose.login, last_code(outbox, PHONE))


async def test_a_checked_code_stays_usable_until_it_is_used(services: Services, outbox: Path) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.reset, ip=IP)
    code = last_code(outbox, PHONE)
    first = await services.sms_codes.check(PHONE, SmsPurpose.reset, code)  # e.g. a refused password follows
    second = await services.sms_codes.check(PHONE, SmsPurpose.reset, code)
    assert first == second
    await services.sms_codes.use(second)
    with pytest.raises(AppError) as caught:
        await services.sms_codes.use(first)
    assert caught.value.code == "sms_code_expired"
    with pytest.raises(AppError) as caught:
        await services.sms_codes.check(PHONE, SmsPurpose.reset, code)
    assert caught.value.code == "sms_code_expired"


async def test_checking_without_a_phone_fails_like_a_code_never_sent(services: Services, outbox: Path) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.login, ip=IP)
    with pytest.raises(AppError) as caught:
        await services.sms_codes.check(None, SmsPurpose.login, last_code(outbox, PHONE))
    assert (caught.value.status, caught.value.code) == (422, "sms_code_expired")


async def test_a_bad_phone_is_422_on_phone(services: Services, outbox: Path) -> None:
    with pytest.raises(AppError) as caught:
        await services.sms_codes.send("12345", SmsPurpose.login, ip=IP)
    assert caught.value.status == 422
    assert "手机号码" in caught.value.details["fields"]["phone"]
    assert read_outbox(outbox) == []


async def test_a_failing_sender_gives_back_the_quota(
    services: Services, db: AsyncDatabase[dict[str, Any]], clock: Clock
) -> None:
    class Broken:
        async def send(self, **kwargs: str) -> None:
            raise OSError("provider down")

    limiter = RateLimiter(db, now=clock)
    broken = SmsCodes(db, Broken(), limiter, services.cipher, b"k" * 32, now=clock)
    with pytest.raises(AppError) as caught:
        await broken.send(PHONE, SmsPurpose.login, ip=IP)
    assert caught.value.status == 503
    assert await db["sms_codes"].count_documents({"used": False}) == 0
    # No cooldown left: the person may retry at once.
    with pytest.raises(AppError) as caught:
        await broken.send(PHONE, SmsPurpose.login, ip=IP)
    assert caught.value.status == 503


async def test_the_database_holds_no_plain_phone_or_code(
    services: Services, db: AsyncDatabase[dict[str, Any]], outbox: Path
) -> None:
    await services.sms_codes.send(PHONE, SmsPurpose.register, ip=IP)
    code = last_code(outbox, PHONE)
    with pytest.raises(AppError):
        await services.sms_codes.verify(PHONE, SmsPurpose.register, f"{(int(code) + 1) % 1_000_000:06d}")
    dumped = ""
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            dumped += json.dumps(doc, default=str)
    assert dumped
    for secret in (PHONE, PHONE[-8:], code, IP):
        assert secret not in dumped
