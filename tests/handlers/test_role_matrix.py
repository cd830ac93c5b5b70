"""The role matrix: every endpoint that names its roles refuses every other role, by the API itself.

The routes come from the app's endpoint specs (``@endpoint(roles=...)``), never from a hand list, so a
new endpoint is in the matrix the day it is added. Each is called as the web view calls it — the
session cookie of a real login (staff with their second factor) and the XSRF header — by every role
the spec leaves out, and must answer 403 ``forbidden`` before anything else happens (no body is sent,
the ids in the path do not exist: a handler that ran would answer 404 or 422 instead).
"""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId

from server.app import all_routes
from server.services.container import Services
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD, register_trainee, register_unit
from tests.totp import enrolled_staff, next_code
from tests.web.test_session_cookie import COOKIE_LOGIN, cookies_of

ROLES = ("trainee", "unit", "admin", "reviewer", "scanner")
_GROUP = re.compile(r"\(\?P<\w+>[^)]*\)")


def role_routes() -> list[tuple[str, str, frozenset[str]]]:
    """(method, path, roles) of every endpoint restricted to some roles; the path filled with an unknown id."""
    found = []
    for route in all_routes():
        pattern, handler = route[0], route[1]
        for method in ("get", "post", "put", "patch", "delete"):
            spec = getattr(getattr(handler, method, None), "__endpoint__", None)
            if spec is None or not spec.roles:  # public, or any logged-in account
                continue
            path = _GROUP.sub(str(ObjectId()), pattern).replace("\\.", ".").rstrip("$")
            assert re.fullmatch(pattern, path), (pattern, path)
            found.append((method.upper(), path, spec.roles))
    return found


async def cookie_session(api: ApiClient, account: str, password: str, totp_secret: str | None = None) -> dict[str, str]:
    """The headers of a web view request after a cookie login: session and XSRF cookies, XSRF header."""
    body: dict[str, Any] = {"account": account, "password": password}
    if totp_secret:
        body["totp_code"] = await next_code(totp_secret)
    r = await api.post("/api/v1/auth/login", body, headers=COOKIE_LOGIN)
    assert r.status == 200 and r.json["totp_setup_required"] is False, r.body
    jar = cookies_of(r)
    xsrf = jar["XSRF-TOKEN"].value
    return {"Cookie": f"session={jar['session'].value}; XSRF-TOKEN={xsrf}", "X-XSRF-Token": xsrf}


async def sessions_of_every_role(api: ApiClient, services: Services) -> dict[str, dict[str, str]]:
    """A logged-in cookie session of each role."""
    outbox = services.settings.sms_outbox
    _, trainee = await register_trainee(api, outbox)
    _, unit = await register_unit(api, outbox)
    sessions = {
        "trainee": await cookie_session(api, trainee["id_number"], STRONG_PASSWORD),
        "unit": await cookie_session(api, unit["uscc"], STRONG_PASSWORD),
    }
    for role in ("admin", "reviewer", "scanner"):
        username, password, secret = await enrolled_staff(services, role)
        sessions[role] = await cookie_session(api, username, password, secret)
    for role, headers in sessions.items():  # each session works: a 403 below is the role check, nothing else
        me = await api.get("/api/v1/me", headers=headers)
        assert me.status == 200 and me.json["role"] == role, me.body
    return sessions


async def test_every_role_restricted_endpoint_refuses_every_other_role(api: ApiClient, services: Services) -> None:
    sessions = await sessions_of_every_role(api, services)
    routes = role_routes()
    assert len(routes) > 100  # the enumeration found the app's endpoints
    wrong: list[str] = []
    calls = 0
    for method, path, roles in routes:
        for role in ROLES:
            if role in roles:
                continue
            calls += 1
            r = await api.request(method, path, headers=sessions[role])
            if r.status != 403 or r.error_code != "forbidden":
                wrong.append(f"{role}: {method} {path} -> {r.status} {r.error_code}")
    assert calls > 250
    assert not wrong, "\n".join(wrong)


def test_every_role_is_somewhere_refused() -> None:
    """The matrix is not empty for any role (a spec that listed every role would test nothing)."""
    routes = role_routes()
    for role in ROLES:
        assert any(role not in roles for _, _, roles in routes), role


# The areas of the API and the roles that may ever appear in them: a spec widened past its area (a unit
# let into /admin, a trainee into /review) fails here even though the matrix above follows the spec.
AREAS = {
    "/api/v1/admin/": {"admin", "reviewer", "scanner"},
    "/api/v1/review/": {"admin", "reviewer"},
    "/api/v1/scanner/": {"admin", "scanner"},
    "/api/v1/checkins": {"admin", "scanner"},
    "/api/v1/unit/": {"unit"},
}


def test_no_endpoint_lets_a_role_outside_its_area() -> None:
    wrong = []
    for route in all_routes():
        pattern, handler = route[0], route[1]
        for method in ("get", "post", "put", "patch", "delete"):
            spec = getattr(getattr(handler, method, None), "__endpoint__", None)
            if spec is None:
                continue
            for prefix, allowed in AREAS.items():
                if pattern.startswith(prefix) and (not spec.roles or not spec.roles <= allowed):
                    wrong.append(f"{method.upper()} {pattern}: {sorted(spec.roles or ['(public or any)'])}")
            # The association's admin sees everything a reviewer or a scanner sees.
            if spec.roles and spec.roles & {"reviewer", "scanner"} and "admin" not in spec.roles:
                wrong.append(f"{method.upper()} {pattern}: staff without admin {sorted(spec.roles)}")
    assert not wrong, "\n".join(wrong)
