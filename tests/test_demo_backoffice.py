"""The demo data gives the back office's home something to show: open sessions, a waitlist, payments
waiting for review, and a session in training today with check-ins and a conflict."""

from __future__ import annotations

from server.demo import load_demo
from server.services import Principal
from server.services.container import Services


async def test_demo_dashboard_is_not_empty(services: Services) -> None:
    lines = await load_demo(services)
    assert lines is not None
    assert any("waitlist" in line for line in lines) and any("today's check-ins" in line for line in lines), lines
    admin = await services.accounts.accounts.find_one({"role": "admin"})
    assert admin is not None
    board = await services.dashboard.build(Principal(admin["_id"], "admin"))
    assert board.open_sessions and board.review and board.jobs is not None
    full = next(s for s in board.open_sessions if s.code.startswith("ZL-"))
    assert (full.capacity, full.seats_taken, full.seats_left) == (1, 1, 0) and full.waitlist == 2
    assert board.review.waiting >= 2  # the demo's own and the full session's seat
    [today] = board.checkins_today
    assert today.code.startswith("XC-") and today.checked_in == 2 and today.conflicts == 1
    assert today.approved >= 2
    conflicts = await services.session_roster.conflicts_of(today.session_id, board.today.isoformat())
    assert [c.device_id for c in conflicts.items] == ["door-2"]
