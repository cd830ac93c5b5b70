"""Tests of the password policy and of argon2id hashing off the event loop."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date

import pytest

from server.services.accounts.passwords import (
    DEFAULT_MEMORY_COST_KIB,
    DEFAULT_TIME_COST,
    PasswordHasher,
    check_password_policy,
    common_passwords,
)

GOOD = "Mei-hua-3-shu!"


def _cheap(**kwargs: object) -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8192, **kwargs)  # type: ignore[arg-type]


# --- common password list -------------------------------------------------------------


def test_common_list_is_loaded() -> None:
    words = common_passwords()
    assert len(words) >= 5000
    for word in ["123456", "password", "12345678", "qwerty123", "a123456", "123456789", "woaini1314", "5201314"]:
        assert word in words
    assert not any(w.startswith("#") for w in words)
    assert common_passwords() is words  # loaded once


# --- policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "至少为8个字符"),
        ("Ab3$xyz", "至少为8个字符"),
        ("Ab3$" * 32 + "x", "不能超过128个字符"),
        ("aaaaaaaaaa", "同一个字符"),
        ("ＡＡＡＡＡＡＡＡ", "同一个字符"),  # full-width, folded by NFKC
        ("iloveyou", "常见"),
        ("123456789", "连续"),
        ("PASSWORD", "常见"),
        ("Qwerty123", "常见"),
        ("woaini1314", "常见"),
        ("１ｑａｚ２ｗｓｘ", "常见"),  # full-width 1qaz2wsx
        ("23456789", "连续"),
        ("hgfedcba", "连续"),
    ],
)
def test_policy_failures(password: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_password_policy(password)


def test_max_length_is_accepted() -> None:
    check_password_policy("Ab3$" * 32)


@pytest.mark.parametrize(
    ("password", "kwargs", "reason"),
    [
        ("zhangsan2024", {"account": "zhangsan"}, "账号"),
        ("ZhangSan#2024", {"account": "zhangsan"}, "账号"),
        ("Xy13812345678", {"phone": "13812345678"}, "手机号码"),
        ("Xy13812345678", {"phone": "+86 138-1234-5678"}, "手机号码"),
        ("Li19900101!", {"birth_date": date(1990, 1, 1)}, "出生日期"),
        ("Li1990-01-01", {"birth_date": date(1990, 1, 1)}, "出生日期"),
        ("Li@900101xx", {"birth_date": date(1990, 1, 1)}, "出生日期"),
        ("Li1990/01/01", {"birth_date": date(1990, 1, 1)}, "出生日期"),
    ],
)
def test_policy_refuses_personal_data(password: str, kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_password_policy(password, **kwargs)  # type: ignore[arg-type]


def test_good_password_passes() -> None:
    check_password_policy(GOOD)
    check_password_policy(
        GOOD, account="zhangsan", phone="13812345678", birth_date=date(1990, 1, 1)
    )
    check_password_policy("长城永远不倒的啊")  # Chinese characters count as characters


def test_short_account_is_not_matched_by_accident() -> None:
    check_password_policy("mylittlepony-7", account="li")


def test_non_string_password() -> None:
    with pytest.raises(ValueError, match="文本"):
        check_password_policy(None)  # type: ignore[arg-type]


# --- hashing ----------------------------------------------------------------------------------


async def test_hash_verify_round_trip() -> None:
    hasher = _cheap()
    stored = await hasher.hash(GOOD)
    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    assert await hasher.verify(stored, GOOD)
    assert not await hasher.verify(stored, GOOD + "x")
    assert not await hasher.verify(stored, "")


async def test_hashes_are_salted() -> None:
    hasher = _cheap()
    assert await hasher.hash(GOOD) != await hasher.hash(GOOD)


async def test_full_width_input_matches_ascii() -> None:
    hasher = _cheap()
    stored = await hasher.hash("Abc12345xyz")
    assert await hasher.verify(stored, "Ａｂｃ１２３４５ｘｙｚ")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "$argon2id$v=19$m=65536,t=3,p=4$abc$def",
        "$2b$12$abcdefghijklmnopqrstuuMOt8wB0oXvVYfIkqL6W9xR5Dk7UJ6zO",  # bcrypt
        "$argon2id$v=19$m=8192,t=1,p=1$密码$密码",
        None,  # unknown account
    ],
)
async def test_unusable_hash_verifies_false(stored: str | None) -> None:
    assert await _cheap().verify(stored, GOOD) is False


async def test_needs_rehash() -> None:
    cheap = _cheap()
    stored = await cheap.hash(GOOD)
    assert not cheap.needs_rehash(stored)
    stronger = PasswordHasher(time_cost=2, memory_cost=8192)
    assert stronger.needs_rehash(stored)
    assert cheap.needs_rehash("garbage")


async def test_custom_executor_is_used() -> None:
    submitted: list[object] = []

    class CountingExecutor(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[no-untyped-def, override]
            submitted.append(fn)
            return super().submit(fn, *args, **kwargs)

    with CountingExecutor(max_workers=1) as executor:
        hasher = _cheap(executor=executor)
        assert await hasher.verify(await hasher.hash(GOOD), GOOD)
    assert len(submitted) == 2


async def test_default_cost_verify_does_not_block_event_loop() -> None:
    hasher = PasswordHasher()  # default (production) parameters
    assert (DEFAULT_TIME_COST, DEFAULT_MEMORY_COST_KIB) == (4, 65536)
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    try:
        stored = await hasher.hash(GOOD)
        assert await hasher.verify(stored, GOOD)
    finally:
        done.set()
        await task
    elapsed = time.perf_counter() - start

    assert elapsed < 2.0
    # A blocked loop would show one tick and a gap as long as the whole hash.
    assert len(ticks) >= 10
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < elapsed / 2
