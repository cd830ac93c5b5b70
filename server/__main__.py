"""``python -m server``: settings → database (embedded if needed) → indexes → app → listen.

Subcommands are administrative tasks that share the same start-up (settings and
database) and then exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator

import pymongo
import tornado.httpserver
from pydantic import ValidationError

from server.app import make_app
from server.commands import COMMANDS
from server.config import ConfigError, Settings, load_settings
from server.db import EmbeddedDatabaseError, EmbeddedMongo, default_storage_path, ensure_indexes, make_client
from server.demo import load_demo
from server.services.container import Services, build_services, start_jobs

log = logging.getLogger("server")

CLOSE_TIMEOUT_S = 1.0

def build_parser() -> argparse.ArgumentParser:
    """The command line; ``--help`` documents it."""
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="培训考试报名系统服务器。Without a subcommand: start the HTTP server. "
        "Configuration comes from environment variables (see README); options override them.",
    )
    parser.add_argument("--host", help="address to listen on (env HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (env PORT, default 8000)")
    parser.add_argument(
        "--demo", action="store_true", help="load the demo data if this database has none yet"
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
        return asyncio.run(serve(settings, demo=args.demo))
    except EmbeddedDatabaseError as exc:
        print(f"数据库无法启动 / database error: {exc}", file=sys.stderr)
        return 3


def configure_logging(settings: Settings) -> None:
    """Plain lines an operator can read: time, level, logger, message."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    # urllib3 (under wechatpy) logs full request URLs — with the app secret — at DEBUG.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # Our format shows none of these; not collecting them per record makes the access log
    # line (one per request) cheaper (the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[tuple[Services, bool]]:
    """Database (starting the embedded one when MONGODB_URL is empty), indexes, services."""
    embedded = None
    url = settings.mongodb_url
    if not url:
        embedded = EmbeddedMongo(default_storage_path(settings.data_dir).resolve())
        url = embedded.start()
        log.info("embedded database started (pid %s)", embedded.process.pid if embedded.process else "?")
    client = make_client(url)
    services = None
    try:
        db = client[settings.mongodb_db]
        await ensure_indexes(db)
        services = build_services(settings, db)
        yield services, embedded is not None
    finally:
        if services is not None:
            log.info("stopping periodic jobs, background jobs and the executor")
            await services.close()
        # Closing ends the driver's server sessions, a round trip that would wait out the
        # server selection timeout (5 s) when the database is already gone.
        log.info("closing the database client")
        with pymongo.timeout(CLOSE_TIMEOUT_S):
            await client.close()
        if embedded is not None:
            embedded.stop()
            log.info("embedded database stopped")


async def serve(settings: Settings, *, demo: bool) -> int:
    """Serve HTTP until SIGINT or SIGTERM, then stop cleanly (requests, services, database)."""
    async with open_services(settings) as (services, _embedded):
        if demo:
            await _load_demo(services)
        if settings.jobs_in_process:  # else dedicated `python -m server worker` processes run them
            start_jobs(services)
        app = make_app(settings, services)
        server = tornado.httpserver.HTTPServer(
            app, xheaders=True, max_body_size=settings.max_request_bytes
        )
        server.listen(settings.port, settings.host)
        print(f"服务已启动 / listening: {settings.base_url}  (API: {settings.base_url}/api/openapi.json)",
              flush=True)
        await _wait_for_signal()
        log.info("stopping: no new connections, finishing open requests")
        server.stop()
        try:
            await asyncio.wait_for(server.close_all_connections(), 10)
        except TimeoutError:
            log.warning("connections still open after 10 s; closing anyway")
    return 0


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _load_demo(services: Services) -> None:
    lines = await load_demo(services)
    if lines is None:
        print("演示数据已存在（账号信息只在首次加载时打印）/ demo data already loaded", flush=True)
        return
    print("\n".join(["演示数据已加载 / demo data loaded:", *lines]), flush=True)


async def _run_command(settings: Settings, args: argparse.Namespace) -> int:
    _, _, run = COMMANDS[args.command]
    async with open_services(settings) as (services, _):
        return await run(services, args)


if __name__ == "__main__":
    sys.exit(main())
