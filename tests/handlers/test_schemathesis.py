"""schemathesis against the live app: every operation, every kind of caller, every check.

The document is the one the server serves (``/api/openapi.json``); schemathesis runs as
its own process (``st run``), so its blocking HTTP client never stalls this event loop,
which keeps serving the app. Each caller — anonymous, trainee, unit, and each staff
role — gets its own bounded run (examples per operation and a time budget), with
``--checks all``: no 5xx (the documented 503 of /healthz aside), no answer outside the
schema, no undocumented status, invalid input refused, valid input accepted.
Offline: the document comes from the app, no report or telemetry leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.services.container import Services
from tests.client import ApiClient
from tests.handlers.test_idor_matrix import IDS, World, build_world
from tests.wechat_stub import WeChatStub

ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
SECONDS_PER_CALLER = int(os.environ.get("SCHEMATHESIS_SECONDS", "18"))
CALLERS = ("anonymous", "trainee", "unit", "admin", "reviewer", "scanner")
ONLY = os.environ.get("SCHEMATHESIS_CALLERS")  # e.g. "unit,admin" while investigating
OUT = os.environ.get("SCHEMATHESIS_OUT")  # a folder for the whole output of each run


@pytest.fixture
def settings(make_settings: Callable[..., Settings], wechat_stub: WeChatStub) -> Settings:
    """WeChat points at the local stand-in: its 503 ``wechat_not_configured`` is not the subject here."""
    return make_settings(**wechat_stub.settings_overrides())


async def _callers(api: ApiClient, services: Services, settings: Settings) -> tuple[dict[str, str | None], World]:
    """A trainee and a unit with objects of their own (the IDOR matrix's world), and each staff role."""
    world = await build_world(api, services, settings)
    names = {"anonymous": "anonymous", "trainee": "trainee_a", "unit": "unit_a",
             **{role: role for role in ("admin", "reviewer", "scanner")}}
    wanted = ONLY.split(",") if ONLY else CALLERS
    return {who: world.tokens[names[who]] for who in CALLERS if who in wanted}, world


# Rules no JSON Schema can state: schema-valid bodies these operations refuse with 422 (or, for
# file contents, 400/415: a "binary" part may hold any bytes, the server reads what they are).
# Everything else that is schema-valid must be accepted (or be a 401/403/404/409/429 about
# state). Keep each reason: an entry here is a rule the schema cannot carry.
BEYOND_SCHEMA: dict[str, tuple[tuple[str, ...], str]] = {
    "RegisterTraineeHandler.post": (("422",), "SMS code proof, ID check digit, password strength"),
    "RegisterUnitHandler.post": (("422",), "SMS code proof, USCC check digit, password strength"),
    "SmsLoginHandler.post": (("422",), "SMS code proof"),
    "ActivateHandler.post": (("422",), "one-time secret / SMS code proof, password strength"),
    "PasswordHandler.post": (("422",), "the old password, password strength"),
    "PasswordResetHandler.post": (("422",), "SMS code proof, password strength"),
    "PhoneHandler.put": (("422",), "SMS code proof"),
    "ProfileHandler.put": (("422",), "birth date vs ID number and work start, months in the future"),
    "MyPhotoHandler.put": (("400", "415", "422"), "the file must be a picture with a face"),
    "StaffPhotoHandler.put": (("400", "415", "422"), "the file must be a picture with a face"),
    "StaffPhotosHandler.post": (("400", "415", "422"), "the file must be a ZIP of pictures"),
    "ImportsHandler.post": (("400", "415", "422"), "the file must be an .xlsx workbook"),
    "QualificationsHandler.post": (("400", "415", "422"), "the optional image must be a picture"),
    "StaffListHandler.post": (("422",), "ID check digit, birth date vs ID number and work start"),
    "StaffHandler.put": (("422",), "birth date vs work start, months in the future"),
    "InvoiceTemplatesHandler.post": (("422",), "USCC check digit"),
    "InvoiceTemplateHandler.put": (("422",), "USCC check digit"),
    "SessionsHandler.post": (("422",), "enrollment and training dates in order"),
    "SessionHandler.patch": (("422",), "enrollment and training dates in order (with the stored ones)"),
    "PaymentsHandler.post": (("400", "415", "422"), "payload is the JSON of PaymentSubmit; 1–5 proofs that are pictures"),
    "RejectHandler.post": (("422",), "a note is required with the reason other"),
}
BEYOND_SCHEMA["PaymentInvoiceHandler.put"] = (("400", "415", "422"), "the optional file must be a readable PDF")
BEYOND_SCHEMA["PaymentsExportHandler.get"] = (("400",), "from ≤ to, and at most 366 days apart")
BEYOND_SCHEMA["EnterResultHandler.put"] = (("422",), "a score or 缺考, not both; a reason to correct a published one")
BEYOND_SCHEMA["ImportHandler.post"] = (("400", "415", "422"), "the file must be a results .xlsx; rows must be valid")
BEYOND_SCHEMA["ImportVerdictsHandler.post"] = (("400", "415", "422"), "the file must be a results .xlsx")
BEYOND_SCHEMA["SealHandler.put"] = (("400", "415", "422"), "the file must be a PNG with transparency")
POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429"]


def config_toml(document: dict[str, Any], world: World) -> str:
    """schemathesis.toml from the document and ``BEYOND_SCHEMA``.

    A documented 503 is an answer, not a server error; the operations of ``BEYOND_SCHEMA``
    may refuse schema-valid bodies with the statuses listed there.
    """
    operations = {op["operationId"]: op for item in document["paths"].values() for op in item.values()}
    # Real ids in the paths, so that the runs reach past the 404s into each operation's rules.
    lines = ["[parameters]"]
    lines += [f'"path.{name}" = "{world.objects[kind]}"' for name, (kind, _) in IDS.items()]
    lines.append("")
    assert set(BEYOND_SCHEMA) <= set(operations), set(BEYOND_SCHEMA) - set(operations)
    for operation_id, operation in operations.items():
        if "503" in operation["responses"]:
            lines += ["[[operations]]", f'include-operation-id = "{operation_id}"',
                      'checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]', ""]
        if operation_id in BEYOND_SCHEMA:
            statuses = ", ".join(f'"{s}"' for s in [*POSITIVE, *BEYOND_SCHEMA[operation_id][0]])
            lines += ["[[operations]]", f'include-operation-id = "{operation_id}"',
                      f"checks.positive_data_acceptance.expected-statuses = [{statuses}]", ""]
    return "\n".join(lines)


async def _run(base_url: str, token: str | None, config: Path, report: Path) -> tuple[int, str]:
    args = [
        str(ST), "--config-file", str(config), "run", f"{base_url}/api/openapi.json", "--url", base_url,
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--max-time", str(SECONDS_PER_CALLER),
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--seed", os.environ.get("SCHEMATHESIS_SEED", "20260310"),
        "--generation-database", "none", "--no-color", "--request-timeout", "30",
        "--suppress-health-check", "all", "--max-failures", "50",
        "--report", "junit", "--report-junit-path", str(report),
    ]
    if token:
        args += ["--header", f"Authorization: Bearer {token}"]
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1", "COLUMNS": "160"}
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=config.parent
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode("utf-8", "replace")


async def test_schemathesis_finds_nothing_for_any_caller(
    api: ApiClient, services: Services, settings: Settings, tmp_path: Path
) -> None:
    callers, world = await _callers(api, services, settings)
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_toml((await api.get("/api/openapi.json")).json, world), encoding="utf-8")
    failed: dict[str, Any] = {}
    for who, token in callers.items():
        code, output = await _run(api.base_url, token, config, tmp_path / f"{who}.xml")
        if OUT:
            Path(OUT, f"{who}.txt").write_text(output, encoding="utf-8")
        if code != 0:
            failed[who] = output[-6000:]
    assert not failed, "\n\n".join(f"===== as {who} =====\n{out}" for who, out in failed.items())
