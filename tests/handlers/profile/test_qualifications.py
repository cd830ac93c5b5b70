"""Professional licences (执业资格证书) over real HTTP: add, list, image, delete, limit, isolation."""

from __future__ import annotations

import asyncio
from io import BytesIO
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.profile.qualifications import QUALIFICATION_LIMIT
from tests.client import ApiClient, Response
from tests.factories import register_trainee, register_unit
from tests.handlers.profile.test_photo_upload import FIXTURES, multipart

pytestmark = pytest.mark.usefixtures("db")


def licence_scan() -> bytes:
    """A JPEG with GPS EXIF, as a phone photo of a certificate would be."""
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0)}
    out = BytesIO()
    Image.open(FIXTURES / "no_face.jpg").save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


async def add(api: ApiClient, token: str, image: bytes | None = None, **fields: str) -> Response:
    values = {"type": "一级注册结构工程师", "number": "S1234567", **fields}
    files = {"image": ("licence.jpg", image, "image/jpeg")} if image is not None else {}
    body, ctype = multipart(files, values)
    return await api.request("POST", "/api/v1/me/qualifications", body=body, headers={"Content-Type": ctype}, token=token)


async def test_add_list_image_delete(api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await add(api, token, licence_scan(), number="沪建安B（2019）0012345")
    assert r.status == 201, r.body
    with_image = r.json
    assert with_image["has_image"] is True and with_image["number"] == "沪建安B（2019）0012345"
    r = await api.post("/api/v1/me/qualifications", {"type": "注册土木工程师（岩土）", "number": "AY000123"}, token=token)
    assert r.status == 201 and r.json["has_image"] is False and r.json["image_url"] is None
    listed = (await api.get("/api/v1/me/qualifications", token=token)).json
    assert listed["total"] == 2 and listed["limit"] == QUALIFICATION_LIMIT
    assert [q["type"] for q in listed["items"]] == ["一级注册结构工程师", "注册土木工程师（岩土）"]

    got = await api.get(with_image["image_url"], token=token)
    assert got.status == 200 and got.headers["Content-Type"] == "image/jpeg"
    image = Image.open(BytesIO(got.body))
    assert image.format == "JPEG" and not image.getexif()  # the GPS position is gone
    assert await db["qualification_images.files"].count_documents({}) == 1

    assert (await api.delete(f"/api/v1/me/qualifications/{with_image['id']}", token=token)).status == 200
    assert await db["qualification_images.files"].count_documents({}) == 0
    assert await db["qualification_images.chunks"].count_documents({}) == 0
    assert (await api.get(with_image["image_url"], token=token)).status == 404
    assert (await api.get("/api/v1/me/qualifications", token=token)).json["total"] == 1
    assert await db["audit_log"].count_documents({"action": {"$in": ["qualification.add", "qualification.delete"]}}) == 3


async def test_another_trainees_qualification_is_404(api: ApiClient, settings: Settings) -> None:
    owner, _ = await register_trainee(api, settings.sms_outbox)
    other, _ = await register_trainee(api, settings.sms_outbox)
    qid = (await add(api, owner, licence_scan())).json["id"]
    assert (await api.get(f"/api/v1/me/qualifications/{qid}/image", token=other)).status == 404
    assert (await api.delete(f"/api/v1/me/qualifications/{qid}", token=other)).status == 404
    assert (await api.get("/api/v1/me/qualifications", token=other)).json["total"] == 0
    assert (await api.get(f"/api/v1/me/qualifications/{qid}/image", token=owner)).status == 200
    for bad in ("nope", str(ObjectId())):
        assert (await api.delete(f"/api/v1/me/qualifications/{bad}", token=owner)).status == 404
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    assert (await api.get("/api/v1/me/qualifications", token=unit_token)).status == 403


async def test_limit_per_trainee(api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    answers = await asyncio.gather(*(
        api.post("/api/v1/me/qualifications", {"type": "二级建造师", "number": f"N{i:04d}"}, token=token)
        for i in range(QUALIFICATION_LIMIT + 5)
    ))
    assert sorted(a.status for a in answers) == [201] * QUALIFICATION_LIMIT + [409] * 5
    assert {a.error_code for a in answers if a.status == 409} == {"qualification_limit"}
    assert await db["qualifications"].count_documents({}) == QUALIFICATION_LIMIT
    # Deleting one frees one place.
    first = (await api.get("/api/v1/me/qualifications", token=token)).json["items"][0]["id"]
    await api.delete(f"/api/v1/me/qualifications/{first}", token=token)
    assert (await api.post("/api/v1/me/qualifications", {"type": "二级建造师", "number": "X"}, token=token)).status == 201
    assert (await api.post("/api/v1/me/qualifications", {"type": "二级建造师", "number": "Y"}, token=token)).status == 409


@pytest.mark.parametrize(
    ("image", "fields", "status"),
    [
        ("这不是图片".encode() * 50, {}, 415),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 10, {}, 422),
        (b"\xff\xd8\xff" + b"\x00" * (6 * 1024 * 1024), {}, 413),
        (None, {"type": ""}, 422),
        (None, {"number": "A\u202eB"}, 422),
        (None, {"type": "x" * 51}, 422),
    ],
)
async def test_bad_qualifications_store_nothing(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]],
    image: bytes | None, fields: dict[str, str], status: int,
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await add(api, token, image if image is not None else licence_scan(), **fields)
    assert r.status == status, r.body[:300]
    assert await db["qualifications"].count_documents({}) == 0
    assert await db["qualification_images.files"].count_documents({}) == 0
    account = await db["accounts"].find_one({"role": "trainee"})
    assert account is not None and account["trainee"].get("qualification_count", 0) == 0
