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


async def test_reset_totp_from_the_command_line(
    api: ApiClient, services: Services, db: AsyncDatabase[dict[str, Any]], capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.totp import enrolled_staff, staff_login

    username, password, secret = await enrolled_staff(services, "reviewer")
    token = (await staff_login(api, username, password, secret)).json["token"]
    reset = COMMANDS["reset-totp"][2]
    assert await reset(services, argparse.Namespace(username=username)) == 0
    assert "TOTP reset" in capsys.readouterr().out
    assert (await api.get("/api/v1/me", token=token)).status == 401  # every login of the locked-out member ends
    again = await api.post("/api/v1/auth/login", {"account": username, "password": password})
    assert again.status == 200 and again.json["totp_setup_required"] is True  # enrols again
    entry = await db["audit_log"].find_one({"action": "account.totp_reset"})
    assert entry is not None and entry["details"] == {"by": "cli"}
    assert await reset(services, argparse.Namespace(username="nobody")) == 1
    assert await reset(services, argparse.Namespace(username="x" + username)) == 1


async def test_totp_code_is_for_dev_only(
    services: Services, make_settings: Any, db: AsyncDatabase[dict[str, Any]], capsys: pytest.CaptureFixture[str],
) -> None:
    import pyotp

    from server.demo.staff_totp import DEMO_TOTP_SECRET, demo_staff_totp
    from server.models.accounts import StaffCreate
    from server.services.container import build_services
    from tests.test_config import production as production_values

    await services.accounts.create_staff(StaffCreate(username="demoadmin", role="admin", name="管理员",
                                                     password=STRONG_PASSWORD))
    lines = await demo_staff_totp(services)
    assert "demoadmin" in lines[0] and DEMO_TOTP_SECRET[:4] in lines[0]
    code = COMMANDS["totp-code"][2]
    assert await code(services, argparse.Namespace(username="demoadmin")) == 0
    assert capsys.readouterr().out.strip() in {pyotp.TOTP(DEMO_TOTP_SECRET).now(),
                                                pyotp.TOTP(DEMO_TOTP_SECRET).at(services.totp.now())}
    assert await code(services, argparse.Namespace(username="nobody")) == 1
    production = make_settings(**production_values(mongodb_url="mongodb://127.0.0.1:1/?replicaSet=rs0"))
    built = build_services(production, db)
    try:
        assert await code(built, argparse.Namespace(username="demoadmin")) == 1
        assert "dev only" in capsys.readouterr().err
    finally:
        await built.close()
