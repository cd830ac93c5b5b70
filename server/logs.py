"""Structured logs: one JSON object per line (LOG_FORMAT=json, the default when APP_ENV=production).

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``pid``, and ``request_id`` on
the lines logged while a request is being finished (the access log line, set by the metrics hook
around it) or when a line passes ``extra={"request_id": ...}``; ``exception`` holds a stack trace.
The message is the same text as in the plain format, so nothing personal is added by the format.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from datetime import UTC, datetime

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's fields, the request id when known, the stack when there is one."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def use_json(app_env: str, log_format: str) -> bool:
    """LOG_FORMAT when set, else JSON in production and text elsewhere."""
    return log_format == "json" or (not log_format and app_env == "production")
