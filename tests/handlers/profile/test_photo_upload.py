"""ID photo upload, replacement, consent, refusals and who may see it — over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.documents import photo
from server.services.container import Services
from server.services.profile.photos import PHOTO_NOTICE_VERSION
from tests.client import ApiClient, Response
from tests.documents.test_photo import assert_framed, png_bomb
from tests.factories import STRONG_PASSWORD, register_trainee, register_unit

pytestmark = pytest.mark.usefixtures("db")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "photos"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def multipart(files: dict[str, tuple[str, bytes, str]], fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser or wx.uploadFile sends it."""
    boundary = "----wx" + uuid.uuid4().hex
    out = BytesIO()
    for name, value in (fields or {}).items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, content_type) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


async def upload(api: ApiClient, token: str, data: bytes, *, consent: bool = True,
                 filename: str = "photo.jpg", content_type: str = "image/jpeg") -> Response:
    body, ctype = multipart({"photo": (filename, data, content_type)}, {"consent": "true"} if consent else {})
    return await api.request("PUT", "/api/v1/me/photo", body=body, headers={"Content-Type": ctype}, token=token)


async def stored_files(db: AsyncDatabase[dict[str, Any]]) -> list[dict[str, Any]]:
    return await db["photos.files"].find().to_list()


async def trainee_account(db: AsyncDatabase[dict[str, Any]]) -> dict[str, Any]:
    account = await db["accounts"].find_one({"role": "trainee"})
    assert account is not None
    return account


# ---- happy paths ---------------------------------------------------------------------------


async def test_portrait_upload_gives_a_295x413_jpeg(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await upload(api, token, fixture("portrait.jpg"))
    assert r.status == 200, r.body
    assert (r.json["width"], r.json["height"]) == (295, 413)
    assert r.json["consent_version"] == PHOTO_NOTICE_VERSION
    got = await api.get("/api/v1/me/photo", token=token)
    assert got.status == 200
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["Cache-Control"].startswith("private")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    image = Image.open(BytesIO(got.body))
    assert image.format == "JPEG" and image.size == (295, 413)
    assert not image.getexif()
    account = await trainee_account(db)
    assert account["trainee"]["photo"]["file_id"] == (await stored_files(db))[0]["_id"]
    assert account["trainee"]["consents"]["photo"]["version"] == PHOTO_NOTICE_VERSION
    profile = (await api.get("/api/v1/me/profile", token=token)).json
    assert profile["has_photo"] is True and profile["photo_updated_at"]
    assert await db["audit_log"].count_documents({"action": "profile.photo_set"}) == 1


async def test_raw_png_body_with_consent_in_the_query(api: ApiClient, settings: Settings, services: Services) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await api.request("PUT", "/api/v1/me/photo?consent=true", body=fixture("portrait.png"),
                          headers={"Content-Type": "image/png"}, token=token)
    assert r.status == 200, r.body
    got = await api.get("/api/v1/me/photo", token=token)
    assert Image.open(BytesIO(got.body)).size == (295, 413)
    account = await services.db["accounts"].find_one({"role": "trainee"})
    assert account is not None and await services.profiles.has_photo(account["_id"])


async def test_sideways_exif_6_photo_comes_out_upright(api: ApiClient, settings: Settings) -> None:
    upright = Image.open(FIXTURES / "portrait.jpg")
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = BytesIO()
    stored.save(out, "JPEG", quality=90, exif=exif)
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await upload(api, token, out.getvalue())
    assert r.status == 200, r.body
    image = Image.open(BytesIO((await api.get("/api/v1/me/photo", token=token)).body))
    image.load()
    assert image.size == (295, 413)
    assert_framed(image)  # one upright face, centred: a sideways face would not be found


async def test_second_upload_replaces_the_first_and_deletes_its_file(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    assert (await upload(api, token, fixture("portrait.jpg"))).status == 200
    first = (await trainee_account(db))["trainee"]["photo"]["file_id"]
    # Consent is asked once: the second upload goes through without it.
    assert (await upload(api, token, fixture("portrait.png"), consent=False, content_type="image/png")).status == 200
    second = (await trainee_account(db))["trainee"]["photo"]["file_id"]
    assert second != first
    files = await stored_files(db)
    assert [f["_id"] for f in files] == [second]
    assert await db["photos.chunks"].count_documents({"files_id": first}) == 0


async def test_concurrent_uploads_leave_one_photo_and_no_orphan(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    assert (await upload(api, token, fixture("portrait.png"), content_type="image/png")).status == 200
    # A double tap: the last upload wins, every displaced file is deleted by whoever displaced it.
    answers = await asyncio.gather(*(upload(api, token, fixture("portrait.jpg")) for _ in range(4)))
    assert [a.status for a in answers] == [200] * 4
    files = await stored_files(db)
    assert [f["_id"] for f in files] == [(await trainee_account(db))["trainee"]["photo"]["file_id"]]


# ---- refusals ---------------------------------------------------------------------------------


async def assert_nothing_stored(db: AsyncDatabase[dict[str, Any]]) -> None:
    assert await stored_files(db) == []
    assert await db["photos.chunks"].count_documents({}) == 0
    account = await trainee_account(db)
    assert "photo" not in account["trainee"]
    assert await db["audit_log"].count_documents({"action": "profile.photo_set"}) == 0


async def test_first_upload_without_consent_is_422_with_the_notice(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    for consent_field in ({}, {"consent": "false"}):
        body, ctype = multipart({"photo": ("a.jpg", fixture("portrait.jpg"), "image/jpeg")}, consent_field)
        r = await api.request("PUT", "/api/v1/me/photo", body=body, headers={"Content-Type": ctype}, token=token)
        assert r.status == 422 and r.error_code == "consent_required", r.body
        assert "同意" in r.json["error"]["message"]
        assert r.json["error"]["details"]["notice_version"] == PHOTO_NOTICE_VERSION
    await assert_nothing_stored(db)
    assert "consents" not in (await trainee_account(db))["trainee"]


async def _eleven_mb_jpeg() -> bytes:
    # A real JPEG head followed by padding: the size alone must refuse it.
    return fixture("portrait.jpg") + b"\x00" * (11 * 1024 * 1024)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("text_named_jpg", 415, "photo_bad_format"),
        ("png_bomb", 422, "photo_too_many_pixels"),
        ("no_face", 422, "photo_no_face"),
        ("two_faces", 422, "photo_many_faces"),
        ("truncated", 422, "photo_corrupt"),
        ("eleven_mb", 413, "payload_too_large"),
        ("json_body", 415, "unsupported_media_type"),
        ("missing_field", 400, "file_missing"),
        ("empty_file", 400, "file_missing"),
        ("two_files", 400, "file_duplicate"),
        ("malformed_multipart", 400, "malformed_body"),
        ("bad_consent_value", 422, "validation_error"),
    ],
)
async def test_refusals_store_nothing(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]], case: str, status: int, code: str
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    headers: dict[str, str] = {}
    portrait = fixture("portrait.jpg")
    if case in ("text_named_jpg", "png_bomb", "no_face", "two_faces", "truncated", "eleven_mb"):
        data = {
            "text_named_jpg": "这不是图片\n".encode() * 100,
            "png_bomb": png_bomb(50_000, 50_000),
            "no_face": fixture("no_face.jpg"),
            "two_faces": fixture("two_faces.jpg"),
            "truncated": portrait[: len(portrait) // 2],
            "eleven_mb": await _eleven_mb_jpeg(),
        }[case]
        body, ctype = multipart({"photo": ("photo.jpg", data, "image/jpeg")}, {"consent": "true"})
    elif case == "json_body":
        body, ctype = b'{"photo": "x"}', "application/json"
    elif case == "missing_field":
        body, ctype = multipart({"picture": ("photo.jpg", portrait, "image/jpeg")}, {"consent": "true"})
    elif case == "empty_file":
        body, ctype = multipart({"photo": ("photo.jpg", b"", "image/jpeg")}, {"consent": "true"})
    elif case == "two_files":
        body, ctype = multipart({"photo": ("a.jpg", portrait, "image/jpeg")}, {"consent": "true"})
        body = body.replace(b'Content-Disposition: form-data; name="consent"',
                            b'Content-Disposition: form-data; name="photo"; filename="b.jpg"')
    elif case == "malformed_multipart":
        body, ctype = multipart({"photo": ("a.jpg", portrait, "image/jpeg")}, {"consent": "true"})
        body = body[: body.rindex(b"--")]  # no final boundary
    else:
        body, ctype = multipart({"photo": ("a.jpg", portrait, "image/jpeg")}, {"consent": "maybe"})
    headers["Content-Type"] = ctype
    r = await api.request("PUT", "/api/v1/me/photo", body=body, headers=headers, token=token)
    assert (r.status, r.error_code) == (status, code), r.body[:300]
    await assert_nothing_stored(db)


async def test_eleven_megabytes_reach_the_handler_and_get_413(api: ApiClient, settings: Settings) -> None:
    # Over the endpoint's 10 MB, sent whole by a client that does not wait for "100 Continue": under
    # MAX_REQUEST_BYTES the server drains it, so the answer is our envelope, not a dropped connection.
    assert settings.max_request_bytes > 11 * 1024 * 1024
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await upload(api, token, await _eleven_mb_jpeg())
    assert r.status == 413 and r.json["error"]["details"]["limit_bytes"] == 10 * 1024 * 1024


async def test_a_photo_seen_before_is_revalidated_with_a_304(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    assert (await upload(api, token, fixture("portrait.jpg"))).status == 200
    first = await api.get("/api/v1/me/photo", token=token)
    again = await api.get("/api/v1/me/photo", token=token, headers={"If-None-Match": first.headers["Etag"]})
    assert (first.status, again.status, again.body) == (200, 304, b"")
    assert first.headers["Cache-Control"] == "private, no-cache"


async def test_photo_is_for_trainees_and_404_before_upload(api: ApiClient, settings: Settings) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    r = await api.get("/api/v1/me/photo", token=token)
    assert r.status == 404 and r.error_code == "photo_not_found"
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    assert (await upload(api, unit_token, fixture("portrait.jpg"))).status == 403
    assert (await api.request("PUT", "/api/v1/me/photo", body=b"x", headers={"Content-Type": "image/jpeg"})).status == 401


# ---- who may see a trainee's photo ------------------------------------------------------------


async def staff_token(api: ApiClient, services: Services, role: str) -> str:

    from tests.totp import enrolled_staff, staff_login

    username, password, secret = await enrolled_staff(services, role, f"{role}{uuid.uuid4().hex[:6]}", STRONG_PASSWORD)
    r = await staff_login(api, username, password, secret)
    assert r.status == 200, r.body
    return str(r.json["token"])


async def trainee_with_photo(api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]) -> tuple[str, ObjectId]:
    token, body = await register_trainee(api, settings.sms_outbox)
    assert (await upload(api, token, fixture("portrait.jpg"))).status == 200
    me = (await api.get("/api/v1/me", token=token)).json
    return token, ObjectId(me["id"])


@pytest.mark.parametrize("role", ["admin", "reviewer", "scanner"])
async def test_association_staff_see_a_trainee_photo(
    api: ApiClient, settings: Settings, services: Services, db: AsyncDatabase[dict[str, Any]], role: str
) -> None:
    _, trainee_id = await trainee_with_photo(api, settings, db)
    token = await staff_token(api, services, role)
    r = await api.get(f"/api/v1/trainees/{trainee_id}/photo", token=token)
    assert r.status == 200 and Image.open(BytesIO(r.body)).size == (295, 413)
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_another_trainee_gets_404(api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]) -> None:
    owner_token, trainee_id = await trainee_with_photo(api, settings, db)
    other_token, _ = await register_trainee(api, settings.sms_outbox)
    r = await api.get(f"/api/v1/trainees/{trainee_id}/photo", token=other_token)
    assert r.status == 404 and r.body.startswith(b"{")
    assert (await api.get(f"/api/v1/trainees/{trainee_id}/photo", token=owner_token)).status == 200
    assert (await api.get("/api/v1/trainees/not-an-id/photo", token=owner_token)).status == 404
    assert (await api.get(f"/api/v1/trainees/{ObjectId()}/photo", token=owner_token)).status == 404


async def test_a_unit_sees_its_own_staff_photo_only(
    api: ApiClient, settings: Settings, db: AsyncDatabase[dict[str, Any]]
) -> None:
    _, mine = await trainee_with_photo(api, settings, db)
    _, theirs = await trainee_with_photo(api, settings, db)
    unit_token, _ = await register_unit(api, settings.sms_outbox)
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    other_unit_token, _ = await register_unit(api, settings.sms_outbox)
    other_unit_id = ObjectId((await api.get("/api/v1/me", token=other_unit_token)).json["id"])
    # The staff binding sets trainee.unit_id, and the person's consent trainee.unit_consent; set directly here.
    await db["accounts"].update_one({"_id": mine}, {"$set": {"trainee.unit_id": unit_id}})
    await db["accounts"].update_one({"_id": theirs}, {"$set": {"trainee.unit_id": other_unit_id,
                                                               "trainee.unit_consent": {"unit_id": other_unit_id}}})
    # Bound, but self-registered and without the person's consent: not shown.
    assert (await api.get(f"/api/v1/trainees/{mine}/photo", token=unit_token)).status == 404
    await db["accounts"].update_one({"_id": mine}, {"$set": {"trainee.unit_consent": {"unit_id": unit_id}}})
    assert (await api.get(f"/api/v1/trainees/{mine}/photo", token=unit_token)).status == 200
    assert (await api.get(f"/api/v1/trainees/{theirs}/photo", token=unit_token)).status == 404
    assert (await api.get(f"/api/v1/trainees/{theirs}/photo", token=other_unit_token)).status == 200
    # A unit id stored as a string never matches (no loose comparison).
    await db["accounts"].update_one({"_id": mine}, {"$set": {"trainee.unit_id": str(unit_id)}})
    assert (await api.get(f"/api/v1/trainees/{mine}/photo", token=unit_token)).status == 404


async def test_normalization_runs_off_the_event_loop(
    api: ApiClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    seen: list[str] = []
    real = photo.normalize_id_photo

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr("server.services.profile.photos.normalize_id_photo", spy)
    token, _ = await register_trainee(api, settings.sms_outbox)
    assert (await upload(api, token, fixture("portrait.jpg"))).status == 200
    assert seen and seen[0] != threading.main_thread().name and seen[0].startswith("cpu")
