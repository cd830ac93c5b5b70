"""Reading the file SMS outbox in tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every message of the outbox, oldest first (none when the file does not exist)."""
    if not Path(path).exists():
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def last_code(path: Path, phone: str) -> str:
    """The code of the newest message sent to ``phone``."""
    for message in reversed(read_outbox(path)):
        if message["phone"] == phone:
            return str(message["code"])
    raise AssertionError(f"no SMS to {phone} in {path}")
