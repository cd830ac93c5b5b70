"""Administrators list the pass signing keys and rotate the key file's key (never one set by PASS_SIGNING_KEY)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.container import Services
from server.services.passes.keys import seed_text
from tests.client import ApiClient
from tests.conftest import serve_app
from tests.factories import staff_token

pytestmark = pytest.mark.usefixtures("db")

KEYS = "/api/v1/admin/pass-keys"


async def test_rotation_retires_the_old_key_keeps_it_listed_and_is_audited(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    admin = await staff_token(services, "admin")
    first = (await api.get(KEYS, token=admin)).json
    assert first["source"] == "file" and first["rotatable"] is True
    [key] = first["items"]
    assert key["current"] is True and key["retired_at"] is None and "public_key" not in key
    r = await api.post(KEYS + "/rotate", token=admin)
    assert r.status == 200, r.body
    new, old = r.json["items"]
    assert new["kid"] == key["kid"] + 1 and new["current"] is True
    assert old["kid"] == key["kid"] and old["current"] is False and old["retired_at"]
    assert (await services.passes.keyring.signing_key())[0] == new["kid"]
    [entry] = await db["audit_log"].find({"action": "pass_key.rotate"}).to_list()
    assert entry["details"] == {"retired_kid": key["kid"], "kid": new["kid"]}
    assert seed_text  # the private key never leaves the file: no field of the answer holds it
    assert "seed" not in r.body.decode()


async def test_a_key_from_the_environment_is_not_rotated_here(
    make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]]
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from server.services.container import build_services

    settings = make_settings(pass_signing_key=seed_text(Ed25519PrivateKey.generate()))
    services = build_services(settings, db)
    try:
        async with serve_app(settings, services) as api:
            admin = await staff_token(services, "admin")
            listed = (await api.get(KEYS, token=admin)).json
            assert listed["source"] == "env" and listed["rotatable"] is False
            r = await api.post(KEYS + "/rotate", token=admin)
            assert (r.status, r.json["error"]["code"]) == (409, "pass_key_from_env")
            assert "PASS_SIGNING_KEY" in r.json["error"]["message"]
            assert await db["pass_keys"].count_documents({}) == 1
            assert await db["audit_log"].count_documents({"action": "pass_key.rotate"}) == 0
    finally:
        await services.close()


@pytest.mark.parametrize("role", ["reviewer", "scanner"])
async def test_other_staff_neither_list_nor_rotate(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], role: str
) -> None:
    token = await staff_token(services, role)
    assert (await api.get(KEYS, token=token)).status == 403
    assert (await api.post(KEYS + "/rotate", token=token)).status == 403
    assert await db["pass_keys"].count_documents({}) == 0
    assert (await api.post(KEYS + "/rotate")).status == 401
