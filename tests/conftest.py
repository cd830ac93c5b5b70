"""Shared fixtures: a real database server, a fresh database per test, the app on a real port.

The database is SecantusDB started as a child process (``:memory:``), or a real
MongoDB when ``TEST_MONGODB_URL`` is set. Nothing is faked in-process.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.testing
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from server.app import make_app
from server.config import Settings, generate_secrets
from server.db import EmbeddedMongo, ensure_indexes, make_client
from server.services.container import Services, build_services
from tests.client import ApiClient
from tests.wechat_stub import WeChatStub


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    """One database server for the whole run."""
    external = os.environ.get("TEST_MONGODB_URL")
    if external:
        yield external
        return
    server = EmbeddedMongo(":memory:")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def mongo_client(mongo_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """One client, bound to the session's event loop."""
    client = make_client(mongo_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def db(mongo_client: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A fresh database with every index, dropped after the test."""
    database = mongo_client[f"test_{uuid.uuid4().hex[:12]}"]
    await ensure_indexes(database)
    try:
        yield database
    finally:
        await mongo_client.drop_database(database.name)


@pytest.fixture
async def wechat_stub() -> AsyncIterator[WeChatStub]:
    """A local WeChat jscode2session server on a free loopback port."""
    async with WeChatStub() as stub:
        yield stub


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: fresh secrets, files under the test's own folder."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "app_env": "dev",
            "data_dir": tmp_path / "var",
            "sms_outbox": tmp_path / "sms-outbox.jsonl",
            "notify_outbox": tmp_path / "notify-outbox.jsonl",
            # argon2 at its cheapest: the production cost is measured in bench/, not paid per test.
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8,
            "login_slowdown_seconds": 0,  # measured in its own test
            **generate_secrets(),
        }
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The default settings of a test."""
    return make_settings()


@pytest.fixture
async def services(settings: Settings, db: AsyncDatabase[dict[str, Any]]) -> AsyncIterator[Services]:
    """Every service, wired as in production, on the test's database (its job runner started, no periodic tasks)."""
    built = build_services(settings, db)
    built.runner.start()
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def api(settings: Settings, services: Services) -> AsyncIterator[ApiClient]:
    """The app served on a free port, and a client speaking real HTTP to it."""
    async with serve_app(settings, services) as client:
        yield client


class serve_app:
    """Serve ``make_app`` on a free loopback port for the duration of a ``with`` block."""

    def __init__(
        self, settings: Settings, services: Services, routes: list[tuple[Any, ...]] | None = None
    ) -> None:
        self.settings = settings
        self.services = services
        self.routes = routes

    async def __aenter__(self) -> ApiClient:
        app = make_app(self.settings, self.services, self.routes)
        sock, port = tornado.testing.bind_unused_port()
        self.server = tornado.httpserver.HTTPServer(
            app, xheaders=True, max_body_size=self.settings.max_request_bytes
        )
        self.server.add_sockets([sock])
        self.client = ApiClient(f"http://127.0.0.1:{port}")
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        self.client.close()
        self.server.stop()
        await self.server.close_all_connections()

