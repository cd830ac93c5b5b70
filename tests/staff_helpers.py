"""Helpers of the unit staff tests: sheets built with openpyxl, multipart bodies, a staff row."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from server.documents.staff_xlsx import COLUMNS
from tests.client import ApiClient
from tests.factories import phone, register_unit, resident_id

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def staff_row(**overrides: Any) -> dict[str, Any]:
    """One good sheet row, by field name."""
    row: dict[str, Any] = {
        "name": "王五", "sex": "男", "id_type": "居民身份证", "id_number": resident_id(), "phone": phone(),
        "email": "wangwu@example.com", "birth_date": None, "education": "大学本科", "ethnicity": "汉族",
        "political_status": "群众", "work_start": "2012-07", "title": "工程师", "specialty": "岩土工程",
        "position": "技术员", "honor": "无", "postcode": "200000", "employer": "某某公司",
        "address": "上海市某某路 1 号", "remarks": None,
    }
    row.update(overrides)
    return row


def sheet_bytes(rows: list[dict[str, Any]], *, formula_at: str | None = None) -> bytes:
    """A workbook with the template's header (required marked *) and ``rows``."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([c.label + ("*" if c.required else "") for c in COLUMNS])
    for row in rows:
        sheet.append([row.get(c.field) for c in COLUMNS])
    if formula_at:
        sheet[formula_at] = "=1+1"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def multipart(files: list[tuple[str, str, bytes]], fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body: ``files`` as (field, filename, bytes)."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, value in (fields or {}).items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for field, filename, data in files:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n")
        chunks.append(head.encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


async def unit_client(api: ApiClient, outbox: Path) -> ApiClient:
    """A registered unit's client."""
    token, _ = await register_unit(api, outbox)
    return api.with_token(token)


def form_body(**overrides: Any) -> dict[str, Any]:
    """A 单独添加 JSON body."""
    body: dict[str, Any] = {
        "name": "赵六", "id_type": "resident_id", "id_number": resident_id(), "phone": phone(),
        "email": "zhaoliu@example.com", "work_start": "2015-07", "specialty": "工程测量",
        "address": "上海市某某路 2 号", "education": "大学本科", "position": "项目经理",
    }
    body.update(overrides)
    return body


LICENCE = (Path(__file__).resolve().parent / "fixtures" / "photos" / "portrait.jpg").read_bytes()


async def verify_unit(api: ApiClient, unit: ApiClient, services: Any) -> None:
    """Take ``unit`` through verification over HTTP: licence upload, then an administrator's approval."""
    from tests.factories import staff_token

    r = await unit.request("PUT", "/api/v1/unit/licence", body=LICENCE, headers={"Content-Type": "image/jpeg"})
    assert r.status == 200 and r.json["status"] == "pending", r.body
    unit_id = (await unit.get("/api/v1/me")).json["id"]
    admin = await staff_token(services)
    r = await api.post(f"/api/v1/admin/units/{unit_id}/verification", {"decision": "approve"}, token=admin)
    assert r.status == 200 and r.json["status"] == "verified", r.body


async def verified_unit_client(api: ApiClient, outbox: Path, services: Any) -> ApiClient:
    """A registered unit that the association has verified (it may bind registered people)."""
    unit = await unit_client(api, outbox)
    await verify_unit(api, unit, services)
    return unit


def staff_service_like(services: Any, cls: type) -> Any:
    """An instance of ``cls`` (a StaffService subclass of a test) wired like ``services.staff``."""
    return cls(services.accounts, profiles=services.profiles, photos=services.photos, cipher=services.cipher,
               limiter=services.limiter, audit=services.audit, run_cpu=services.run_cpu,
               verification=services.unit_verification, notifier=services.notifier)
