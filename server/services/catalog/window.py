"""When a session is open for enrolling: Beijing calendar days, the end day inclusive.

Pure functions on a stored session, shared by the catalog, the seat ledger, the waitlist and
enrollment (kept apart so that none of them has to import another for these rules).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from server import errors
from server.models.catalog import SessionStatus
from server.services.accounts.identity import SHANGHAI


def enrollment_window_open(session: dict[str, Any], today: date) -> bool:
    """Whether one may enroll on ``today``: published, and enroll_start <= today <= enroll_end (inclusive)."""
    day = today.isoformat()
    return session["status"] == SessionStatus.published and session["enroll_start"] <= day <= session["enroll_end"]


def training_started(session: dict[str, Any], today: date) -> bool:
    """Whether the training has begun on ``today`` (Beijing day): nobody enrolls from its first day on."""
    return str(session["start_date"]) <= today.isoformat()


def check_enrollment_open(session: dict[str, Any], today: date) -> None:
    """Refuse (409) enrolling or joining the waitlist of a session not open on ``today`` (Beijing day)."""
    if session["status"] != SessionStatus.published:
        raise errors.conflict("session_not_open", "该班次未开放报名")
    if training_started(session, today):
        # Sessions are saved with the window ending before the start; older data may not be.
        raise errors.conflict("session_started", "培训已开始，不能再报名")
    if not enrollment_window_open(session, today):
        raise errors.conflict(
            "outside_enrollment_window", f"不在报名时间内（{session['enroll_start']} 至 {session['enroll_end']}）")


def enrollment_closes_at(session: dict[str, Any]) -> datetime:
    """The instant enrolling ends: midnight (Beijing) after 报名结束日期, never after the first training day."""
    last_day = date.fromisoformat(str(session["enroll_end"])) + timedelta(days=1)
    first_day = date.fromisoformat(str(session["start_date"]))
    return datetime.combine(min(last_day, first_day), time(0), SHANGHAI).astimezone(UTC)


def open_window_filter(today: date) -> dict[str, Any]:
    """The same rules as a query filter on ``sessions`` (for guarded updates)."""
    day = today.isoformat()
    return {"status": str(SessionStatus.published), "enroll_start": {"$lte": day}, "enroll_end": {"$gte": day},
            "start_date": {"$gt": day}}
