"""Bytes in, checked image out: shared by the ID photo and the document scans.

Content sniffing (JPEG or PNG by the magic bytes, 415 otherwise) and the checks
made before any decoding (byte size, pixel count from the declared header, the
number of scans of a JPEG),
then bounded decoding with Pillow (optionally at a reduced JPEG DCT scale,
turned upright by EXIF), colour conversion to 8-bit sRGB and a fresh baseline
JPEG without metadata. Pure CPU work without shared state: thread-safe.

The error codes are named ``photo_*`` on purpose: clients already rely on them
for every uploaded picture, ID photo or licence scan alike.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from server.errors import AppError, too_large, unsupported_media

JPEG_QUALITY = 92  # default of ``encode``: the ID photo's quality
# A progressive JPEG is decoded once per scan over the whole picture: 10,000 tiny scans
# (200 KB) cost seconds. Encoders write about 10; libjpeg's most elaborate script, 64.
MAX_JPEG_SCANS = 100

# First bytes of a PNG and of a JPEG file (SOI plus the next marker's FF).
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# Markers without a length field.
STANDALONE = {0x01, *range(0xD0, 0xDA)}
SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Start of frame markers (SOF0..SOF15 minus DHT, JPG and DAC), then single markers.
SOS, EOI, COM, APP0, APP2, APP14 = 0xDA, 0xD9, 0xFE, 0xE0, 0xE2, 0xEE

# Pillow reports broken input with any of these, depending on the plugin and
# on where the data ends.
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)


# --------------------------------------------------------------------------- errors


def bad_format() -> AppError:
    """415 ``photo_bad_format``: the content is neither JPEG nor PNG."""
    return unsupported_media("仅支持 JPEG 或 PNG 格式的照片", "photo_bad_format")


def corrupt() -> AppError:
    """422 ``photo_corrupt``: the file starts like JPEG/PNG but does not decode."""
    return AppError(422, "photo_corrupt", "照片文件已损坏或不完整")


def too_many_pixels(limit: int) -> AppError:
    """422 ``photo_too_many_pixels``: more than ``limit`` pixels declared or decoded."""
    return AppError(
        422, "photo_too_many_pixels", "照片像素过多，请缩小后重新上传", {"max_pixels": limit}
    )


def too_many_scans(limit: int = MAX_JPEG_SCANS) -> AppError:
    """422 ``photo_too_many_scans``: a (progressive) JPEG made of more scans than any encoder writes."""
    return AppError(
        422, "photo_too_many_scans",
        f"照片文件的扫描层数过多（超过 {limit} 层），请另存为普通 JPEG 后重新上传", {"max_scans": limit},
    )


# --------------------------------------------------------------------------- sniffing


def checked_header(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[Header, int]:
    """The image's header and pixel limit, after the checks made before any decoding.

    413 over ``max_bytes``, 415 unless JPEG or PNG by content, 422 over the pixel limit.
    """
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    header = sniff_format(data)
    limit = pixel_limit(max_pixels)
    if header.width * header.height > limit:
        raise too_many_pixels(limit)
    if header.jpeg is not None and jpeg_scan_count(data, header.jpeg.sos_start, MAX_JPEG_SCANS) > MAX_JPEG_SCANS:
        raise too_many_scans()
    return header, limit


def pixel_limit(max_pixels: int) -> int:
    """Our limit, never above Pillow's.

    Pillow's own bomb check must never fire first: between 1x and 2x its
    limit it only warns, and a warning is not a refusal.
    """
    pillow = Image.MAX_IMAGE_PIXELS
    return max_pixels if pillow is None else min(max_pixels, int(pillow))


@dataclass
class Header:
    """What the first bytes say, before Pillow decodes anything."""

    format: str  # "JPEG" or "PNG"
    width: int
    height: int
    jpeg: JpegLayout | None = None


@dataclass
class JpegLayout:
    """Segments of a JPEG up to its first scan (start of scan marker)."""

    segments: list[tuple[int, int, int]] = field(default_factory=list)  # (marker, start, end)
    sof: int = 0
    precision: int = 0
    component_ids: tuple[int, ...] = ()
    sos_start: int = 0


def sniff_format(data: bytes) -> Header:
    """Decide JPEG or PNG from the magic bytes and read the declared size.

    The declared size lets the pixel limit be enforced before Pillow even
    opens the file. Anything that is neither format is a 415; something that
    starts like one of them but breaks off before its size is corrupt (422).
    """
    if data.startswith(PNG_MAGIC):
        # The IHDR chunk must come first: length 13, type, width, height.
        if len(data) < 33 or data[12:16] != b"IHDR":
            raise corrupt()
        width, height = struct.unpack(">II", data[16:24])
        return Header("PNG", width, height)
    if data.startswith(JPEG_MAGIC):
        layout = jpeg_layout(data)
        if layout is None:
            raise corrupt()
        _, start, _ = next(s for s in layout.segments if s[0] == layout.sof)
        height, width = struct.unpack(">HH", data[start + 5 : start + 9])
        return Header("JPEG", width, height, layout)
    raise bad_format()


def jpeg_layout(data: bytes) -> JpegLayout | None:
    """Walk the marker segments from SOI to the first SOS; None if malformed."""
    layout = JpegLayout()
    pos = 2
    while True:
        while data[pos : pos + 2] == b"\xff\xff":
            pos += 1  # fill bytes
        if pos + 4 > len(data) or data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in STANDALONE:
            return None  # nothing standalone belongs in the header
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            return None
        layout.segments.append((marker, pos, end))
        if marker in SOF_MARKERS:
            if length < 8:
                return None
            layout.sof = marker
            layout.precision = data[pos + 4]
            count = data[pos + 9]
            ids = data[pos + 10 : pos + 10 + 3 * count : 3]
            layout.component_ids = tuple(ids)
        if marker == SOS:
            layout.sos_start = pos
            return layout if layout.sof else None
        pos = end


def jpeg_scan_end(data: bytes, sos_start: int) -> tuple[int, bool] | None:
    """Find the end of the EOI marker after the scans.

    Returns ``(end, metadata_inside)`` where ``metadata_inside`` tells whether
    an APPn or COM segment sits between scans; None when no EOI is found.
    Entropy-coded data escapes 0xFF as FF 00, so any other FF xx is a marker.
    """
    (length,) = struct.unpack(">H", data[sos_start + 2 : sos_start + 4])
    pos = sos_start + 2 + length
    metadata_inside = False
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return None
        marker = data[pos + 1]
        if marker == 0x00 or marker == 0xFF or 0xD0 <= marker <= 0xD7:
            pos += 1  # stuffed byte, fill byte or restart marker
            continue
        if marker == EOI:
            return pos + 2, metadata_inside
        if pos + 4 > len(data):
            return None
        # Another segment between scans (DHT, DQT, SOS, DRI, ...).
        metadata_inside |= marker == COM or 0xE0 <= marker <= 0xEF
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length


def jpeg_scan_count(data: bytes, sos_start: int, stop_after: int) -> int:
    """The number of scans (SOS markers) from the first one on, counting no further than ``stop_after + 1``.

    Walks the markers as :func:`jpeg_scan_end` does, without decoding anything.
    """
    count = 0
    pos = sos_start
    while pos + 4 <= len(data) and count <= stop_after:
        count += 1  # ``pos`` is at an SOS marker
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos = _next_marker(data, pos + 2 + length, SOS)
        if pos < 0:
            break
    return count


def _next_marker(data: bytes, pos: int, wanted: int) -> int:
    """Where the next ``wanted`` marker starts (skipping entropy data and other segments), or -1."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return -1
        marker = data[pos + 1]
        if marker == 0x00 or marker == 0xFF or 0xD0 <= marker <= 0xD7:
            pos += 1  # stuffed byte, fill byte or restart marker
            continue
        if marker == wanted:
            return pos
        if marker == EOI or pos + 4 > len(data):
            return -1
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length


# --------------------------------------------------------------------------- decoding


def open_bounded(data: bytes, header: Header, limit: int) -> Image.Image:
    """Open lazily (header only) with Pillow and re-check format and pixel count.

    Pillow's own decompression-bomb error (and its warning, which the tests
    turn into an exception) becomes the same 422 as our limit.
    """
    try:
        image = Image.open(BytesIO(data), formats=[header.format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise too_many_pixels(limit) from exc
    except DECODE_ERRORS as exc:
        # The magic bytes said JPEG/PNG, so this is a broken file, not another format.
        raise corrupt() from exc
    if image.format != header.format:
        raise bad_format()
    if image.width * image.height > limit:
        raise too_many_pixels(limit)
    return image


def decode(
    data: bytes,
    header: Header,
    limit: int,
    draft: tuple[str | None, tuple[int, int]] | None = None,
) -> tuple[Image.Image, float]:
    """Decode fully (optionally at a reduced JPEG scale) and turn upright.

    Returns the image and the number of original pixels per decoded pixel.
    Pillow refuses truncated data by default (LOAD_TRUNCATED_IMAGES stays
    False), so a cut-off upload is reported instead of padded with grey.
    """
    image = open_bounded(data, header, limit)
    if draft is not None and header.format == "JPEG":
        image.draft(*draft)
    try:
        image.load()
    except DECODE_ERRORS as exc:
        raise corrupt() from exc
    scale = header.width / image.width
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except DECODE_ERRORS:
        # A broken EXIF block is only metadata: keep the picture as stored.
        pass
    return image, scale


def to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit RGB in sRGB: alpha composited on white, embedded ICC profile applied."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale PNG: Pillow's convert("L") would clip, scale instead.
        pixels = np.asarray(image, dtype=np.float32) / 257.0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    elif image.mode in ("1", "F"):
        image = image.convert("L")
    if image.mode in ("RGBA", "RGBa", "PA", "LA", "La"):
        base = "L" if image.mode in ("LA", "La") else "RGB"
        flat = Image.new(base, image.size, 255 if base == "L" else (255, 255, 255))
        flat.paste(image.convert(base), mask=image.getchannel("A"))
        image = flat
    if icc and image.mode in ("RGB", "L", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(BytesIO(icc))
            return ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # unusable profile: treat the pixels as sRGB, like browsers do
    return image.convert("RGB")


# --------------------------------------------------------------------------- encoding


def encode(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG of the pixels only: a fresh image carries no EXIF, ICC, GPS or comment.

    Baseline (not progressive) so that a re-upload of our own output is
    recognised as clean and kept byte for byte.
    """
    fresh = Image.frombytes("RGB", image.size, image.convert("RGB").tobytes())
    out = BytesIO()
    fresh.save(out, "JPEG", quality=quality, optimize=True, subsampling=0)
    return out.getvalue()

