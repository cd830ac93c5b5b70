"""``python -m server``: settings → database (embedded if needed) → indexes → app → listen.

Subcommands are administrative tasks that share the same start-up (settings and
database) and then exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import pymongo
import tornado.httpserver
import tornado.web
from pydantic import ValidationError

from server.app import make_app
from server.commands import COMMANDS
from server.config import ConfigError, Settings, load_settings
from server.db import (
    EmbeddedDatabaseError,
    EmbeddedMongo,
    default_storage_path,
    make_client,
    publish_url,
    published_url,
    unpublish_url,
)
from server.demo import load_demo
from server.handlers.base import InFlight
from server.logs import JsonFormatter, PlainFormatter, TurnFlushingHandler, use_json
from server.metrics import command_listener
from server.migrations.runner import MigrationError
from server.migrations.steps import run_migrations
from server.processes import LISTEN_BACKLOG, run_processes
from server.services.container import Services, build_services, start_jobs

log = logging.getLogger("server")

CLOSE_TIMEOUT_S = 1.0

def build_parser() -> argparse.ArgumentParser:
    """The command line; ``--help`` documents it."""
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="培训考试报名系统服务器。Without a subcommand: start the HTTP server. "
        "Configuration comes from environment variables (see README); options override them. "
        "Subcommands work beside a running server: they use the database it publishes in DATA_DIR/db.url.",
    )
    parser.add_argument("--host", help="address to listen on (env HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (env PORT, default 8000)")
    parser.add_argument(
        "--demo", action="store_true", help="load the demo data if this database has none yet"
    )
    parser.add_argument(
        "--processes", type=int, default=1, metavar="N",
        help="serve with N processes sharing one socket (default 1; see deploy/README.md)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = load_settings(**overrides)
    except (ConfigError, ValidationError) as exc:
        print(f"配置错误 / configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        if args.command:
            return asyncio.run(_run_command(settings, args))
        if args.processes > 1:
            return run_processes(settings, args.processes, _serve_on, functools.partial(_prepare, demo=args.demo))
        return asyncio.run(serve(settings, demo=args.demo))
    except EmbeddedDatabaseError as exc:
        print(f"数据库无法启动 / database error: {exc}", file=sys.stderr)
        return 3
    except MigrationError as exc:
        print(f"数据库迁移失败 / migration failed: {exc}", file=sys.stderr)
        return 4


def configure_logging(settings: Settings) -> None:
    """Plain lines an operator can read: time, level, logger, message."""
    # Standard error, written once per turn of the event loop; LOG_FORMAT=json: one JSON object per
    # line, else the plain line (its time text made once a second).
    root = logging.getLogger()
    if not root.handlers:
        try:
            root.addHandler(TurnFlushingHandler(sys.stderr.fileno()))
        except (AttributeError, OSError, ValueError):  # standard error is not a file: write to it as is
            root.addHandler(logging.StreamHandler(sys.stderr))
        root.setLevel(settings.log_level.upper())
    formatter = JsonFormatter() if use_json(settings.app_env, settings.log_format) else PlainFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    # urllib3 (under wechatpy) logs full request URLs — with the app secret — at DEBUG.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # Our format shows none of these; not collecting them per record makes the access log
    # line (one per request) cheaper (the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup (file, line) per record: our formats show none


@contextlib.asynccontextmanager
async def open_services(settings: Settings, *, serving: bool = True) -> AsyncIterator[tuple[Services, bool]]:
    """Database (starting the embedded one when MONGODB_URL is empty), indexes, services.

    A serving process supervises its embedded database (restarted with backoff when it dies)
    and publishes its URL in ``DATA_DIR/db.url``; a subcommand (``serving=False``) uses a
    published URL whose database answers, rather than opening the same files a second time.
    """
    embedded = None
    supervisor: asyncio.Task[None] | None = None
    url = settings.mongodb_url
    if not url and not serving:
        url = await published_url(settings.data_dir) or ""
        if url:
            log.info("using the database of the running server (DATA_DIR/db.url)")
    if not url:
        embedded = EmbeddedMongo(default_storage_path(settings.data_dir).resolve())
        url = embedded.start()
        log.info("embedded database started (pid %s)", embedded.process.pid if embedded.process else "?")
    client = make_client(url, serverSelectionTimeoutMS=settings.db_selection_timeout_ms,
                         **command_listener(settings))
    services = None
    try:
        if embedded is not None and serving:
            publish_url(settings.data_dir, url)
            supervisor = asyncio.create_task(embedded.supervise(), name="embedded-db-supervisor")
        db = client[settings.mongodb_db]
        services = build_services(settings, db)
        # Indexes and data migrations: versioned steps, each once across processes (server/migrations).
        await run_migrations(db, services.cipher)
        yield services, embedded is not None
    finally:
        if services is not None:
            log.info("stopping periodic jobs, background jobs and the executor")
            await services.close()
        # Closing ends the driver's server sessions, a round trip that would wait out the
        # server selection timeout when the database is already gone.
        log.info("closing the database client")
        with pymongo.timeout(CLOSE_TIMEOUT_S):
            await client.close()
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        if embedded is not None:
            if serving:
                unpublish_url(settings.data_dir, url)
            embedded.stop()
            log.info("embedded database stopped")


async def _prepare(settings: Settings, *, demo: bool) -> None:
    """--processes: migrations and the demo data once, in the parent, before the children fork."""
    async with open_services(settings) as (services, _embedded):
        if demo:
            await _load_demo(services)


async def _serve_on(settings: Settings, sockets: list[socket.socket]) -> int:
    """--processes: one child serving on the parent's listening sockets."""
    return await serve(settings, demo=False, sockets=sockets)


async def serve(settings: Settings, *, demo: bool, sockets: list[socket.socket] | None = None) -> int:
    """Serve HTTP until SIGINT or SIGTERM, then stop cleanly (requests, services, database).

    The stop: close the listening sockets (no new connections), let the requests being
    handled finish — up to SHUTDOWN_GRACE_SECONDS, logging those still open — then close
    the remaining (idle keep-alive) connections, the services and the database.
    """
    async with open_services(settings) as (services, _embedded):
        if demo:
            await _load_demo(services)
        if settings.jobs_in_process:  # else dedicated `python -m server worker` processes run them
            start_jobs(services)
        app = make_app(settings, services)
        in_flight = InFlight()
        app.settings["in_flight"] = in_flight
        server = make_http_server(app, settings)
        if sockets is not None:  # a child of --processes: the socket its parent bound
            server.add_sockets(sockets)
            log.info("process %d serving", os.getpid())
            return await _serve_until_signal(server, in_flight, settings)
        server.listen(settings.port, settings.host, backlog=LISTEN_BACKLOG)
        print(f"服务已启动 / listening: {settings.base_url}  (API: {settings.base_url}/api/openapi.json)",
              flush=True)
        return await _serve_until_signal(server, in_flight, settings)


async def _serve_until_signal(server: tornado.httpserver.HTTPServer, in_flight: InFlight, settings: Settings) -> int:
    """Wait for SIGTERM/SIGINT, then stop: no new connections, open requests drained, connections closed."""
    hurry = await _wait_for_signal()
    log.info("stopping: no new connections, finishing %d open request(s) (a second signal: stop now)",
             len(in_flight))
    server.stop()
    still_open = await in_flight.drain(settings.shutdown_grace_seconds, hurry)
    if still_open:
        log.warning("%d request(s) still open after %.0f s, closing them: %s",
                    len(still_open), settings.shutdown_grace_seconds, "; ".join(still_open))
    try:
        await asyncio.wait_for(server.close_all_connections(), CLOSE_TIMEOUT_S * 5)
    except TimeoutError:
        log.warning("connections still open; closing anyway")
    return 0


def make_http_server(app: tornado.web.Application, settings: Settings) -> tornado.httpserver.HTTPServer:
    """The HTTP server with its timeouts; forwarded headers are judged by the handlers (TRUSTED_PROXIES).

    ``xheaders`` stays off: Tornado would take X-Real-IP / X-Forwarded-For from any client.
    """
    return tornado.httpserver.HTTPServer(
        app,
        xheaders=False,
        max_body_size=settings.max_request_bytes,
        idle_connection_timeout=settings.idle_timeout_seconds,
        body_timeout=settings.body_max_seconds,
    )


async def _wait_for_signal() -> asyncio.Event:
    """Wait for SIGINT or SIGTERM; the event returned is set by a second one (an impatient Ctrl-C)."""
    first, again = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: (again if first.is_set() else first).set())
    await first.wait()
    return again


async def _load_demo(services: Services) -> None:
    lines = await load_demo(services)
    if lines is None:
        print("演示数据已存在（账号信息只在首次加载时打印）/ demo data already loaded", flush=True)
        return
    print("\n".join(["演示数据已加载 / demo data loaded:", *lines]), flush=True)


async def _run_command(settings: Settings, args: argparse.Namespace) -> int:
    _, _, run = COMMANDS[args.command]
    async with open_services(settings, serving=False) as (services, _):
        return await run(services, args)


if __name__ == "__main__":
    sys.exit(main())
