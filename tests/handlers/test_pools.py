"""Blocking work kept apart: a full documents pool answers 503 busy, and a login is not held up by it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services, build_pools, build_services
from server.services.cpu import Pools
from tests.client import ApiClient, Response
from tests.conftest import serve_app
from tests.factories import register_trainee
from tests.handlers.profile.test_photo_upload import fixture, upload


def _occupy(pool: Any, gate: threading.Event) -> list[Future[bool]]:
    """Fill a pool (its workers and its queue) with real work that lasts until ``gate`` opens."""
    return [pool.submit(gate.wait, 30) for _ in range(pool.capacity)]


async def _login(api: ApiClient, body: dict[str, Any]) -> Response:
    return await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": body["password"]})


async def _scenario(settings: Settings, db: AsyncDatabase[dict[str, Any]],
                    pools: Callable[[Settings], Pools]) -> tuple[Response, Response, Response]:
    """Fill the documents pool, then: a photo upload, a password login; then the upload once room is back."""
    built: Services = build_services(settings, db, pools(settings))
    gate = threading.Event()
    try:
        async with serve_app(settings, built) as api:
            token, body = await register_trainee(api, settings.sms_outbox)
            held = _occupy(built.pools.documents, gate)
            busy = await upload(api, token, fixture("portrait.jpg"))
            login = await _login(api, body)
            gate.set()
            assert all(f.result(timeout=10) for f in held)
            after = await upload(api, token, fixture("portrait.jpg"))
            return busy, login, after
    finally:
        gate.set()
        await built.close()


@pytest.fixture
def small(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(executor_workers=1, executor_queue=2, hash_workers=1, hash_queue=2)


async def test_full_documents_pool_answers_busy_and_a_login_completes(small: Settings, db) -> None:  # type: ignore[no-untyped-def]
    busy, login, after = await _scenario(small, db, build_pools)
    assert (busy.status, busy.error_code) == (503, "server_busy"), busy.body
    assert busy.headers["Retry-After"] == "2" and busy.json["error"]["details"]["retry_after"] == 2
    assert "服务器繁忙" in busy.json["error"]["message"]
    assert login.status == 200, login.body  # the hashing has its own pool
    assert after.status == 200, after.body


async def test_control_one_shared_pool_refuses_the_login_too(small: Settings, db) -> None:  # type: ignore[no-untyped-def]
    """Control: hashing in the documents pool (the former single executor) — the login is refused."""

    def shared(settings: Settings) -> Pools:
        separate = build_pools(settings)
        return Pools(hashing=separate.documents, documents=separate.documents, network=separate.network)

    busy, login, _ = await _scenario(small, db, shared)
    assert busy.status == 503
    assert (login.status, login.error_code) == (503, "server_busy")


async def test_full_network_pool_answers_busy_for_wechat_only(
    make_settings: Callable[..., Settings], db, wechat_stub  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(network_workers=1, network_queue=0, **wechat_stub.settings_overrides())
    built = build_services(settings, db)
    gate = threading.Event()
    try:
        async with serve_app(settings, built) as api:
            _, body = await register_trainee(api, settings.sms_outbox)
            wechat_stub.add_code("code-1", "openid-A", session_key="SK-1")
            held = _occupy(built.pools.network, gate)
            r = await api.post("/api/v1/auth/wechat", {"code": "code-1"})
            assert (r.status, r.error_code) == (503, "server_busy") and r.headers["Retry-After"] == "2"
            assert (await _login(api, body)).status == 200
            gate.set()
            assert all(f.result(timeout=10) for f in held)
            r = await api.post("/api/v1/auth/wechat", {"code": "code-1"})
            assert (r.status, r.error_code) == (409, "wechat_not_bound"), r.body
    finally:
        gate.set()
        await built.close()
