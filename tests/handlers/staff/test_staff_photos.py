"""Bulk photos of a unit's staff: per-file verdicts, GBK zip names, unsafe archives, background jobs."""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from pathlib import Path

import pytest

from server.config import Settings
from server.errors import AppError
from server.services.container import Services
from server.services.staff.photos import MAX_FILES, masked_file_name, open_zip_entries, parse_photo_name
from tests.client import ApiClient
from tests.staff_helpers import form_body, multipart, unit_client

PORTRAIT = (Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "portrait.jpg").read_bytes()
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
    for dash in "-－—–‐﹣_":
        assert parse_photo_name(f"张三 {dash} 11010519491231002X.jpg") == ("张三", "11010519491231002X"), dash
    # NFKC: full-width digits and ｘ, a full-width name, a full-width extension
    assert parse_photo_name("张三-１１０１０５１９４９１２３１００２ｘ．ｊｐｇ") == ("张三", "11010519491231002X")
    assert parse_photo_name("阿依古丽·买买提-11010519491231002X.jpg") == ("阿依古丽·买买提", "11010519491231002X")
    assert parse_photo_name("张三.jpg") is None and parse_photo_name("张三-11010519491231002X.png") is None


def test_file_names_in_verdicts_are_masked() -> None:
    assert masked_file_name("张三-11010519491231002X.jpg") == "张三-1101**********002X.jpg"
    assert masked_file_name("张三 11010519491231002X.jpg") == "张三 1101**********002X.jpg"  # a bad name, too
    assert masked_file_name("Thumbs.jpg") == "Thumbs.jpg"
    assert len(masked_file_name("长" * 5000 + ".jpg")) == 100


def _zip_file(tmp_path: Path, members: dict[str, bytes]) -> str:
    path = tmp_path / "photos.zip"
    path.write_bytes(_zip(members))
    return str(path)


def test_system_files_are_skipped_before_counting(tmp_path: Path) -> None:
    photos = {f"照片/某人-{i:06d}.jpg": b"x" for i in range(MAX_FILES)}
    extras = {f"__MACOSX/照片/._某人-{i:06d}.jpg": b"\x00" * 10 for i in range(MAX_FILES)}
    extras.update({"照片/.DS_Store": b"x", "照片/Thumbs.db": b"x", "desktop.ini": b"x"})
    archive, entries = open_zip_entries(_zip_file(tmp_path, photos | extras))
    archive.close()
    assert len(entries) == MAX_FILES and all(not e.name.startswith(".") for e in entries)
    with pytest.raises(AppError) as refused:
        open_zip_entries(_zip_file(tmp_path, photos | {"某人-x.jpg": b"x"}))
    assert refused.value.code == "archive_too_many_files"
    # a skipped entry is still size-checked
    with pytest.raises(AppError) as refused:
        open_zip_entries(_zip_file(tmp_path, {"a-1.jpg": b"x", "__MACOSX/._a": b"\x00" * (20 << 20)}))
    assert refused.value.code == "archive_bomb"


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


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
async def test_zip_names_without_the_utf8_flag(api: ApiClient, settings: Settings, services: Services,
                                               encoding: str) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    a = await _staff(unit, "张三")
    name = f"张三-{a['id_number']}.jpg"
    real = name.encode(encoding)
    head = len("张三".encode(encoding))
    placeholder = b"Z" * head + real[head:]
    data = _zip({placeholder.decode(): PORTRAIT})
    # Windows writes GBK bytes, macOS and Info-ZIP write UTF-8 bytes, both without the UTF-8 flag
    data = data.replace(placeholder, real)
    assert not zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x800
    r = await unit.request("POST", f"{PHOTOS}?consent=true", body=data, headers={"Content-Type": "application/zip"})
    assert r.status == 200, r.body
    assert r.json["files"][0]["file"] == masked_file_name(name) and r.json["files"][0]["verdict"] == "saved"


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
    # the job keeps its verdicts for days: the file names (ID numbers in full) sealed, not even a mask
    # stored; the answer masks them
    stored = str(await services.db["photo_jobs"].find_one())
    assert "*" * 10 not in stored and all(p["id_number"] not in stored for p in people)
    assert sorted(f["file"] for f in r.json["files"] if f["verdict"] == "saved") == sorted(
        masked_file_name(f"{p['name']}-{p['id_number']}.jpg") for p in people)
    other = await unit_client(api, settings.sms_outbox)
    assert (await other.get(f"/api/v1/unit/staff/photo-jobs/{job}")).status == 404


async def test_large_zip_as_one_multipart_part_runs_as_a_job(api: ApiClient, settings: Settings,
                                                               services: Services) -> None:
    """The web view sends the ZIP as a multipart part: the job must still find the file (it was deleted: a 500)."""
    unit = await unit_client(api, settings.sms_outbox)
    person = await _staff(unit, "网页")
    members = {f"{person['name']}-{person['id_number']}.jpg": PORTRAIT}
    members.update({f"某人-{i}.jpg": b"x" for i in range(21)})
    body, content_type = multipart([("files", "photos.zip", _zip(members))], {"consent": "true"})
    r = await unit.request("POST", PHOTOS, body=body, headers={"Content-Type": content_type})
    assert r.status == 200 and r.json["status"] == "running" and r.json["total"] == 22, r.body
    for _ in range(200):
        r = await unit.get(f"/api/v1/unit/staff/photo-jobs/{r.json['job_id']}")
        if r.json["status"] == "done":
            break
        await asyncio.sleep(0.1)
    assert r.json["counts"] == {"saved": 1, "bad_name": 21}, r.json
