"""Administrative subcommands of ``python -m server``, run on the services of a test."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from server.commands import COMMANDS
from server.config import Settings
from server.services.container import Services
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD, register_trainee

pytestmark = pytest.mark.usefixtures("db")


async def _run(services: Services, command: str, account: str) -> int:
    return await COMMANDS[command][2](services, argparse.Namespace(account=account))


async def test_disable_and_enable_account_from_the_command_line(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    spaced = body["id_number"][:6] + " " + body["id_number"][6:]
    assert await _run(services, "disable-account", spaced) == 0
    assert (await api.get("/api/v1/me", token=token)).status == 401
    assert (await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": STRONG_PASSWORD})).status == 403
    assert await _run(services, "disable-account", body["id_number"]) == 1
    assert "account_status_unchanged" in capsys.readouterr().err
    assert await _run(services, "enable-account", body["id_number"]) == 0
    assert (await api.post("/api/v1/auth/login", {"account": body["id_number"], "password": STRONG_PASSWORD})).status == 200
    assert await _run(services, "enable-account", "nobody") == 1
    out = capsys.readouterr()
    assert "not_found" in out.err and body["id_number"] not in out.out + out.err
    entries = await db["audit_log"].find({"action": {"$in": ["account.disable", "account.enable"]}}).to_list()
    assert [(e["action"], e["actor_id"], e["actor_role"]) for e in entries] == [
        ("account.disable", None, "admin"), ("account.enable", None, "admin")]
