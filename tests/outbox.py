"""Reading the file SMS outbox in tests."""

from __future__ import annotations

import asyncio
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


async def wait_for_lines(path: Path, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The outbox once it holds at least ``count`` messages: notifications are sent by a job runner."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(lines := read_outbox(path)) < count:
        if loop.time() > deadline:
            raise AssertionError(f"{len(lines)} of {count} messages in {path} after {timeout} s")
        await asyncio.sleep(0.05)
    return lines


async def wait_for_notes(path: Path, account_id: str, kind: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The account's notifications of ``kind`` once the job runner has sent one (empty after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (found := [n for n in read_outbox(path) if n["account_id"] == account_id and n["kind"] == kind]):
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    return found
