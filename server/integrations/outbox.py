"""A JSON-lines file that development backends (SMS, notifications) append to."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class JsonLinesOutbox:
    """Appends one JSON object per line, stamped with ``at``; whole lines even when concurrent."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # One write call per line in append mode keeps lines whole across processes; the
        # lock keeps the writes of this process's concurrent requests in order.
        self._lock = asyncio.Lock()

    async def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` (plus the time) as one line, off the event loop."""
        line = json.dumps({**record, "at": datetime.now(UTC).isoformat()}, ensure_ascii=False, default=str)
        async with self._lock:
            await asyncio.to_thread(self._write, line + "\n")

    def _write(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
