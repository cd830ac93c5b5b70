"""/healthz and the generated OpenAPI document."""

from __future__ import annotations

from openapi_spec_validator import validate

from server.app import all_routes
from server.openapi import route_path
from tests.client import ApiClient


async def test_healthz_is_ok_with_the_database(api: ApiClient) -> None:
    r = await api.get("/healthz")
    assert r.status == 200
    assert r.json == {"status": "ok", "database": "ok"}


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
