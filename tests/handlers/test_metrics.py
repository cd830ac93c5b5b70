"""``GET /metrics``: refused without METRICS_TOKEN, route patterns not paths, the queue and the seats."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import tornado.httpclient
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.metrics import route_label
from server.services.container import Services, build_services
from tests.conftest import serve_app

TOKEN = "metrics-" + "z" * 24


async def _get(client: Any, path: str, **headers: str) -> tornado.httpclient.HTTPResponse:
    http = tornado.httpclient.AsyncHTTPClient()
    return await http.fetch(client.base_url + path, headers=headers, raise_error=False)


def test_route_labels_are_patterns() -> None:
    assert route_label(r"/api/v1/sessions/(?P<session_id>[^/]+)") == "/api/v1/sessions/{session_id}"
    assert route_label(r"/api/v1/payments/(?P<payment_id>[^/]+)/invoice\.pdf") == \
        "/api/v1/payments/{payment_id}/invoice.pdf"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """This module's settings: the metrics token set."""
    return make_settings(metrics_token=TOKEN)


async def test_metrics_are_off_without_a_token(
    make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]]
) -> None:
    settings = make_settings()
    services = build_services(settings, db)
    try:
        async with serve_app(settings, services) as client:
            answer = await _get(client, "/metrics", Authorization=f"Bearer {TOKEN}")
    finally:
        await services.close()
    assert answer.code == 403 and "METRICS_TOKEN" in answer.body.decode()


async def test_metrics_count_by_route_and_read_the_queue_and_seats(
    settings: Settings, db: AsyncDatabase[dict[str, Any]], services: Services
) -> None:
    await services.runner.stop()  # the queued job stays queued
    await db["sessions"].insert_one({"code": "KQ-9", "status": "published", "capacity": 30, "seats_taken": 12,
                                     "held_for": ["x"], "waiting": []})
    await db["jobs"].insert_one({"kind": "payment_ocr", "status": "queued",
                                 "run_at": datetime.now(UTC) - timedelta(seconds=90)})
    async with serve_app(settings, services) as client:
        for _ in range(3):
            await _get(client, "/api/v1/sessions/0123456789abcdef01234567")
        for made_up in ("FOO1", "FOO2"):  # a client's own methods: one series between them, not one each
            await tornado.httpclient.AsyncHTTPClient().fetch(tornado.httpclient.HTTPRequest(
                client.base_url + "/healthz", method=made_up, allow_nonstandard_methods=True), raise_error=False)
        assert (await _get(client, "/metrics", Authorization="Bearer wrong")).code == 401
        answer = await _get(client, "/metrics", Authorization=f"Bearer {TOKEN}")
    assert answer.code == 200
    text = answer.body.decode()
    assert 'http_requests_total{method="GET",route="/api/v1/sessions/{session_id}",status="404"} 3.0' in text
    assert "0123456789abcdef" not in text, "no raw path, no id"
    assert 'http_requests_total{method="OTHER",route="/healthz",status="405"} 2.0' in text and "FOO1" not in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/sessions/{session_id}"}' \
        in text
    assert 'session_seats_left{session="KQ-9"} 17.0' in text
    assert 'jobs_due{kind="payment_ocr"} 1.0' in text
    age = float(next(line for line in text.splitlines() if line.startswith("jobs_oldest_due_age_seconds")).split()[1])
    assert 89 < age < 200
    assert 'executor_capacity{pool="hashing"}' in text
