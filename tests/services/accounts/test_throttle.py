"""The MongoDB rate limiter: exact under concurrency, windows, cooldowns, expired documents."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.errors import AppError
from server.services.accounts.throttle import RateLimiter
from tests.clock import Clock

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)




async def _warm_pool(db: AsyncDatabase[dict[str, Any]]) -> None:
    # Several pooled connections, so that the concurrent calls truly overlap on the server.
    await asyncio.gather(*(db.command("ping") for _ in range(8)))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def limiter(db: AsyncDatabase[dict[str, Any]], clock: Clock) -> RateLimiter:
    return RateLimiter(db, now=clock)


async def test_concurrent_hits_pass_exactly_the_limit(db: AsyncDatabase[dict[str, Any]]) -> None:
    # Separate limiters stand for separate processes: only the database is shared.
    limiters = [RateLimiter(db) for _ in range(4)]

    async def one(i: int) -> int | AppError:
        try:
            return await limiters[i % 4].hit("test:concurrent", limit=5, window_seconds=3600)
        except AppError as exc:
            return exc

    await _warm_pool(db)
    results = await asyncio.gather(*(one(i) for i in range(20)))
    passed = sorted(r for r in results if isinstance(r, int))
    refused = [r for r in results if isinstance(r, AppError)]
    assert passed == [1, 2, 3, 4, 5]
    assert len(refused) == 15
    assert all(r.status == 429 and int(r.headers["Retry-After"]) >= 1 for r in refused)


async def test_over_the_limit_is_429_with_time_to_window_end(limiter: RateLimiter, clock: Clock) -> None:
    clock.at = T0 + timedelta(seconds=20)  # 40 s before the minute window ends
    assert await limiter.hit("k", limit=2, window_seconds=60) == 1
    assert await limiter.hit("k", limit=2, window_seconds=60) == 2
    with pytest.raises(AppError) as caught:
        await limiter.hit("k", limit=2, window_seconds=60, message="太频繁了")
    assert caught.value.status == 429
    assert caught.value.message == "太频繁了"
    assert caught.value.headers["Retry-After"] == "40"
    assert caught.value.details["retry_after"] == 40


async def test_a_new_window_starts_from_zero(limiter: RateLimiter, clock: Clock) -> None:
    for _ in range(3):
        await limiter.hit("k", limit=3, window_seconds=60)
    with pytest.raises(AppError):
        await limiter.hit("k", limit=3, window_seconds=60)
    clock.advance(60)
    assert await limiter.hit("k", limit=3, window_seconds=60) == 1


async def test_offset_moves_the_window_boundary(limiter: RateLimiter, clock: Clock) -> None:
    # 15:59:59 UTC is 23:59:59 in Asia/Shanghai: the Shanghai day ends one second later.
    clock.at = datetime(2025, 3, 1, 15, 59, 59, tzinfo=UTC)
    day, shanghai = 86400, 8 * 3600
    await limiter.hit("d", limit=1, window_seconds=day, offset_seconds=shanghai)
    with pytest.raises(AppError) as caught:
        await limiter.hit("d", limit=1, window_seconds=day, offset_seconds=shanghai)
    assert caught.value.headers["Retry-After"] == "1"
    clock.advance(1)
    assert await limiter.hit("d", limit=1, window_seconds=day, offset_seconds=shanghai) == 1


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    await limiter.hit("a", limit=1, window_seconds=60)
    assert await limiter.hit("b", limit=1, window_seconds=60) == 1


async def test_undo_and_clear(limiter: RateLimiter) -> None:
    await limiter.hit("k", limit=2, window_seconds=60)
    await limiter.hit("k", limit=2, window_seconds=60)
    await limiter.undo("k", window_seconds=60)
    assert await limiter.hit("k", limit=2, window_seconds=60) == 2
    await limiter.clear("k", window_seconds=60)
    assert await limiter.hit("k", limit=2, window_seconds=60) == 1


async def test_undo_never_goes_below_zero(limiter: RateLimiter) -> None:
    await limiter.undo("k", window_seconds=60)  # nothing to undo: no document appears
    await limiter.hit("k", limit=5, window_seconds=60)
    await limiter.undo("k", window_seconds=60)
    await limiter.undo("k", window_seconds=60)
    assert await limiter.hit("k", limit=5, window_seconds=60) == 1


async def test_hit_documents_carry_the_window_end_for_ttl(
    limiter: RateLimiter, db: AsyncDatabase[dict[str, Any]], clock: Clock
) -> None:
    clock.at = T0 + timedelta(seconds=5)
    await limiter.hit("k", limit=5, window_seconds=60)
    doc = await db["rate_limits"].find_one({})
    assert doc is not None
    assert doc["expires_at"] == T0 + timedelta(seconds=60)
    info = await db["rate_limits"].index_information()
    assert any(spec.get("expireAfterSeconds") == 0 for spec in info.values())


async def test_the_last_instant_of_a_window_still_counts_in_it(limiter: RateLimiter, clock: Clock) -> None:
    # Replaces a test that could not fail: "an expired window document still present is
    # ignored" held by construction (a new window has a new _id). What can go wrong is the
    # boundary: 59.999 s into a window must not round up into the next one.
    await limiter.hit("k", limit=1, window_seconds=60)
    clock.at = T0 + timedelta(seconds=59, microseconds=999_000)
    with pytest.raises(AppError) as caught:
        await limiter.hit("k", limit=1, window_seconds=60)
    assert caught.value.headers["Retry-After"] == "1"
    clock.at = T0 + timedelta(seconds=60)
    assert await limiter.hit("k", limit=1, window_seconds=60) == 1


async def test_cooldown_refuses_until_it_elapses(limiter: RateLimiter, clock: Clock) -> None:
    await limiter.cooldown("c", 60)
    clock.advance(15)
    with pytest.raises(AppError) as caught:
        await limiter.cooldown("c", 60, "请稍候")
    assert caught.value.status == 429
    assert caught.value.message == "请稍候"
    assert caught.value.headers["Retry-After"] == "45"
    clock.advance(45)
    await limiter.cooldown("c", 60)  # exactly elapsed: passes again
    with pytest.raises(AppError):
        await limiter.cooldown("c", 60)


async def test_an_expired_cooldown_document_still_present_is_ignored(
    limiter: RateLimiter, db: AsyncDatabase[dict[str, Any]], clock: Clock
) -> None:
    await limiter.cooldown("c", 60)
    clock.advance(3600)
    assert await db["rate_limits"].count_documents({}) == 1  # TTL has not removed it
    await limiter.cooldown("c", 60)


async def test_concurrent_cooldowns_let_exactly_one_through(db: AsyncDatabase[dict[str, Any]]) -> None:
    limiters = [RateLimiter(db) for _ in range(4)]

    async def one(i: int) -> bool:
        try:
            await limiters[i % 4].cooldown("c", 60)
            return True
        except AppError as exc:
            assert exc.status == 429
            return False

    await _warm_pool(db)
    results = await asyncio.gather(*(one(i) for i in range(12)))
    assert results.count(True) == 1


async def test_clear_cooldown(limiter: RateLimiter) -> None:
    await limiter.cooldown("c", 60)
    await limiter.clear_cooldown("c")
    await limiter.cooldown("c", 60)
