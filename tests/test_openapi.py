"""The OpenAPI document says what the server does: its paths, methods, statuses and 405s.

Generated clients call the documented paths; every one must reach its route, method by
method, and every route must be documented. The error statuses an endpoint can answer
are derived from its declaration, so the test compares the two views.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bson import ObjectId

from server.app import all_routes
from server.openapi import build_openapi, path_parameters, route_path
from server.services.container import Services
from tests import factories
from tests.client import ApiClient

METHODS = ("get", "post", "put", "patch", "delete")


def _declared(handler: type) -> list[str]:
    return [m for m in METHODS if hasattr(getattr(handler, m, None), "__endpoint__")]


def _document() -> dict[str, Any]:
    return build_openapi(all_routes(), title="t", version="0")


def _sample_path(path: str) -> str:
    """The documented path with an id in each parameter (what a generated client sends)."""
    return re.sub(r"{\w+}", str(ObjectId()), path)


def test_operation_ids_are_unique() -> None:
    """Clients generate one function per operationId: two handler classes of one name would collide."""
    ids = [op["operationId"] for item in _document()["paths"].values() for op in item.values()
           if isinstance(op, dict) and "operationId" in op]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_schema_names_are_plain() -> None:
    """Two models of one name get module-qualified names, which break the clients' generated types."""
    names = list(_document()["components"]["schemas"])
    assert not [n for n in names if "__" in n], names


def test_route_path_unescapes_and_refuses_regex_it_cannot_document() -> None:
    assert route_path(r"/api/v1/unit/staff/export\.xlsx") == "/api/v1/unit/staff/export.xlsx"
    assert route_path(r"/a/(?P<import_id>[^/]+)/result\.xlsx$") == "/a/{import_id}/result.xlsx"
    assert route_path(r"/a\-b\/c") == "/a-b/c"
    assert path_parameters(r"/s/(?P<session_id>[0-9a-f]{24})") == {"session_id": "[0-9a-f]{24}"}
    for pattern in (r"/a/(b|c)", r"/files/.*", r"/x\d+", r"/a/[0-9]+"):
        with pytest.raises(ValueError):
            route_path(pattern)


def test_every_route_and_method_is_documented_one_to_one() -> None:
    document = _document()
    from_routes: dict[tuple[str, str], str] = {}
    for route in all_routes():
        for method in _declared(route[1]):
            key = (route_path(route[0]), method)
            assert key not in from_routes, f"two routes document {key}"
            from_routes[key] = route[0]
    from_document = {(path, method) for path, item in document["paths"].items() for method in item}
    assert set(from_routes) == from_document
    # The documented path (ids filled in) is matched by its route's regex, and by no route before it:
    # Tornado takes the first match, so an earlier route would shadow the documented one.
    patterns = [route[0] for route in all_routes()]
    for (path, method), pattern in from_routes.items():
        concrete = _sample_path(path)
        first = next(p for p in patterns if re.fullmatch(p.removesuffix("$"), concrete))
        assert first == pattern, f"{method.upper()} {path} is served by {first!r}, not {pattern!r}"


async def test_every_documented_path_reaches_a_route(api: ApiClient) -> None:
    """Over real HTTP: no documented path is answered ``route_not_found`` (a wrong URL would be)."""
    document = (await api.get("/api/openapi.json")).json
    misses = []
    for path, item in document["paths"].items():
        for method in item:
            r = await api.request(method.upper(), _sample_path(path))
            if r.error_code == "route_not_found":
                misses.append(f"{method.upper()} {path}")
    assert not misses


def test_error_statuses_are_derived_from_the_declaration() -> None:
    paths = _document()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            if "security" in operation:
                assert {"401", "403"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= statuses, (method, path)
            if any(p["in"] == "query" for p in operation["parameters"]):
                assert "422" in statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
                param = next(p for p in operation["parameters"] if p["in"] == "path")
                assert param["schema"]["pattern"] == "^[^/]+$"
    # A session list filtered by a malformed course id answers 404 course_not_found: documented.
    assert "404" in paths["/api/v1/admin/sessions"]["get"]["responses"]


async def test_session_list_of_a_malformed_course_id_is_the_documented_404(api: ApiClient, services: Services) -> None:
    admin = await factories.staff_token(services, "admin")
    r = await api.get("/api/v1/admin/sessions?course_id=no-such-course", token=admin)
    assert r.status == 404 and r.error_code == "course_not_found"
    documented = (await api.get("/api/openapi.json")).json["paths"]["/api/v1/admin/sessions"]["get"]
    assert str(r.status) in documented["responses"]


async def test_a_405_names_the_allowed_methods_on_every_route(api: ApiClient) -> None:
    """RFC 9110 §15.5.6: every route, every method it lacks, answers 405 with ``Allow``."""
    wrong = []
    for route in all_routes():
        declared = _declared(route[1])
        path = _sample_path(route_path(route[0]))
        for method in [m for m in METHODS if m not in declared]:
            r = await api.request(method.upper(), path)
            allow = sorted(m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip())
            if r.status != 405 or r.error_code != "method_not_allowed" or allow != sorted(m.upper() for m in declared):
                wrong.append(f"{method.upper()} {path}: {r.status} Allow={r.headers.get('Allow')!r}")
    assert not wrong, "\n".join(wrong)


def _body_schemas(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The component names of the request bodies and of the answers (top level)."""
    requests, answers = set(), set()
    for ops in doc["paths"].values():
        for op in ops.values():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in body:
                requests.add(body["$ref"].rsplit("/", 1)[1])
            for status, answer in op["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if status.startswith("2") and "$ref" in schema:
                    answers.add(schema["$ref"].rsplit("/", 1)[1])
    return requests, answers


def test_a_request_field_with_a_default_is_optional_and_an_answer_field_with_a_default_is_required() -> None:
    """What generated client types read: openapi-typescript takes a property with ``default`` for one always there."""
    doc = _document()
    schemas = doc["components"]["schemas"]
    requests, answers = _body_schemas(doc)
    reject = schemas["RejectIn"]  # note has a default: the client may leave it out
    assert reject["required"] == ["reason_code"] and "default" not in reject["properties"]["note"]
    assert "默认" in reject["properties"]["note"]["description"]
    checked = 0
    for name in requests - answers:
        for field, prop in schemas[name].get("properties", {}).items():
            assert field in schemas[name].get("required", []) or "default" not in prop, (name, field)
            checked += 1
    for name in answers - requests:
        for field, prop in schemas[name].get("properties", {}).items():
            if "default" in prop:
                assert field in schemas[name]["required"], (name, field)  # always in the answer
    assert checked > 50
    # the answer's PaymentOut: ocr and invoice_issue default to None, and are always sent
    assert {"ocr", "invoice_issue"} <= set(schemas["PaymentOut"]["required"])
