"""E-invoice PDFs: the check of an uploaded one, and a small generated one for the demo.

Pure functions, run off the event loop. :func:`check_invoice_pdf` sniffs the content (``%PDF-``
at the very start) and parses the file with pypdf: a renamed JPEG, an HTML page or a truncated
download is refused with 415 before anything is stored. :func:`render_demo_invoice` draws an
invoice-like page with reportlab and the embedded CJK font (WenQuanYi Micro Hei: reportlab cannot
load Noto CJK, and the built-in STSong-Light is not embedded), for ``server/demo`` and the tests.
"""

from __future__ import annotations

import io
import warnings
from datetime import date
from pathlib import Path

from server import errors

PDF_MAGIC = b"%PDF-"
PDF_CONTENT_TYPE = "application/pdf"
# Real e-invoices are 50–300 KB; a few MB leaves room for a scanned paper invoice.
INVOICE_PDF_MAX_BYTES = 5 * 1024 * 1024
MAX_PAGES = 20
CJK_FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # Debian: fonts-wqy-microhei
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
)
CJK_FONT_NAME = "WenQuanYiMicroHei"


def not_a_pdf(message: str = "请上传 PDF 格式的电子发票") -> errors.AppError:
    """415 ``invoice_not_pdf``."""
    return errors.unsupported_media(message, "invoice_not_pdf")


def check_invoice_pdf(data: bytes) -> int:
    """The number of pages of ``data`` when it is a readable PDF; 413 too big, 415 otherwise."""
    if len(data) > INVOICE_PDF_MAX_BYTES:
        raise errors.too_large(INVOICE_PDF_MAX_BYTES)
    if not data.startswith(PDF_MAGIC):
        raise not_a_pdf()
    from pypdf import PdfReader  # imported here: only the executor thread pays for it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about harmless oddities of real-world files
            reader = PdfReader(io.BytesIO(data), strict=False)
            pages = len(reader.pages)
    except Exception:  # any parser failure on untrusted bytes is the uploader's problem
        raise not_a_pdf("文件已损坏或不是有效的 PDF，请上传税务系统下载的电子发票") from None
    if pages < 1 or pages > MAX_PAGES:
        raise not_a_pdf(f"发票 PDF 应为 1–{MAX_PAGES} 页")
    return pages


def cjk_font() -> str:
    """Register the embedded CJK font with reportlab once; its name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if CJK_FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return CJK_FONT_NAME
    path = next((p for p in CJK_FONT_FILES if p.exists()), None)
    if path is None:
        raise RuntimeError("CJK font missing: install fonts-wqy-microhei")
    pdfmetrics.registerFont(TTFont(CJK_FONT_NAME, str(path), subfontIndex=0))
    return CJK_FONT_NAME


def render_demo_invoice(*, number: str, issued_on: date, buyer: str, item: str, amount_fen: int,
                        kind_label: str = "普通发票") -> tuple[str, str, bytes]:
    """A one-page invoice-like PDF (clearly marked 演示) as ``(filename, content_type, bytes)``."""
    from reportlab.lib.pagesizes import A5, landscape
    from reportlab.pdfgen import canvas

    font = cjk_font()
    out = io.BytesIO()
    width, height = landscape(A5)
    pdf = canvas.Canvas(out, pagesize=(width, height), invariant=True)
    pdf.setTitle(f"电子发票 {number}")
    pdf.setFont(font, 18)
    pdf.drawCentredString(width / 2, height - 50, f"电子发票（{kind_label}）")
    pdf.setFont(font, 10)
    lines = [
        f"发票号码：{number}",
        f"开票日期：{issued_on.year}年{issued_on.month:02d}月{issued_on.day:02d}日",
        f"购买方名称：{buyer}",
        "销售方名称：某某市勘察设计协会",
        f"项目名称：*培训服务*{item}",
        f"价税合计（小写）：¥{amount_fen // 100}.{amount_fen % 100:02d}",
        "（演示数据，非真实发票）",
    ]
    for index, line in enumerate(lines):
        pdf.drawString(50, height - 100 - index * 22, line)
    pdf.rect(30, 30, width - 60, height - 100)
    pdf.showPage()
    pdf.save()
    return f"发票-{number}.pdf", PDF_CONTENT_TYPE, out.getvalue()
