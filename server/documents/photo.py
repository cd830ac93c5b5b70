"""Turn an uploaded picture into a clean 295x413 ID photo (Chinese "1-inch" size).

``normalize_id_photo`` is pure CPU work without I/O: handlers run it in an
executor, so everything here is thread-safe (the only shared object, the
OpenCV face detector, is kept per thread). Sniffing, the checks before
decoding, decoding, colour conversion and encoding live in ``image_io``;
this module adds face detection, framing and rendering.

Pipeline::

    size limit -> sniff JPEG/PNG from the bytes -> pixel limit from the header
    -> decode (JPEG: at a reduced DCT scale when the picture is big)
    -> EXIF orientation -> find exactly one face -> frame 295:413 around it
    -> crop -> sRGB -> LANCZOS to 295x413 -> fresh JPEG without metadata

An input that already is a clean baseline 295x413 JPEG with one face keeps its
pixels: only metadata segments are dropped, at the marker level.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np
from PIL import Image

from server.documents.image_io import (
    APP0,
    APP2,
    APP14,
    COM,
    DECODE_ERRORS,
    SOS,
    Header,
    checked_header,
    decode,
    encode,
    jpeg_scan_end,
    open_bounded,
    pixel_limit,
    sniff_format,
    to_srgb,
    too_many_pixels,
)
from server.errors import AppError

# (x, y, width, height) or (left, top, width, height), in pixels.
Box = tuple[float, float, float, float]

PHOTO_WIDTH = 295
PHOTO_HEIGHT = 413
PHOTO_FILENAME = "photo.jpg"
PHOTO_CONTENT_TYPE = "image/jpeg"

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000

# Framing of a 1-inch photo, in units of the Haar face box (which spans roughly
# eyebrows to chin and cheek to cheek).
FACE_WIDTH_RATIO = 0.55  # face box width / crop width, ideal
HEADROOM = 0.7  # face heights between the crop top and the face box top, ideal
MAX_UPSCALE = 1.5  # a slightly soft photo is fine, a blurry one is not
MIN_CROP_WIDTH = PHOTO_WIDTH / MAX_UPSCALE
MIN_CROP_HEIGHT = PHOTO_HEIGHT / MAX_UPSCALE
# Tolerances when the ideal crop does not fit and has to be shrunk or shifted.
MIN_FACE_RATIO = 0.45  # below: the face would look lost in the photo
MAX_FACE_RATIO = 0.75  # above: ears or chin cut off
MIN_HEADROOM = 0.3  # the Haar box starts at the forehead: keep the hair
MIN_ROOM_BELOW = 0.5  # chin, neck and the start of the shoulders
MAX_OFF_CENTRE = 0.1  # face centre vs crop centre, fraction of the crop width

# Face detection.
DETECT_SIDE = 640  # longest side of the grayscale copy the detector sees
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 7
MIN_DETECT_FRACTION = 0.05  # smallest face searched, fraction of the shorter side
MIN_FACE_FRACTION = 0.08  # smaller faces (of the image width) are refused
# ... and faces narrower than this in original pixels: the crop around them
# would need more than MAX_UPSCALE even at the smallest face ratio.
MIN_FACE_PIXELS = math.ceil(MIN_FACE_RATIO * PHOTO_WIDTH / MAX_UPSCALE)
MERGE_IOU = 0.3
MERGE_SIZE_RATIO = 1.5

_CASCADE_FILE = "haarcascade_frontalface_default.xml"

_thread_state = threading.local()


# --------------------------------------------------------------------------- errors


def _too_small() -> AppError:
    return AppError(
        422,
        "photo_too_small",
        "照片分辨率过低，请使用更清晰的照片",
        {"min_width": PHOTO_WIDTH, "min_height": PHOTO_HEIGHT},
    )


# --------------------------------------------------------------------------- public API


def normalize_id_photo(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> tuple[str, str, bytes]:
    """Return ``("photo.jpg", "image/jpeg", jpeg)``: a 295x413 ID photo made from ``data``.

    Raises ``AppError``: 413 over ``max_bytes``; 415 ``photo_bad_format`` unless
    the content is JPEG or PNG; 422 ``photo_too_many_pixels``, ``photo_corrupt``,
    ``photo_too_small``, ``photo_no_face``, ``photo_many_faces``,
    ``photo_face_too_small`` or ``photo_bad_framing``.
    """
    header, limit = checked_header(data, max_bytes=max_bytes, max_pixels=max_pixels)
    kept = _keep_clean_jpeg(data, header, limit)
    if kept is not None:
        return PHOTO_FILENAME, PHOTO_CONTENT_TYPE, kept

    # Pass 1: find the face. A big JPEG is decoded at 1/2..1/8 scale by libjpeg
    # itself (draft mode), straight to grayscale, which is several times faster.
    longest = max(header.width, header.height)
    reduced = header.format == "JPEG" and longest >= 2 * DETECT_SIDE
    if reduced:
        side = DETECT_SIDE / longest
        request = (math.ceil(header.width * side), math.ceil(header.height * side))
        image, scale = decode(data, header, limit, draft=("L", request))
    else:
        image, scale = decode(data, header, limit)
    width, height = image.width * scale, image.height * scale  # upright, original pixels
    if width < MIN_CROP_WIDTH or height < MIN_CROP_HEIGHT:
        raise _too_small()
    face = _single_face([_scale_box(b, scale) for b in _detect_faces(image)], width)
    left, top, crop_w, crop_h = _frame(face, width, height)

    # Pass 2: decode just sharp enough that the crop has >= 295 px across.
    if reduced:
        shrink = max(1.0, crop_w / PHOTO_WIDTH)
        request = (math.ceil(header.width / shrink), math.ceil(header.height / shrink))
        image, scale = decode(data, header, limit, draft=(None, request))
    box = (left / scale, top / scale, (left + crop_w) / scale, (top + crop_h) / scale)
    return PHOTO_FILENAME, PHOTO_CONTENT_TYPE, encode(_render(image, box))


def make_thumbnail(jpeg: bytes, width: int = 96) -> bytes:
    """A small JPEG of a normalized photo (e.g. for a roster), same aspect, no metadata."""
    header = sniff_format(jpeg)
    limit = pixel_limit(MAX_PIXELS)
    if header.width * header.height > limit:
        raise too_many_pixels(limit)
    request = (width, max(1, round(header.height * width / max(1, header.width))))
    image, _ = decode(jpeg, header, limit, draft=(None, request))
    height = max(1, round(image.height * width / image.width))
    rgb = to_srgb(image, image.info.get("icc_profile"))
    return encode(rgb.resize((width, height), Image.Resampling.LANCZOS), quality=85)


# --------------------------------------------------------------------------- faces


def _cascade() -> cv2.CascadeClassifier:
    """This thread's face detector (CascadeClassifier is not safe to share)."""
    cascade = getattr(_thread_state, "cascade", None)
    if cascade is None:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + _CASCADE_FILE)
        if cascade.empty():
            raise RuntimeError(f"OpenCV cascade {_CASCADE_FILE} could not be loaded")
        _thread_state.cascade = cascade
    return cascade


def _detect_faces(image: Image.Image) -> list[Box]:
    """Frontal faces as ``(x, y, w, h)`` in ``image`` pixels, overlapping hits merged.

    Runs on a grayscale copy at most DETECT_SIDE px long (faster, and the
    cascade's parameters were tuned at that size), histogram-equalised so
    that dim or backlit faces still respond. minNeighbors=7 is strict on
    purpose: lower values found a second "face" in the astronaut's suit.
    """
    gray = image.convert("L")
    factor = min(1.0, DETECT_SIDE / max(gray.size))
    if factor < 1.0:
        small = (max(1, round(gray.width * factor)), max(1, round(gray.height * factor)))
        gray = gray.resize(small, Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = cv2.equalizeHist(np.asarray(gray))
    min_side = max(24, round(MIN_DETECT_FRACTION * min(gray.size)))
    found = _cascade().detectMultiScale(
        pixels,
        scaleFactor=SCALE_FACTOR,
        minNeighbors=MIN_NEIGHBORS,
        minSize=(min_side, min_side),
    )
    boxes = [tuple(float(v) / factor for v in box) for box in found]
    return _merge_overlaps(boxes)


def _merge_overlaps(boxes: list[tuple[float, ...]]) -> list[Box]:
    """Keep the largest of any group of heavily overlapping boxes (one face, two hits).

    Boxes of similar size (at most MERGE_SIZE_RATIO apart) whose centres fall
    inside each other are duplicates too; a much larger box around a face is
    not merged away, as it is as likely to be the false positive.
    """
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: b[2] * b[3], reverse=True):
        x, y, w, h = box
        cx, cy = x + w / 2, y + h / 2
        if not any(
            _iou(box, other) >= MERGE_IOU
            or (
                other[2] <= MERGE_SIZE_RATIO * w
                and other[0] <= cx <= other[0] + other[2]
                and other[1] <= cy <= other[1] + other[3]
            )
            for other in kept
        ):
            kept.append((x, y, w, h))
    return kept


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _scale_box(box: Box, scale: float) -> Box:
    """A box in decoded pixels, expressed in original pixels."""
    return (box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale)


def _single_face(
    faces: list[Box], width: float
) -> Box:
    """The one face of the photo, big enough; otherwise the matching 422."""
    if not faces:
        raise AppError(422, "photo_no_face", "未检测到人脸，请正对镜头、光线充足后重新拍摄")
    if len(faces) > 1:
        raise AppError(
            422, "photo_many_faces", "检测到多张人脸，请单人拍摄", {"faces": len(faces)}
        )
    face = faces[0]
    if face[2] < MIN_FACE_FRACTION * width or face[2] < MIN_FACE_PIXELS:
        raise AppError(422, "photo_face_too_small", "人脸在照片中太小，请靠近镜头重新拍摄")
    return face


# --------------------------------------------------------------------------- framing


def _frame(
    face: Box, width: float, height: float
) -> Box:
    """The 295:413 crop ``(left, top, w, h)`` around ``face`` in an image of that size.

    Ideal: the face box is 55 % of the crop width, centred, with 0.7 face
    heights above it for the hair, the rest below for neck and shoulders.
    A crop that runs off the image is shifted inside; one bigger than the
    image is shrunk around the face. The result must still look like an ID
    photo, or the user is asked to retake it.
    """
    x, y, w, h = face
    aspect = PHOTO_HEIGHT / PHOTO_WIDTH
    crop_w = w / FACE_WIDTH_RATIO
    if crop_w < MIN_CROP_WIDTH:
        # Too few pixels for the ideal crop: show more around the face instead
        # of upscaling more than MAX_UPSCALE, as long as the face stays big.
        if w / MIN_CROP_WIDTH < MIN_FACE_RATIO:
            raise _too_small()
        crop_w = MIN_CROP_WIDTH
    headroom = HEADROOM * h * (crop_w * FACE_WIDTH_RATIO / w)
    fit = min(1.0, width / crop_w, height / (crop_w * aspect))
    crop_w *= fit  # shrink around the face top, which keeps it centred
    crop_h = crop_w * aspect
    headroom *= fit
    left = min(max(0.0, x + w / 2 - crop_w / 2), width - crop_w)
    top = min(max(0.0, y - headroom), height - crop_h)

    if crop_w < MIN_CROP_WIDTH - 0.5:
        raise _too_small()
    well_framed = (
        w / crop_w <= MAX_FACE_RATIO
        and abs(x + w / 2 - (left + crop_w / 2)) <= MAX_OFF_CENTRE * crop_w
        and y - top >= MIN_HEADROOM * h
        and top + crop_h - (y + h) >= MIN_ROOM_BELOW * h
    )
    if not well_framed:
        raise AppError(
            422,
            "photo_bad_framing",
            "人脸太靠近照片边缘，请将头部置于画面中央，并露出头顶和肩部",
        )
    return left, top, crop_w, crop_h


# --------------------------------------------------------------------------- output


def _render(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """Crop ``box`` (left, top, right, bottom; float pixels) to an sRGB 295x413 image.

    Colour conversion runs on the whole-pixel neighbourhood of the crop only,
    and LANCZOS resamples the exact float box, so no rounding shifts the frame.
    """
    outer = (
        max(0, math.floor(box[0])),
        max(0, math.floor(box[1])),
        min(image.width, math.ceil(box[2])),
        min(image.height, math.ceil(box[3])),
    )
    icc = image.info.get("icc_profile")
    region = to_srgb(image.crop(outer), icc)
    inner = (box[0] - outer[0], box[1] - outer[1], box[2] - outer[0], box[3] - outer[1])
    inner = (
        max(0.0, inner[0]),
        max(0.0, inner[1]),
        min(float(region.width), inner[2]),
        min(float(region.height), inner[3]),
    )
    return region.resize(
        (PHOTO_WIDTH, PHOTO_HEIGHT), Image.Resampling.LANCZOS, box=inner, reducing_gap=3.0
    )


def _keep_clean_jpeg(data: bytes, header: Header, limit: int) -> bytes | None:
    """The input minus its metadata segments, if it already is a clean ID photo.

    Eligible: a baseline 8-bit YCbCr JPEG of exactly 295x413, nothing after
    EOI, no ICC profile or Adobe colour transform (dropping those would change
    the colours), and no EXIF rotation. Only APPn (except a thumbnail-free
    JFIF APP0) and COM segments are dropped, so the decoded pixels are
    identical. It still needs exactly one face; None means "re-encode".
    """
    layout = header.jpeg
    if (
        layout is None
        or (header.width, header.height) != (PHOTO_WIDTH, PHOTO_HEIGHT)
        or layout.sof != 0xC0
        or layout.precision != 8
        or layout.component_ids != (1, 2, 3)
    ):
        return None
    scan = jpeg_scan_end(data, layout.sos_start)
    if scan is None or scan[1] or scan[0] != len(data):
        return None  # truncated, metadata between scans, or trailing data (polyglot)
    parts = [b"\xff\xd8"]
    for marker, start, end in layout.segments:
        payload = data[start + 4 : end]
        if marker == APP2 and payload.startswith(b"ICC_PROFILE\x00"):
            return None
        if marker == APP14 and payload.startswith(b"Adobe"):
            return None
        if marker == APP0:
            # JFIF header without thumbnail (16 bytes); anything else is dropped.
            bare_jfif = end - start == 18 and payload[12:14] == b"\x00\x00"
            if payload.startswith(b"JFIF\x00") and bare_jfif:
                parts.append(data[start:end])
            continue
        if 0xE0 <= marker <= 0xEF or marker == COM or marker == SOS:
            continue  # metadata; the SOS is copied below with the scans
        parts.append(data[start:end])
    image = open_bounded(data, header, limit)
    try:
        orientation = image.getexif().get(0x0112, 1)
    except DECODE_ERRORS:
        return None
    if orientation != 1:
        return None
    stripped = b"".join(parts) + data[layout.sos_start :]
    image, _ = decode(stripped, sniff_format(stripped), limit)
    if image.mode != "RGB":
        return None
    _single_face(_detect_faces(image), float(image.width))
    return stripped
