"""A payment proof (a transfer screenshot) re-encoded without metadata: bytes in, clean image out.

Pure CPU work (run it in the executor). The format is decided by the content, never by the file
name or the declared type: JPEG, PNG, WebP, or HEIC/HEIF (iPhones; through ``pillow-heif``,
converted to JPEG). Anything else — a PDF renamed ``.jpg`` — is 415. The pixel count is checked
from the header before decoding (422), then the picture is decoded, turned upright by its EXIF
orientation and written afresh in its own format (HEIC as JPEG): no EXIF, GPS, ICC or comment
survives. A screenshot stays at full resolution (the OCR reads it) up to ``MAX_SIDE`` (phones'
screenshots are at most 1440×3200, a 12 MP photo of a screen 4032×3024 is kept as it is: scaling it
would cost more than it saves); a bigger picture (a 48 MP photo) is scaled down, a JPEG already while
it is decoded (draft mode: the decoder's 1/2, 1/4, 1/8 scaling, never below 3/4 of ``MAX_SIDE``).

Cost (bench/README.md "payments"): the encoding is most of it. PNG is written at zlib level 1 (a
screenshot's flat colours compress nearly as well, in half the time of level 6); JPEG at quality 85,
without chroma subsampling (coloured text stays sharp for the reviewer and the OCR).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps

from server.documents.image_io import DECODE_ERRORS, checked_header, corrupt, pixel_limit, to_srgb, too_many_pixels
from server.errors import too_large, unsupported_media

MAX_BYTES = 8 * 1024 * 1024  # one proof
MAX_PIXELS = 40_000_000
MAX_SIDE = 4096
JPEG_QUALITY = 85
PNG_COMPRESS_LEVEL = 1
WEBP_QUALITY = 85
WEBP_METHOD = 2  # 0 fastest … 6 smallest

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}


@dataclass(frozen=True)
class Proof:
    """A cleaned proof ready to store."""

    data: bytes
    content_type: str  # image/jpeg | image/png | image/webp
    width: int
    height: int
    sha256: str

    @property
    def filename(self) -> str:
        """A neutral file name (the uploaded one is never kept)."""
        return "proof." + self.content_type.split("/")[1].replace("jpeg", "jpg")


def bad_format() -> Exception:
    """415 ``proof_bad_format``: not a JPEG, PNG, WebP or HEIC picture."""
    return unsupported_media("缴费凭证仅支持 JPEG、PNG、WebP 或 HEIC 格式的图片", "proof_bad_format")


def sniff(data: bytes) -> str:
    """``JPEG``, ``PNG``, ``WEBP`` or ``HEIF`` from the first bytes; 415 otherwise."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF"
    raise bad_format()


def normalize_proof(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Proof:
    """The proof upright, sRGB, metadata-free, in its own format (HEIC → JPEG).

    413 over ``max_bytes``; 415 ``proof_bad_format``; 422 ``photo_corrupt`` / ``photo_too_many_pixels``.
    """
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    kind = sniff(data)
    limit = pixel_limit(max_pixels)
    if kind in ("JPEG", "PNG"):
        checked_header(data, max_bytes=max_bytes, max_pixels=max_pixels)  # scans, declared size
    if kind == "HEIF":
        import pillow_heif  # noqa: PLC0415 — only when an iPhone picture arrives

        pillow_heif.register_heif_opener()
    try:
        image = Image.open(BytesIO(data), formats=["HEIF" if kind == "HEIF" else kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise too_many_pixels(limit) from exc
    except DECODE_ERRORS as exc:
        raise corrupt() from exc
    if image.width * image.height > limit:
        raise too_many_pixels(limit)
    if kind == "JPEG" and max(image.size) > MAX_SIDE:
        # Decode at a reduced scale (EXIF rotation keeps the sides), at least 3/4 of MAX_SIDE: an 8064-pixel
        # photo is decoded at 4032 and kept so, rather than decoded in full to be scaled by 0.51.
        factor = 0.75 * MAX_SIDE / max(image.size)
        image.draft(image.mode, (round(image.width * factor), round(image.height * factor)))
    try:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
    except DECODE_ERRORS as exc:
        raise corrupt() from exc
    icc = image.info.get("icc_profile")
    keep_alpha = kind in ("PNG", "WEBP") and upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info)
    clean = upright.convert("RGBA") if keep_alpha else to_srgb(upright, icc)
    if max(clean.size) > MAX_SIDE:
        factor = MAX_SIDE / max(clean.size)
        clean = clean.resize((max(1, round(clean.width * factor)), max(1, round(clean.height * factor))),
                             Image.Resampling.BICUBIC, reducing_gap=2.0)
    # A fresh image of the pixels only: nothing of the original's metadata can come along.
    fresh = Image.frombytes(clean.mode, clean.size, clean.tobytes())
    out = BytesIO()
    if kind == "PNG":
        fresh.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        content_type = "image/png"
    elif kind == "WEBP":
        fresh.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
        content_type = "image/webp"
    else:
        fresh.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
        content_type = "image/jpeg"
    body = out.getvalue()
    return Proof(body, content_type, fresh.width, fresh.height, hashlib.sha256(body).hexdigest())
