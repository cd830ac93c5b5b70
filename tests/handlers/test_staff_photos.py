"""Bulk photos of a unit's staff: per-file verdicts, GBK zip names, unsafe archives, background jobs."""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from pathlib import Path

from server.config import Settings
from server.services.container import Services
from server.services.staff_photos import parse_photo_name
from tests.client import ApiClient
from tests.staff_helpers import form_body, multipart, unit_client

PORTRAIT = (Path(__file__).parent.parent / "fixtures" / "photos" / "portrait.jpg").read_bytes()
PHOTOS = "/api/v1/unit/staff/photos"


async def _staff(unit: ApiClient, name: str) -> dict:  # type: ignore[type-arg]
    body = form_body(name=name)
    r = await unit.post("/api/v1/unit/staff", body)
    assert r.status == 201, r.body
    return {**body, "id": r.json["id"]}


async def _stored(services: Services) -> int:
    return await services.db["photos.files"].count_documents({})


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_photo_names() -> None:
    assert parse_photo_name("张三-11010519491231002X.jpg") == ("张三", "11010519491231002X")
    assert parse_photo_name("张三－11010519491231002x.JPEG") == ("张三", "11010519491231002X")
    assert parse_photo_name("张三.jpg") is None and parse_photo_name("张三-11010519491231002X.png") is None


async def test_many_jpgs_get_a_verdict_each(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    a, b = await _staff(unit, "甲一"), await _staff(unit, "乙二")
    other = await unit_client(api, settings.sms_outbox)
    c = await _staff(other, "丙三")
    files = [
        ("files", f"甲一-{a['id_number']}.jpg", PORTRAIT),
        ("files", f"错名-{b['id_number']}.jpg", PORTRAIT),
        ("files", f"丙三-{c['id_number']}.jpg", PORTRAIT),  # another unit's person
        ("files", f"乙二-{b['id_number']}.png", PORTRAIT),
        ("files", "无身份证号.jpg", PORTRAIT),
        ("files", f"乙二-{b['id_number']}.JPG", os.urandom(10 * 1024 * 1024)),  # 10 MB of random bytes
    ]
    body, content_type = multipart(files, {"consent": "true"})
    r = await unit.request("POST", PHOTOS, body=body, headers={"Content-Type": content_type})
    assert r.status == 200, r.body
    verdicts = [f["verdict"] for f in r.json["files"]]
    assert sorted(verdicts) == sorted(["saved", "name_mismatch", "unknown_id", "bad_format", "bad_name", "bad_format"])
    assert await _stored(services) == 1
    staff = (await unit.get("/api/v1/unit/staff")).json["items"]
    assert {s["name"]: s["has_photo"] for s in staff} == {"甲一": True, "乙二": False}


async def test_consent_is_required(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    a = await _staff(unit, "丁四")
    body, content_type = multipart([("files", f"丁四-{a['id_number']}.jpg", PORTRAIT)])
    r = await unit.request("POST", PHOTOS, body=body, headers={"Content-Type": content_type})
    assert r.json["files"][0]["verdict"] == "consent_required" and await _stored(services) == 0


async def test_zip_with_gbk_names(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    a = await _staff(unit, "张三")
    real = f"张三-{a['id_number']}.jpg".encode("gbk")
    placeholder = b"Z" * 4 + real[4:]
    data = _zip({placeholder.decode(): PORTRAIT})
    # a Windows zip: the name is GBK bytes and the UTF-8 flag is not set
    data = data.replace(placeholder, real)
    r = await unit.request("POST", f"{PHOTOS}?consent=true", body=data, headers={"Content-Type": "application/zip"})
    assert r.status == 200, r.body
    assert r.json["files"][0]["file"] == real.decode("gbk") and r.json["files"][0]["verdict"] == "saved"


async def test_unsafe_archives_are_refused(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    a = await _staff(unit, "戊五")
    good = f"戊五-{a['id_number']}.jpg"
    traversal = _zip({good: PORTRAIT, f"../../{good}": PORTRAIT})
    bomb = _zip({good: PORTRAIT, "x-11010519491231002X.jpg": b"\x00" * (20 * 1024 * 1024)})
    for data, code in ((traversal, "archive_unsafe_path"), (bomb, "archive_bomb"), (b"not a zip", "archive_bad_format")):
        r = await unit.request("POST", f"{PHOTOS}?consent=true", body=data,
                               headers={"Content-Type": "application/zip"})
        assert r.error_code == code, r.body
    assert await _stored(services) == 0


async def test_body_cap_and_auth_before_body(api: ApiClient, make_settings, db) -> None:
    from server.services.container import build_services
    from tests.conftest import serve_app

    settings = make_settings(photo_zip_max_bytes=1024)
    built = build_services(settings, db)
    try:
        async with serve_app(settings, built) as client:
            r = await client.request("POST", PHOTOS, body=b"x" * 10, headers={"Content-Type": "application/zip"})
            assert r.status == 401
            unit = await unit_client(client, settings.sms_outbox)
            r = await unit.request("POST", PHOTOS, body=b"x" * 2048, headers={"Content-Type": "application/zip"})
            assert r.status == 413
    finally:
        await built.close()


async def test_large_batch_runs_as_a_job(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    people = [await _staff(unit, f"批量{i}") for i in range(3)]
    members = {f"{p['name']}-{p['id_number']}.jpg": PORTRAIT for p in people}
    members.update({f"某人-{i}.jpg": b"x" for i in range(20)})  # bad names, quick verdicts
    r = await unit.request("POST", f"{PHOTOS}?consent=true", body=_zip(members),
                           headers={"Content-Type": "application/zip"})
    assert r.status == 200 and r.json["status"] == "running" and r.json["total"] == 23
    job = r.json["job_id"]
    for _ in range(100):
        r = await unit.get(f"/api/v1/unit/staff/photo-jobs/{job}")
        if r.json["status"] == "done":
            break
        await asyncio.sleep(0.1)
    assert r.json["status"] == "done" and r.json["counts"] == {"saved": 3, "bad_name": 20}, r.json["counts"]
    assert r.json["processed"] == 23
    other = await unit_client(api, settings.sms_outbox)
    assert (await other.get(f"/api/v1/unit/staff/photo-jobs/{job}")).status == 404
