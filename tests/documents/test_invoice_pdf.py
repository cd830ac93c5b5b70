"""The e-invoice PDF check: content, not the file name, decides; the demo invoice passes it."""

from __future__ import annotations

from datetime import date

import pytest

from server.documents.invoice_pdf import INVOICE_PDF_MAX_BYTES, check_invoice_pdf, render_demo_invoice
from server.errors import AppError


def test_the_demo_invoice_is_a_one_page_pdf_with_an_embedded_cjk_font() -> None:
    name, ctype, data = render_demo_invoice(number="12345678", issued_on=date(2026, 3, 1), buyer="张三",
                                            item="培训", amount_fen=120050)
    assert name == "发票-12345678.pdf" and ctype == "application/pdf"
    assert check_invoice_pdf(data) == 1
    assert b"FontFile2" in data  # the TrueType font is embedded (shows on phones without it)


@pytest.mark.parametrize("data,status", [
    (b"\xff\xd8\xff\xe0 a jpeg", 415),
    (b" %PDF-1.4 leading space", 415),
    (b"%PDF-1.4\n%%EOF", 415),
    (b"%PDF-" + b"0" * INVOICE_PDF_MAX_BYTES, 413),
])
def test_what_is_not_a_readable_pdf_is_refused(data: bytes, status: int) -> None:
    with pytest.raises(AppError) as refused:
        check_invoice_pdf(data)
    assert refused.value.status == status
