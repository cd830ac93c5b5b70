"""Every route, every declared method, as every kind of caller, with hostile input: never a 500.

Bad input must get a 4xx with the error envelope. This walks the real route table,
so a new endpoint is covered the day it is added.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bson import ObjectId

from server.app import all_routes
from server.services.container import Services
from tests import factories
from tests.client import ApiClient

_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
METHODS = ("get", "post", "put", "patch", "delete")
BAD_IDS = ("not-an-id", str(ObjectId()))
BODIES: tuple[tuple[bytes, str], ...] = (
    (b'{"session_id": {"$ne": null}, "trainee_ids": "x", "page": -1, "name": 5}', "application/json"),
    (b"\xff\xfe not json", "application/json"),
    (b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nzz", "multipart/form-data; boundary=x"),
)


def _operations() -> list[tuple[str, str]]:
    found = []
    for route in all_routes():
        for method in METHODS:
            if hasattr(getattr(route[1], method, None), "__endpoint__"):
                found.append((route[0], method.upper()))
    return found


async def _callers(api: ApiClient, services: Services, outbox: Any) -> dict[str, str | None]:
    trainee, _ = await factories.register_trainee(api, outbox)
    unit, _ = await factories.register_unit(api, outbox)
    return {"anonymous": None, "trainee": trainee, "unit": unit,
            "admin": await factories.staff_token(services, "admin"),
            "scanner": await factories.staff_token(services, "scanner")}


async def test_no_route_answers_500_to_hostile_input(api: ApiClient, services: Services, settings: Any) -> None:
    callers = await _callers(api, services, settings.sms_outbox)
    failures = []
    for pattern, method in _operations():
        for bad_id in BAD_IDS:
            path = _GROUP.sub(bad_id, pattern).rstrip("$") + "?page=abc&page_size=100000&q=%00"
            for who, token in callers.items():
                bodies = BODIES if method in ("POST", "PUT", "PATCH") else ((None, ""),)
                for body, content_type in bodies:
                    headers = {"Content-Type": content_type} if body is not None else {}
                    r = await api.request(method, path, body=body, headers=headers, token=token)
                    # A page for people (the certificate verification page) answers 4xx as HTML, not the envelope.
                    page = r.headers.get("Content-Type", "").startswith("text/html") and r.status in (404, 429)
                    if r.status >= 500 or (r.status >= 400 and r.error_code is None and not page):
                        failures.append(f"{method} {path} as {who}: {r.status} {r.body[:120]!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("header", ["Bearer", "Bearer  ", "Basic Zm9vOmJhcg==", "Bearer " + "é" * 40])
async def test_odd_authorization_headers_are_401(api: ApiClient, header: str) -> None:
    r = await api.get("/api/v1/me", headers={"Authorization": header})
    assert r.status == 401 and r.error_code in ("not_authenticated", "invalid_token")
