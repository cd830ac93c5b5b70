"""Re-encode an uploaded document picture (a licence, a payment screenshot) without metadata.

Pure CPU work like ``photo.py``, with the content sniffing, bounded decoding
and colour handling of ``image_io``: JPEG or PNG by content (415 otherwise), the
pixel limit checked from the header before decoding (422), EXIF orientation
applied, then a fresh baseline JPEG that carries no EXIF, GPS, ICC or comment,
scaled down to at most ``MAX_SIDE`` pixels on its longest side.
"""

from __future__ import annotations

import math

from PIL import Image

from server.documents.image_io import checked_header, decode, encode, to_srgb

SCAN_FILENAME = "scan.jpg"
SCAN_CONTENT_TYPE = "image/jpeg"
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 2400  # enough to read a certificate number; keeps stored files small


def normalize_scan(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE
) -> tuple[str, str, bytes]:
    """Return ``("scan.jpg", "image/jpeg", jpeg)``: ``data`` upright, sRGB, metadata-free.

    Raises ``AppError``: 413 over ``max_bytes``; 415 ``photo_bad_format`` unless
    the content is JPEG or PNG; 422 ``photo_too_many_pixels`` or ``photo_corrupt``.
    """
    header, limit = checked_header(data, max_bytes=max_bytes, max_pixels=max_pixels)
    shrink = max(1.0, max(header.width, header.height) / max_side)
    # A big JPEG is decoded at a reduced DCT scale right away (less memory, faster).
    request = (math.ceil(header.width / shrink), math.ceil(header.height / shrink))
    image, _ = decode(data, header, limit, draft=(None, request))
    rgb = to_srgb(image, image.info.get("icc_profile"))
    factor = min(1.0, max_side / max(rgb.size))
    if factor < 1.0:
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return SCAN_FILENAME, SCAN_CONTENT_TYPE, encode(rgb, quality=85)
