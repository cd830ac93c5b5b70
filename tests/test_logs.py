"""LOG_FORMAT=json: one JSON object per line, the request id on the access line, default in production;
the plain line as the standard formatter writes it; lines of a loop turn written together."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from server.logs import PLAIN_FORMAT, REQUEST_ID, JsonFormatter, PlainFormatter, TurnFlushingHandler, use_json


def test_a_record_becomes_one_json_line_with_the_request_id() -> None:
    record = logging.LogRecord("server.access", logging.INFO, __file__, 1, "GET %s %d", ("/healthz", 200), None)
    token = REQUEST_ID.set("abc123")
    try:
        line = JsonFormatter().format(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "GET /healthz 200" and entry["request_id"] == "abc123"
    assert entry["level"] == "INFO" and entry["logger"] == "server.access" and "\n" not in line


def test_a_stack_stays_inside_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("server", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exception"] and "request_id" not in entry


def test_json_is_the_default_in_production_only() -> None:
    assert use_json("production", "") and not use_json("dev", "")
    assert use_json("dev", "json") and not use_json("production", "text")


def test_the_plain_line_is_the_standard_formatters_line() -> None:
    plain, standard = PlainFormatter(), logging.Formatter(PLAIN_FORMAT)
    record = logging.LogRecord("server.access", logging.INFO, __file__, 1, "GET %s %d", ("/healthz", 200), None)
    for created in (record.created, record.created + 0.5, record.created + 1.25):  # the cached second moves on
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert plain.format(record) == standard.format(record)
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("server", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert plain.format(failed) == standard.format(failed) and "ValueError: boom" in plain.format(failed)


async def test_lines_of_a_loop_turn_are_written_together_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "stderr.log"
    with path.open("wb") as target:
        handler = TurnFlushingHandler(target.fileno())
        handler.setFormatter(PlainFormatter())
        logger = logging.Logger("turns")
        logger.addHandler(handler)
        try:
            for n in range(3):
                logger.warning("line %d", n)
            assert path.read_text() == ""  # still this turn: nothing written yet
            await asyncio.sleep(0)
            assert path.read_text().count("WARNING turns: line") == 3
            await asyncio.to_thread(logger.warning, "from a thread")  # off the loop: at once
            assert path.read_text().endswith("WARNING turns: from a thread\n")
            logger.warning("last")
            handler.close()  # what logging.shutdown does at exit: the rest is written
            assert path.read_text().endswith("WARNING turns: last\n")
        finally:
            handler.close()
