"""The pass PDF (听课证): A6 portrait, one pass per page. Pure: cards in → (filename, type, bytes) out.

The QR is drawn as vector rectangles from segno's matrix (sharp at any zoom, a few KB), one
rectangle per horizontal run of dark modules. The CJK font (WenQuanYi Micro Hei, TrueType) is
embedded as a subset, so the pass renders on phones without Chinese fonts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import segno
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

CONTENT_TYPE = "application/pdf"
FONT = "PassCJK"


@dataclass(frozen=True)
class PassCard:
    """What one pass page shows (all text already masked where it must be)."""

    association: str
    name: str
    id_masked: str
    unit: str
    course: str
    session: str
    days: str
    venue: str
    serial: str
    token: str
    photo: bytes | None  # the ID photo JPEG


def _font(path: Path) -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    return FONT


def draw_qr(canvas: Canvas, token: str, x: float, y: float, size: float) -> int:
    """Draw the token's QR (level M, quiet zone included in ``size``) as vectors; its QR version."""
    qr = segno.make(token, error="m", boost_error=False)
    rows = [list(row) for row in qr.matrix]
    n = len(rows) + 8  # four modules of quiet zone each side
    unit = size / n
    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                canvas.rect(x + (start + 4) * unit, y + size - (r + 5) * unit, (c - start) * unit, unit,
                            stroke=0, fill=1)
            else:
                c += 1
    return int(qr.version)  # type: ignore[arg-type]


def _page(canvas: Canvas, card: PassCard, font: str) -> None:
    width, height = A6
    canvas.setFont(font, 9)
    canvas.drawCentredString(width / 2, height - 12 * mm, card.association)
    canvas.setFont(font, 20)
    canvas.drawCentredString(width / 2, height - 22 * mm, "听 课 证")
    top = height - 30 * mm
    if card.photo:
        try:
            canvas.drawImage(ImageReader(io.BytesIO(card.photo)), 8 * mm, top - 32 * mm, 24 * mm, 32 * mm,
                             preserveAspectRatio=True)
        except OSError:
            pass  # an unreadable photo leaves its frame empty rather than no pass at all
    canvas.rect(8 * mm, top - 32 * mm, 24 * mm, 32 * mm, stroke=1, fill=0)
    lines = [("姓名", card.name), ("证件号", card.id_masked), ("单位", card.unit)]
    canvas.setFont(font, 9)
    for i, (label, value) in enumerate(lines):
        canvas.drawString(35 * mm, top - (5 + 7 * i) * mm, f"{label}：{value}"[:30])
    details = [("课程", card.course), ("班次", card.session), ("培训日期", card.days), ("地点", card.venue)]
    y = top - 38 * mm
    for label, value in details:
        canvas.drawString(8 * mm, y, f"{label}：{value}"[:40])
        y -= 5 * mm
    draw_qr(canvas, card.token, (width - 42 * mm) / 2, 8 * mm, 42 * mm)
    canvas.setFont(font, 7)
    canvas.drawCentredString(width / 2, 5 * mm, f"编号 {card.serial}")


def render_passes(cards: list[PassCard], *, font_path: Path, filename: str = "听课证.pdf") -> tuple[str, str, bytes]:
    """One A6 page per card, CJK font embedded."""
    font = _font(font_path)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A6, pageCompression=1)
    canvas.setTitle("听课证")
    for card in cards:
        _page(canvas, card, font)
        canvas.showPage()
    canvas.save()
    return filename, CONTENT_TYPE, buffer.getvalue()


def roster_thumbnail(jpeg: bytes, size: tuple[int, int] = (60, 80), quality: int = 60) -> bytes:
    """A small JPEG of the ID photo for the scanners' offline roster (about 1.5–2.5 KB)."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as image:
        image.draft("RGB", (size[0] * 2, size[1] * 2))  # decode at a fraction of the size: fast
        small = image.convert("RGB")
        small.thumbnail(size)
        out = io.BytesIO()
        small.save(out, "JPEG", quality=quality, optimize=True)
        return out.getvalue()
