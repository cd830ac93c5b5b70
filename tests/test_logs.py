"""LOG_FORMAT=json: one JSON object per line, the request id on the access line, default in production."""

from __future__ import annotations

import json
import logging
import sys

from server.logs import REQUEST_ID, JsonFormatter, use_json


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
