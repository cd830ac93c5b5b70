"""A scan-bomb JPEG uploaded as an ID photo: 422 with a clear message, nothing stored."""

from __future__ import annotations

from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from tests.client import ApiClient
from tests.documents.test_jpeg_scans import progressive, with_extra_scans
from tests.factories import register_trainee
from tests.handlers.profile.test_photo_upload import upload


async def test_scan_bomb_upload_is_refused(api: ApiClient, settings: Settings, db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    token, _ = await register_trainee(api, settings.sms_outbox)
    bomb = with_extra_scans(progressive(Image.linear_gradient("L").resize((1500, 1500)).convert("RGB")), 2_000)
    r = await upload(api, token, bomb)
    assert (r.status, r.error_code) == (422, "photo_too_many_scans"), r.body
    assert "扫描层数过多" in r.json["error"]["message"]
    assert await db["photos.files"].count_documents({}) == 0
