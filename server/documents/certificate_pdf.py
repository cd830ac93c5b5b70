"""The 合格证书 PDF (issue 13): A4 landscape, the embedded CJK font, a vector QR to the verification page.

Pure: everything it prints comes in :class:`CertificateSheet` (the photo and the seal as bytes), so
it runs in the CPU executor or the job runner and is tested by rendering. The QR is drawn as
rectangles from segno's matrix (sharp at any zoom, no raster); the seal is a PNG with transparency
drawn over the issue date, as a stamp is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from server.documents.invoice_pdf import cjk_font

TITLE = "合格证书"


@dataclass(frozen=True)
class CertificateSheet:
    """What one certificate prints."""

    association: str
    number: str
    name: str
    id_masked: str
    unit: str
    course: str
    hours: int
    start_date: str
    end_date: str
    verdict: str  # 合格
    issued_on: str  # YYYY-MM-DD
    verify_url: str
    photo: bytes | None = None
    seal: bytes | None = None  # PNG with transparency


def render_certificate(sheet: CertificateSheet) -> bytes:
    """One certificate, one A4 landscape page; the PDF bytes."""
    pdf_bytes = io.BytesIO()
    _draw(sheet, pdf_bytes, None)
    return pdf_bytes.getvalue()


def render_certificates(sheets: list[CertificateSheet]) -> bytes:
    """Many certificates, one page each, in one PDF (a unit's download of a session)."""
    out = io.BytesIO()
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(out, pagesize=landscape(A4), pageCompression=1)
    for sheet in sheets:
        _draw(sheet, None, pdf)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _draw(sheet: CertificateSheet, out: io.BytesIO | None, pdf: object | None) -> None:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    font = cjk_font()
    width, height = landscape(A4)
    own = pdf is None
    c = canvas.Canvas(out, pagesize=(width, height), pageCompression=1) if own else pdf
    assert isinstance(c, canvas.Canvas)
    c.setTitle(f"{TITLE} {sheet.number}")
    # A double frame.
    c.setStrokeColorRGB(0.62, 0.45, 0.15)
    c.setLineWidth(3)
    c.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    c.setLineWidth(0.8)
    c.rect(16 * mm, 16 * mm, width - 32 * mm, height - 32 * mm)
    c.setFillColorRGB(0, 0, 0)
    c.setFont(font, 16)
    c.drawCentredString(width / 2, height - 36 * mm, sheet.association)
    c.setFont(font, 34)
    c.drawCentredString(width / 2, height - 54 * mm, TITLE)
    c.setFont(font, 10)
    c.drawRightString(width - 24 * mm, height - 26 * mm, f"证书编号：{sheet.number}")

    # The photo (a 25 × 35 mm ID photo) on the left.
    photo_x, photo_y = 30 * mm, height - 112 * mm
    if sheet.photo:
        c.drawImage(ImageReader(io.BytesIO(sheet.photo)), photo_x, photo_y, 30 * mm, 42 * mm,
                    preserveAspectRatio=True, anchor="c")
    else:
        c.rect(photo_x, photo_y, 30 * mm, 42 * mm)
    lines = [
        ("姓　　名", sheet.name), ("身份证号", sheet.id_masked), ("工作单位", sheet.unit or "—"),
        ("培训课程", sheet.course), ("学　　时", f"{sheet.hours} 学时"),
        ("培训日期", f"{sheet.start_date} 至 {sheet.end_date}"), ("考核结果", sheet.verdict),
    ]
    c.setFont(font, 13)
    y = height - 72 * mm
    for label, value in lines:
        c.drawString(75 * mm, y, f"{label}：{value}")
        y -= 9.5 * mm
    c.setFont(font, 11)
    c.drawString(75 * mm, y - 2 * mm, "经考核合格，特发此证。")

    # Issue date and the seal over it, bottom right.
    c.setFont(font, 12)
    c.drawRightString(width - 40 * mm, 40 * mm, sheet.association)
    c.drawRightString(width - 40 * mm, 32 * mm, f"发证日期：{sheet.issued_on}")
    if sheet.seal:
        c.drawImage(ImageReader(io.BytesIO(sheet.seal)), width - 95 * mm, 22 * mm, 40 * mm, 40 * mm,
                    mask="auto", preserveAspectRatio=True, anchor="c")

    # The QR to the verification page, bottom left, as vector squares.
    _qr(c, sheet.verify_url, x=26 * mm, y=22 * mm, size=32 * mm)
    c.setFont(font, 8)
    c.drawString(26 * mm, 18.5 * mm, "扫码验证证书真伪")
    if own:
        c.showPage()
        c.save()


def _qr(c: object, data: str, *, x: float, y: float, size: float) -> None:
    import segno

    qr = segno.make(data, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix_iter(scale=1, border=2)]
    module = size / len(matrix)
    c.setFillColorRGB(1, 1, 1)  # type: ignore[attr-defined]
    c.rect(x, y, size, size, stroke=0, fill=1)  # type: ignore[attr-defined]
    c.setFillColorRGB(0, 0, 0)  # type: ignore[attr-defined]
    for row_index, row in enumerate(matrix):
        top = y + size - (row_index + 1) * module
        for col_index, dark in enumerate(row):
            if dark:
                c.rect(x + col_index * module, top, module, module, stroke=0, fill=1)  # type: ignore[attr-defined]


SEAL_MAX_BYTES = 2 * 1024 * 1024
SEAL_MAX_PIXELS = 4_000_000
SEAL_SIDE = 800  # stored at most this wide and high: 40 mm at ~500 dpi


def clean_seal(data: bytes) -> bytes:
    """The association's seal as uploaded, checked and re-encoded: a PNG by content (415 otherwise),
    within the size and pixel limits, with transparency (422 for an opaque picture, which would
    hide the text under it); metadata dropped, scaled down to :data:`SEAL_SIDE`."""
    from PIL import Image

    from server import errors
    from server.documents.image_io import DECODE_ERRORS, checked_header, corrupt

    header, _ = checked_header(data, max_bytes=SEAL_MAX_BYTES, max_pixels=SEAL_MAX_PIXELS)
    if header.format != "PNG":
        raise errors.unsupported_media("印章图片须为带透明背景的 PNG")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            if not transparent:
                raise errors.validation("印章图片须为透明背景的 PNG（当前图片没有透明通道）", fields={"file": "无透明通道"})
            rgba = image.convert("RGBA")
    except DECODE_ERRORS:
        raise corrupt() from None
    if rgba.getextrema()[3][0] == 255:
        raise errors.validation("印章图片须为透明背景的 PNG（当前图片完全不透明）", fields={"file": "完全不透明"})
    rgba.thumbnail((SEAL_SIDE, SEAL_SIDE))
    out = io.BytesIO()
    rgba.save(out, "PNG", optimize=True)
    return out.getvalue()
