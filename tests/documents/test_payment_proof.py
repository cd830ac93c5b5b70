"""Payment proofs: judged by content, re-encoded without metadata, HEIC to JPEG, limits."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from server.documents.payment_proof import MAX_SIDE, normalize_proof, sniff
from server.errors import AppError


def _picture(fmt: str, size: tuple[int, int] = (240, 480), **save: object) -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "iPhone 15 Pro"
    exif[0x8825] = {1: "N", 2: (31.0, 12.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    out = BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    Image.new("RGB", size, (250, 250, 250)).save(out, fmt, exif=exif.tobytes(), **save)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "content_type"), [
    ("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("HEIF", "image/jpeg")])
def test_each_format_is_kept_or_converted_and_loses_its_metadata(fmt: str, content_type: str) -> None:
    proof = normalize_proof(_picture(fmt))
    assert proof.content_type == content_type and (proof.width, proof.height) == (240, 480)
    image = Image.open(BytesIO(proof.data))
    assert not dict(image.getexif()) and "exif" not in image.info and "icc_profile" not in image.info
    assert len(proof.sha256) == 64


def test_exif_orientation_is_applied_before_it_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: stored landscape, shown portrait
    out = BytesIO()
    Image.new("RGB", (480, 240), "white").save(out, "JPEG", exif=exif.tobytes())
    proof = normalize_proof(out.getvalue())
    assert (proof.width, proof.height) == (240, 480)


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n",  # a PDF renamed .jpg
    b"GIF89a" + b"\x00" * 40,
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"",
])
def test_anything_else_is_415(data: bytes) -> None:
    with pytest.raises(AppError) as refused:
        normalize_proof(data)
    assert refused.value.status == 415 and refused.value.code == "proof_bad_format"


def test_too_big_and_broken_pictures_are_refused() -> None:
    with pytest.raises(AppError) as big:
        normalize_proof(_picture("PNG"), max_bytes=100)
    assert big.value.status == 413
    with pytest.raises(AppError) as pixels:
        normalize_proof(_picture("WEBP", size=(400, 400)), max_pixels=1000)
    assert pixels.value.status == 422 and pixels.value.code == "photo_too_many_pixels"
    with pytest.raises(AppError) as broken:
        normalize_proof(_picture("WEBP")[:60])
    assert broken.value.status == 422


def test_sniffing_ignores_names_and_reads_the_bytes() -> None:
    assert sniff(_picture("PNG")) == "PNG" and sniff(_picture("WEBP")) == "WEBP" and sniff(_picture("HEIF")) == "HEIF"


@pytest.mark.parametrize(("fmt", "size", "expected"), [
    ("JPEG", (8000, 2000), (4000, 1000)),  # decoded at half scale (draft), not scaled further
    ("JPEG", (1080, 2400), (1080, 2400)),  # a phone's screenshot: full resolution
    ("PNG", (5000, 1000), (MAX_SIDE, round(1000 * MAX_SIDE / 5000))),  # no draft for PNG: scaled to MAX_SIDE
])
def test_big_pictures_are_scaled_down_keeping_their_shape(fmt: str, size: tuple[int, int],
                                                          expected: tuple[int, int]) -> None:
    proof = normalize_proof(_picture(fmt, size))
    assert (proof.width, proof.height) == expected
    assert max(proof.width, proof.height) <= MAX_SIDE
    with Image.open(BytesIO(proof.data)) as stored:
        assert stored.size == expected
