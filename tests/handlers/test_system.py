"""/healthz and the generated OpenAPI document."""

from __future__ import annotations

import asyncio
import gc

import pytest
from openapi_spec_validator import validate

from server.app import all_routes
from server.config import Settings
from server.db import EmbeddedMongo, make_client
from server.openapi import route_path
from server.services.container import build_services
from tests.client import ApiClient
from tests.conftest import serve_app


async def test_healthz_is_ok_with_the_database(api: ApiClient) -> None:
    r = await api.get("/healthz")
    assert r.status == 200
    assert r.json == {"status": "ok", "database": "ok"}


async def _health_after_the_database_stops(settings: Settings) -> tuple[int, int, str | None]:
    """(status before, status after, error code after) of /healthz around stopping the database."""
    server = EmbeddedMongo(":memory:")
    client = make_client(server.start(), serverSelectionTimeoutMS=500)
    services = build_services(settings, client["health"])
    try:
        async with serve_app(settings, services) as api:
            before = (await api.get("/healthz")).status
            server.stop()
            await asyncio.sleep(services.health.max_age)  # the probe's answer is shared that long
            after = await api.get("/healthz")
            return before, after.status, after.error_code
    finally:
        server.stop()
        await services.close()
        await client.close()


# Killing the database under a live client can strand a socket of the driver's failed
# reconnects; with the client gone out of scope it is collected here, its warning
# swallowed, rather than at the end of the session.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")
async def test_healthz_is_503_when_the_database_stops(settings: Settings) -> None:
    before, after, code = await _health_after_the_database_stops(settings)
    await asyncio.sleep(0.1)
    gc.collect()
    assert (before, after, code) == (200, 503, "database_unreachable")


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
    # Uploads are documented as multipart bodies (and raw image bodies where accepted).
    photo = document["paths"]["/api/v1/me/photo"]["put"]["requestBody"]["content"]
    assert photo["multipart/form-data"]["schema"]["properties"]["photo"] == {"type": "string", "format": "binary"}
    assert "image/jpeg" in photo
    # Every route of the app is in the document.
    assert {route_path(route[0]) for route in all_routes()} <= set(document["paths"])
