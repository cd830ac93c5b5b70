"""Re-encoding document pictures (licences) without metadata."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from server.documents.scan import MAX_SIDE, normalize_scan
from server.errors import AppError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "photos"


def test_png_becomes_metadata_free_jpeg() -> None:
    name, content_type, out = normalize_scan((FIXTURES / "portrait.png").read_bytes())
    assert (name, content_type) == ("scan.jpg", "image/jpeg")
    image = Image.open(BytesIO(out))
    assert image.format == "JPEG" and image.size == (450, 600) and not image.getexif()


def test_big_sideways_picture_is_turned_and_scaled_down() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0)}
    stored = Image.new("RGB", (4000, 3000), (200, 180, 160))
    data = BytesIO()
    stored.save(data, "JPEG", exif=exif)
    image = Image.open(BytesIO(normalize_scan(data.getvalue())[2]))
    assert image.size == (MAX_SIDE * 3 // 4, MAX_SIDE)  # upright: portrait
    assert not image.getexif()


@pytest.mark.parametrize(("data", "status"), [(b"%PDF-1.7 ...", 415), (b"\xff\xd8\xff\xe0\x00", 422)])
def test_refusals(data: bytes, status: int) -> None:
    with pytest.raises(AppError) as caught:
        normalize_scan(data)
    assert caught.value.status == status


def test_over_the_size_limit_is_413() -> None:
    with pytest.raises(AppError) as caught:
        normalize_scan(b"\xff\xd8\xff" + b"\x00" * 100, max_bytes=50)
    assert caught.value.status == 413
