"""ID-photo normalisation with real pictures (fixtures: tests/fixtures/photos/make_fixtures.py)."""

from __future__ import annotations

import random
import struct
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from server.documents import image_io, photo
from server.documents.photo import PHOTO_HEIGHT, PHOTO_WIDTH, make_thumbnail, normalize_id_photo
from server.errors import AppError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "photos"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def portrait() -> Image.Image:
    image = Image.open(FIXTURES / "portrait.jpg")
    image.load()
    return image


def jpeg(image: Image.Image, **options) -> bytes:
    out = BytesIO()
    image.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def normalize(data: bytes, **kwargs) -> bytes:
    name, content_type, out = normalize_id_photo(data, **kwargs)
    assert (name, content_type) == ("photo.jpg", "image/jpeg")
    return out


def refusal(data: bytes, **kwargs) -> AppError:
    with pytest.raises(AppError) as caught:
        normalize_id_photo(data, **kwargs)
    return caught.value


def markers(data: bytes) -> list[int]:
    """Markers from SOI to SOS, checking the file ends right after its EOI."""
    assert data[:2] == b"\xff\xd8"
    found, pos = [], 2
    while True:
        marker = data[pos + 1]
        found.append(marker)
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xDA:
            break
        pos += 2 + length
    assert data.endswith(b"\xff\xd9")
    return found


def assert_clean_photo(out: bytes) -> Image.Image:
    """A 295x413 baseline RGB JPEG without metadata, nothing after EOI, one face."""
    image = Image.open(BytesIO(out))
    assert image.format == "JPEG"
    assert image.size == (PHOTO_WIDTH, PHOTO_HEIGHT)
    assert image.mode == "RGB"
    assert not image.getexif()
    assert "exif" not in image.info and "icc_profile" not in image.info
    assert "comment" not in image.info
    found = markers(out)
    assert not [m for m in found if 0xE1 <= m <= 0xEF or m == 0xFE], found  # APP1.., COM
    assert 0xC0 in found  # baseline
    assert not zipfile.is_zipfile(BytesIO(out))
    image.load()
    return image


def assert_framed(image: Image.Image) -> None:
    """Exactly one face, roughly centred, in the upper half, about half the width."""
    faces = photo._detect_faces(image)
    assert len(faces) == 1, faces
    x, y, w, h = faces[0]
    assert abs(x + w / 2 - PHOTO_WIDTH / 2) < 0.08 * PHOTO_WIDTH
    assert y + h / 2 < PHOTO_HEIGHT / 2
    assert 0.45 * PHOTO_WIDTH <= w <= 0.7 * PHOTO_WIDTH


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(BytesIO(data)).convert("RGB"))


# --------------------------------------------------------------------------- good photos


def test_portrait_jpeg_becomes_framed_id_photo() -> None:
    out = normalize(fixture("portrait.jpg"))
    assert_framed(assert_clean_photo(out))


def test_sideways_phone_photo_with_exif_orientation_6_is_turned_upright() -> None:
    # Orientation 6 means "rotate 90 degrees clockwise to view": store the
    # pixels turned counter-clockwise so that the tag makes them upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = portrait().transpose(Image.Transpose.ROTATE_90)
    assert stored.width > stored.height
    out = normalize(jpeg(stored, exif=exif))
    assert_framed(assert_clean_photo(out))


def test_png_portrait_becomes_jpeg() -> None:
    out = normalize(fixture("portrait.png"))
    assert_framed(assert_clean_photo(out))


def test_gps_exif_icc_and_comment_are_dropped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = jpeg(portrait(), exif=exif, icc_profile=srgb, comment=b"secret")
    assert Image.open(BytesIO(data)).getexif().get_ifd(0x8825)
    out = normalize(data)
    assert_clean_photo(out)
    assert b"PhoneMaker" not in out and b"secret" not in out


def test_cmyk_jpeg_and_transparent_png_become_rgb() -> None:
    assert_clean_photo(normalize(jpeg(portrait().convert("CMYK"))))
    rgba = portrait().convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 40, rgba.height))  # a transparent strip
    assert_clean_photo(normalize(png(rgba)))


def test_to_srgb_composites_alpha_on_white() -> None:
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert image_io.to_srgb(clear, None).getpixel((0, 0)) == (255, 255, 255)
    gray = Image.new("LA", (4, 4), (0, 0))
    assert image_io.to_srgb(gray, None).getpixel((0, 0)) == (255, 255, 255)
    deep = Image.new("I;16", (4, 4), 65535)
    assert image_io.to_srgb(deep, None).getpixel((0, 0)) == (255, 255, 255)


def test_clean_id_photo_keeps_its_pixels() -> None:
    clean = normalize(fixture("portrait.jpg"))
    assert normalize(clean) == clean  # idempotent, byte for byte
    # The same photo with EXIF (GPS) and a comment added at the marker level.
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0)}
    app1 = b"Exif\x00\x00" + exif.tobytes()
    com = b"taken by somebody"
    dirty = (
        clean[:2]
        + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
        + b"\xff\xfe" + struct.pack(">H", len(com) + 2) + com
        + clean[2:]
    )
    assert Image.open(BytesIO(dirty)).getexif().get_ifd(0x8825)
    out = normalize(dirty)
    assert_clean_photo(out)
    assert np.array_equal(pixels(out), pixels(dirty))
    assert np.array_equal(pixels(out), pixels(clean))


def test_thumbnail() -> None:
    thumb = make_thumbnail(normalize(fixture("portrait.jpg")))
    image = Image.open(BytesIO(thumb))
    assert image.format == "JPEG" and image.size == (96, 134)
    assert not image.getexif()


def test_thread_safe() -> None:
    data = fixture("portrait.jpg")
    expected = normalize(data)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: normalize(data), range(4)))
    assert all(result == expected for result in results)


# --------------------------------------------------------------------------- refusals: content


def test_no_face() -> None:
    error = refusal(fixture("no_face.jpg"))
    assert (error.status, error.code) == (422, "photo_no_face")
    assert "未检测到人脸" in error.message


def test_two_faces() -> None:
    error = refusal(fixture("two_faces.jpg"))
    assert (error.status, error.code) == (422, "photo_many_faces")


def test_too_small() -> None:
    error = refusal(fixture("too_small.jpg"))
    assert (error.status, error.code) == (422, "photo_too_small")
    assert error.message == "照片分辨率过低，请使用更清晰的照片"


def test_face_too_small() -> None:
    # A 480x360 picture with a person far away: face about 70 px across.
    person = portrait()
    person = person.resize((237, 316), Image.Resampling.LANCZOS)
    scene = Image.new("RGB", (480, 360), (200, 200, 200))
    scene.paste(person, (480 // 2 - person.width // 2, 360 - person.height))
    error = refusal(png(scene))
    assert (error.status, error.code) == (422, "photo_face_too_small")


def test_face_at_the_edge_is_badly_framed() -> None:
    error = refusal(jpeg(portrait().crop((200, 0, 600, 800))))
    assert (error.status, error.code) == (422, "photo_bad_framing")


# --------------------------------------------------------------------------- refusals: files


def test_over_max_bytes_is_413_before_anything_else() -> None:
    error = refusal(fixture("portrait.jpg"), max_bytes=1000)
    assert (error.status, error.code) == (413, "payload_too_large")
    assert refusal(b"not an image" * 100, max_bytes=1000).status == 413


def test_text_file_named_jpg_is_415() -> None:
    error = refusal("这不是照片 / not a photo\n".encode() * 20)
    assert (error.status, error.code) == (415, "photo_bad_format")
    assert error.message == "仅支持 JPEG 或 PNG 格式的照片"


def test_random_bytes_are_415() -> None:
    data = random.Random(20240601).randbytes(10 * 1024)
    assert not data.startswith((b"\xff\xd8", b"\x89PNG"))
    assert refusal(data).code == "photo_bad_format"


@pytest.mark.parametrize("kind", ["GIF", "WEBP", "PDF", "BMP"])
def test_other_formats_are_415(kind: str) -> None:
    if kind == "PDF":
        data = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    else:
        out = BytesIO()
        portrait().save(out, kind)
        data = out.getvalue()
    error = refusal(data)
    assert (error.status, error.code) == (415, "photo_bad_format")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_jpeg_is_corrupt(keep: float) -> None:
    data = fixture("portrait.jpg")
    error = refusal(data[: int(len(data) * keep)])
    assert (error.status, error.code) == (422, "photo_corrupt")
    assert error.message == "照片文件已损坏或不完整"


def test_truncated_png_is_corrupt() -> None:
    data = fixture("portrait.png")
    assert refusal(data[: len(data) // 2]).code == "photo_corrupt"


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with just a few rows of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_png_bomb_is_refused_quickly() -> None:
    bomb = png_bomb(50_000, 50_000)
    assert len(bomb) < 10_000
    started = time.perf_counter()
    error = refusal(bomb)
    assert time.perf_counter() - started < 1.0
    assert (error.status, error.code) == (422, "photo_too_many_pixels")


def test_pixel_limit_is_checked_before_decoding() -> None:
    # Over our limit but under Pillow's: only our check can refuse it.
    assert refusal(png_bomb(8000, 6000)).code == "photo_too_many_pixels"
    assert refusal(fixture("portrait.jpg"), max_pixels=100_000).code == "photo_too_many_pixels"


def test_pillow_bomb_limit_never_escapes_as_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow warns between 1x and 2x MAX_IMAGE_PIXELS; pytest turns warnings into errors.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300_000)
    assert refusal(fixture("portrait.jpg")).code == "photo_too_many_pixels"  # 480 000 px


def test_jpeg_with_zip_appended_is_reencoded() -> None:
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.txt", "not for the photo service")
    polyglot = fixture("portrait.jpg") + archive.getvalue()
    assert zipfile.is_zipfile(BytesIO(polyglot))
    out = normalize(polyglot)
    assert_clean_photo(out)
    assert b"payload.txt" not in out
    # Even an otherwise clean 295x413 photo is not kept when data trails its EOI.
    clean = normalize(fixture("portrait.jpg"))
    out = normalize(clean + archive.getvalue())
    assert_clean_photo(out)
    assert b"payload.txt" not in out
