"""Structured logs: one JSON object per line (LOG_FORMAT=json, the default when APP_ENV=production).

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``pid``, and ``request_id`` on
the lines logged while a request is being finished (the access log line, set by the metrics hook
around it) or when a line passes ``extra={"request_id": ...}``; ``exception`` holds a stack trace.
The message is the same text as in the plain format, so nothing personal is added by the format.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import os
import time
from datetime import UTC, datetime

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PlainFormatter(logging.Formatter):
    """The plain line an operator reads: time, level, logger, message (the stdlib's format), with the
    time's text made once a second rather than once a line (one access line per request)."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        """The line as the stdlib's formatter writes it, in one step when there is no stack to add."""
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        return f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 — stdlib name
        """``2026-12-03 09:15:59,542``, as the stdlib writes it."""
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)  # one assignment: threads that log see a whole pair
        return f"{text},{int(record.msecs):03d}"


class TurnFlushingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard error, with the lines logged on a running event loop written together at the end of
    the loop's turn: one write for the access lines of all the requests finished in that turn, not
    one each (a tenth of ``/healthz``'s CPU was the access line). Lines of other threads, and any
    line when no loop runs, are written at once. ``logging.shutdown`` (normal exit, and the forked
    children's ``os._exit`` path) writes what is left."""

    def __init__(self, fd: int = 2) -> None:
        stream = io.TextIOWrapper(io.BufferedWriter(io.FileIO(os.dup(fd), "w"), 1 << 16),
                                  encoding="utf-8", errors="backslashreplace")
        super().__init__(stream)
        self._scheduled_on: asyncio.AbstractEventLoop | None = None

    def flush(self) -> None:
        """At once off the loop; else once, at the end of this turn of the loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().flush()
            return
        if self._scheduled_on is not loop:
            self._scheduled_on = loop
            loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._scheduled_on = None
        if not self.stream.closed:  # closed meanwhile (logging.shutdown): nothing left to write
            super().flush()

    def close(self) -> None:
        """Write what is left and close this handler's own copy of the descriptor."""
        self.acquire()
        try:
            if not self.stream.closed:
                self.stream.flush()
                self.stream.close()
        finally:
            self.release()
        super().close()


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
