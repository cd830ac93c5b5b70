"""Progressive JPEGs made of a great many scans are refused before decoding."""

from __future__ import annotations

import struct
import time
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from server.documents import image_io
from server.documents.image_io import MAX_JPEG_SCANS, checked_header, jpeg_scan_count
from server.documents.photo import normalize_id_photo
from server.documents.scan import normalize_scan
from server.errors import AppError

PORTRAIT = Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "portrait.jpg"
LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 40_000_000}


def progressive(image: Image.Image) -> bytes:
    out = BytesIO()
    image.save(out, "JPEG", progressive=True, quality=90)
    return out.getvalue()


def scans_of(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan: its SOS segment and the entropy-coded data after it."""
    found, pos = [], 2
    while data[pos + 1] != image_io.EOI:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if data[pos + 1] == image_io.SOS:
            while True:  # entropy data runs to the next marker that is not FF00 or a restart
                end = data.find(b"\xff", end)
                if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
            found.append((pos, end))
        pos = end
    return found


def with_extra_scans(data: bytes, extra: int) -> bytes:
    """``data`` with its smallest scan repeated ``extra`` times before the EOI (libjpeg decodes each)."""
    scans = scans_of(data)
    start, end = min(scans, key=lambda s: s[1] - s[0])
    last_end = scans[-1][1]
    return data[:last_end] + data[start:end] * extra + data[last_end:]


@pytest.fixture(scope="module")
def portrait_progressive() -> bytes:
    return progressive(Image.open(PORTRAIT).convert("RGB"))


def test_a_normal_progressive_jpeg_passes(portrait_progressive: bytes) -> None:
    scans = len(scans_of(portrait_progressive))
    assert 5 <= scans <= 20
    header, _ = checked_header(portrait_progressive, **LIMITS)
    assert jpeg_scan_count(portrait_progressive, header.jpeg.sos_start, MAX_JPEG_SCANS) == scans  # type: ignore[union-attr]
    _, _, jpeg = normalize_id_photo(portrait_progressive, max_bytes=LIMITS["max_bytes"])
    assert jpeg.startswith(b"\xff\xd8")


def test_exactly_the_limit_passes_one_more_is_refused(portrait_progressive: bytes) -> None:
    base = len(scans_of(portrait_progressive))
    checked_header(with_extra_scans(portrait_progressive, MAX_JPEG_SCANS - base), **LIMITS)
    with pytest.raises(AppError) as refused:
        checked_header(with_extra_scans(portrait_progressive, MAX_JPEG_SCANS - base + 1), **LIMITS)
    assert (refused.value.status, refused.value.code) == (422, "photo_too_many_scans")
    assert refused.value.details == {"max_scans": 100} and "扫描层数过多" in refused.value.message


def _decode_cpu(data: bytes) -> float:
    started = time.thread_time()
    image = Image.open(BytesIO(data))
    image.load()
    assert image.size == (2000, 2000)
    return time.thread_time() - started


def test_a_scan_bomb_is_refused_at_once_by_both_pipelines() -> None:
    gradient = Image.linear_gradient("L").resize((2000, 2000)).convert("RGB")
    plain = progressive(gradient)
    bomb = with_extra_scans(plain, 10_000)
    assert len(bomb) < 500_000
    refusals = []
    for normalize in (normalize_id_photo, normalize_scan):
        started = time.thread_time()  # CPU time: the machine may be busy with other work
        with pytest.raises(AppError) as refused:
            normalize(bomb, max_bytes=LIMITS["max_bytes"])
        assert refused.value.code == "photo_too_many_scans"
        refusals.append(time.thread_time() - started)
    # Control: nothing else stops it — Pillow decodes every scan, many times the work of the
    # plain picture (and of the refusal).
    plain_cpu, bomb_cpu = _decode_cpu(plain), _decode_cpu(bomb)
    assert bomb_cpu > 5 * plain_cpu and bomb_cpu > 10 * max(refusals), (plain_cpu, bomb_cpu, refusals)
