"""The enrollment window in Beijing calendar days (pure helpers)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from server.services.catalog import enrollment_window_open, today_shanghai

SESSION = {"status": "published", "enroll_start": "2026-03-01", "enroll_end": "2026-03-10"}


def test_window_is_inclusive_at_both_ends() -> None:
    assert not enrollment_window_open(SESSION, date(2026, 2, 28))
    assert enrollment_window_open(SESSION, date(2026, 3, 1))
    assert enrollment_window_open(SESSION, date(2026, 3, 10))
    assert not enrollment_window_open(SESSION, date(2026, 3, 11))


def test_only_published_sessions_are_open() -> None:
    for status in ("draft", "closed"):
        assert not enrollment_window_open({**SESSION, "status": status}, date(2026, 3, 5))


def test_today_is_the_beijing_day() -> None:
    # Around midnight in Beijing the UTC day differs; the answer follows Beijing.
    assert today_shanghai() == datetime.now(ZoneInfo("Asia/Shanghai")).date()
