"""The enrollment window in Beijing calendar days (pure helpers)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.errors import AppError
from server.services.catalog.catalog import (
    check_enrollment_open,
    enrollment_closes_at,
    enrollment_window_open,
    today_shanghai,
    training_started,
)

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


def test_training_starts_on_its_first_day() -> None:
    session = {**SESSION, "start_date": "2026-03-15"}
    assert not training_started(session, date(2026, 3, 14))
    assert training_started(session, date(2026, 3, 15))
    assert training_started(session, date(2026, 3, 20))


def test_enrolling_closes_at_beijing_midnight_after_the_last_day() -> None:
    session = {**SESSION, "start_date": "2026-03-15"}
    assert enrollment_closes_at(session) == datetime(2026, 3, 11, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert enrollment_closes_at(session).utcoffset() == timedelta(0)  # stored as UTC
    # Older data whose window runs into the training: never past the first training day.
    late = {**SESSION, "enroll_end": "2026-03-20", "start_date": "2026-03-15"}
    assert enrollment_closes_at(late) == datetime(2026, 3, 15, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("change", "today", "code"),
    [
        ({"status": "draft"}, date(2026, 3, 5), "session_not_open"),
        ({}, date(2026, 3, 11), "outside_enrollment_window"),
        ({"enroll_end": "2026-03-20"}, date(2026, 3, 15), "session_started"),
    ],
)
def test_check_enrollment_open_names_the_rule(change: dict[str, str], today: date, code: str) -> None:
    session = {**SESSION, "start_date": "2026-03-15", **change}
    with pytest.raises(AppError) as refused:
        check_enrollment_open(session, today)
    assert refused.value.code == code and refused.value.status == 409
    check_enrollment_open({**SESSION, "start_date": "2026-03-15"}, date(2026, 3, 10))  # open: no error
