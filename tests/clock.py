"""A settable clock to inject into services (never a patched global)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2025, 3, 1, 2, 0, 0, tzinfo=UTC)  # 10:00 in Shanghai


class Clock:
    """Call it for "now"; move it with :meth:`advance`."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.at += timedelta(seconds=seconds)
