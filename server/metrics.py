"""Prometheus metrics at ``/metrics``: requests, latency, job queue, pools, seats left.

* ``http_requests_total{method,route,status}`` and ``http_request_duration_seconds{method,route}``:
  by **route pattern** (``/api/v1/sessions/{session_id}``), never the raw path (unbounded labels,
  ids in a monitoring system), counted in the access-log hook of every request.
* ``executor_tasks_in_flight{pool}`` / ``executor_capacity{pool}``: the blocking-work pools
  (services/cpu.py) of each process; the queue is what exceeds the workers.
* ``jobs_due{kind}``, ``jobs_oldest_due_age_seconds``, ``jobs_dead``: the job queue, read from the
  database when scraped (so every process reports the same, whichever Prometheus reaches).
* ``session_seats_left{session}``: seats a newcomer may still take, per published session.
* ``db_commands_total{command,collection}``: the database commands this process sent (a PyMongo
  command listener, :data:`DB_COMMANDS`, attached to the client when METRICS_TOKEN is set): the
  round trips of each hot request, as the benchmarks print them. Per process, also under
  ``--processes`` (a scrape shows the process that answered it).

Several processes (``--processes N``): prometheus-client's multi-process mode. The parent sets
``PROMETHEUS_MULTIPROC_DIR`` (``DATA_DIR/metrics`` unless set) and empties it before forking; each
process writes its counters there and a scrape of any one sums them. prometheus-client reads that
variable when it is first imported, hence the imports inside the functions here.

Access: only with ``Authorization: Bearer <METRICS_TOKEN>``; without METRICS_TOKEN the endpoint is
off (403). nginx does not forward ``/metrics`` from outside either (deploy/nginx.conf).
"""

from __future__ import annotations

import hmac
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo import monitoring

from server.errors import AppError
from server.logs import REQUEST_ID

if TYPE_CHECKING:
    import tornado.web
    from pymongo.asynchronous.database import AsyncDatabase

    from server.services.cpu import Pools

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_label(pattern: str) -> str:
    """``/api/v1/sessions/(?P<session_id>[^/]+)`` → ``/api/v1/sessions/{session_id}``."""
    return _GROUP.sub(r"{\1}", pattern).replace("\\", "").rstrip("$")


def prepare_multiprocess_dir(data_dir: Path) -> Path:
    """For ``--processes``: set PROMETHEUS_MULTIPROC_DIR (unless set) and empty it; before any fork."""
    path = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "metrics")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path.resolve())
    return path


def mark_process_dead(pid: int) -> None:
    """A child stopped: its live gauges no longer count (multi-process mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class CommandCounter(monitoring.CommandListener):
    """Counts the database commands sent by this process, by command and collection.

    A plain dict increment per command (no lock: PyMongo's async client calls it on the event
    loop's thread); read by :meth:`Metrics.render` as ``db_commands_total``.
    """

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """One command sent."""
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else str(event.command.get("collection", ""))
        self.counts[(event.command_name, collection)] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to count."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to count."""


DB_COMMANDS = CommandCounter()


def command_listener(settings: Any) -> dict[str, Any]:
    """The client options that attach :data:`DB_COMMANDS` when metrics are on (METRICS_TOKEN set)."""
    return {"event_listeners": [DB_COMMANDS]} if settings.metrics_token.get_secret_value() else {}


class Metrics:
    """The metrics of one application: built by ``make_app``, fed by the access log, read by ``/metrics``."""

    def __init__(self, routes: list[tuple[Any, ...]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("http_requests_total", "HTTP requests by route pattern and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "HTTP request latency by route pattern",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.pool_in_flight = Gauge("executor_tasks_in_flight", "tasks running or queued in a blocking-work pool",
                                    ["pool"], registry=self.registry, multiprocess_mode="livesum")
        self.pool_capacity = Gauge("executor_capacity", "workers + queue of a blocking-work pool",
                                   ["pool"], registry=self.registry, multiprocess_mode="livesum")
        self.route_of = {}
        self._series: dict[tuple[type, str, int], tuple[Any, Any]] = {}  # the children of labels(), per kind
        for route in routes:
            pattern, handler = (route.regex.pattern, route.target) if hasattr(route, "regex") else route[:2]
            self.route_of.setdefault(handler, route_label(pattern))

    def observing(self, log_function: Callable[[tornado.web.RequestHandler], None]
                  ) -> Callable[[tornado.web.RequestHandler], None]:
        """The application's ``log_function``, counting each request first."""
        def log_and_count(handler: tornado.web.RequestHandler) -> None:
            self.observe(handler)
            token = REQUEST_ID.set(getattr(handler, "request_id", None))  # for the JSON log line
            try:
                log_function(handler)
            finally:
                REQUEST_ID.reset(token)
        return log_and_count

    def observe(self, handler: tornado.web.RequestHandler) -> None:
        """Count one finished request under its route pattern (``unmatched`` for 404s of no route)."""
        method = handler.request.method or "-"
        if method not in handler.SUPPORTED_METHODS:
            method = "OTHER"  # a client's made-up methods must not each add a series
        key = (type(handler), method, handler.get_status())
        series = self._series.get(key)
        if series is None:  # prometheus-client's labels() validates and locks: once per kind of request
            route = self.route_of.get(key[0], "unmatched")
            series = self._series[key] = (self.requests.labels(key[1], route, str(key[2])),
                                          self.latency.labels(key[1], route))
        series[0].inc()
        series[1].observe(handler.request.request_time())

    def authorize(self, token: str, authorization: str | None) -> None:
        """Refuse unless METRICS_TOKEN is set and the request carries it as a bearer token."""
        if not token:
            raise AppError(403, "metrics_disabled", "未开放监控指标（未设置 METRICS_TOKEN）")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise AppError(401, "unauthorized", "需要监控令牌")

    async def render(self, db: AsyncDatabase[dict[str, Any]], pools: Pools) -> tuple[str, bytes]:
        """(content type, body): this process's (or every process's) counters and the database gauges."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        for name in ("documents", "hashing", "network"):
            pool = getattr(pools, name, None)
            if pool is not None and hasattr(pool, "in_flight"):
                self.pool_in_flight.labels(name).set(pool.in_flight)
                self.pool_capacity.labels(name).set(pool.capacity)
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            counters = CollectorRegistry()
            multiprocess.MultiProcessCollector(counters)
        else:
            counters = self.registry
        return CONTENT_TYPE_LATEST, generate_latest(counters) + await _database_gauges(db) + _command_counts()


def _command_counts() -> bytes:
    """``db_commands_total`` of this process (empty when no listener is attached)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily("db_commands", "database commands sent by this process",
                                 labels=["command", "collection"])
    for (command, collection), count in sorted(DB_COMMANDS.counts.items()):
        family.add_metric([command, collection], count)
    registry = CollectorRegistry()
    registry.register(_Fixed([family]))
    return generate_latest(registry)


async def _database_gauges(db: AsyncDatabase[dict[str, Any]]) -> bytes:
    """The job queue and the seats, read now (the same answer from every process)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    from server.services.catalog.seats import seats_left

    now = datetime.now(UTC)
    due = GaugeMetricFamily("jobs_due", "jobs queued or failed and due now", labels=["kind"])
    async for row in await db["jobs"].aggregate([
        {"$match": {"status": {"$in": ["queued", "failed"]}, "run_at": {"$lte": now}}},
        {"$group": {"_id": "$kind", "n": {"$sum": 1}, "oldest": {"$min": "$run_at"}}},
    ]):
        due.add_metric([str(row["_id"])], row["n"])
    oldest_doc = await db["jobs"].find_one({"status": {"$in": ["queued", "failed"]}, "run_at": {"$lte": now}},
                                           {"run_at": 1}, sort=[("run_at", 1)])
    oldest = GaugeMetricFamily("jobs_oldest_due_age_seconds", "how long the most overdue job has waited",
                               value=(now - oldest_doc["run_at"]).total_seconds() if oldest_doc else 0.0)
    dead = GaugeMetricFamily("jobs_dead", "jobs that used up their attempts (an admin retries them)",
                             value=await db["jobs"].count_documents({"status": "dead"}))
    seats = GaugeMetricFamily("session_seats_left", "seats a newcomer may still take, per published session",
                              labels=["session"])
    async for session in db["sessions"].find({"status": "published"},
                                             {"code": 1, "capacity": 1, "seats_taken": 1, "held_for": 1,
                                              "waiting": 1}):
        seats.add_metric([str(session.get("code") or session["_id"])], seats_left(session))
    registry = CollectorRegistry()
    registry.register(_Fixed([due, oldest, dead, seats]))
    return generate_latest(registry)


class _Fixed:
    """A collector returning metric families computed beforehand (the database reads are async)."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        """The families."""
        return self.families
