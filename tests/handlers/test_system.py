"""/healthz and the generated OpenAPI document."""

from __future__ import annotations

import asyncio

from openapi_spec_validator import validate

from server.config import Settings
from server.db import EmbeddedMongo, make_client
from server.services.container import build_services
from tests.client import ApiClient
from tests.conftest import serve_app


async def test_healthz_is_ok_with_the_database(api: ApiClient) -> None:
    r = await api.get("/healthz")
    assert r.status == 200
    assert r.json == {"status": "ok", "database": "ok"}


async def test_healthz_is_503_when_the_database_stops(settings: Settings) -> None:
    server = EmbeddedMongo(":memory:")
    client = make_client(server.start(), serverSelectionTimeoutMS=500)
    services = build_services(settings, client["health"])
    try:
        async with serve_app(settings, services) as api:
            assert (await api.get("/healthz")).status == 200
            server.stop()
            await asyncio.sleep(services.health.max_age)  # the probe's answer is shared that long
            r = await api.get("/healthz")
            assert r.status == 503
            assert r.error_code == "database_unreachable"
    finally:
        server.stop()
        await services.close()
        await client.close()


async def test_openapi_document_is_valid_and_generated_from_the_routes(api: ApiClient) -> None:
    r = await api.get("/api/openapi.json")
    assert r.status == 200
    document = r.json
    validate(document)
    assert document["openapi"].startswith("3.1")
    health = document["paths"]["/healthz"]["get"]
    assert health["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HealthOut"
    }
    assert "HealthOut" in document["components"]["schemas"]
