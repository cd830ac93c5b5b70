"""The certificate PDF: A4 landscape, the CJK font embedded, the QR decodes to the verification URL."""

from __future__ import annotations

import subprocess
from io import BytesIO
from pathlib import Path

import zxingcpp
from PIL import Image
from pypdf import PdfReader

from server.documents.certificate_pdf import CertificateSheet, render_certificate, render_certificates

PORTRAIT = Path(__file__).resolve().parents[2] / "server" / "data" / "demo-portrait.jpg"


def _sheet(url: str = "https://train.example.org/verify/k7x2m4q9w3e8r5t1y6u0i2o4pa", **overrides: object) -> CertificateSheet:
    seal = BytesIO()
    Image.new("RGBA", (200, 200), (200, 0, 0, 110)).save(seal, "PNG")
    values: dict[str, object] = dict(
        association="上海市勘察设计行业协会", number="SKX-2026-000123", name="张三", id_masked="3101**********1234",
        unit="某某勘察设计院", course="岩土工程勘察专项培训", hours=16, start_date="2026-03-01", end_date="2026-03-03",
        verdict="合格", issued_on="2026-03-10", verify_url=url, photo=PORTRAIT.read_bytes(), seal=seal.getvalue())
    values.update(overrides)
    return CertificateSheet(**values)  # type: ignore[arg-type]


def _page_png(pdf: bytes, tmp_path: Path, dpi: int = 100) -> Image.Image:
    source = tmp_path / "certificate.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(source), str(tmp_path / "page")],
                   check=True, timeout=60)
    return Image.open(tmp_path / "page.png")


def test_the_qr_decodes_to_the_verification_url(tmp_path: Path) -> None:
    url = "https://train.example.org/verify/k7x2m4q9w3e8r5t1y6u0i2o4pa"
    page = _page_png(render_certificate(_sheet(url)), tmp_path)
    assert page.width > page.height  # landscape
    assert [r.text for r in zxingcpp.read_barcodes(page)] == [url]


def test_a4_landscape_with_the_cjk_font_embedded_and_the_texts() -> None:
    reader = PdfReader(BytesIO(render_certificate(_sheet())))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # A4 landscape in points
    fonts = reader.pages[0]["/Resources"]["/Font"]
    descriptors = [f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                   if "/DescendantFonts" in f.get_object() else f.get_object().get("/FontDescriptor")
                   for f in fonts.values()]
    assert any(d is not None and "/FontFile2" in d.get_object() for d in descriptors)  # the TrueType file inside
    text = reader.pages[0].extract_text()
    for expected in ("合格证书", "上海市勘察设计行业协会", "张三", "3101**********1234", "某某勘察设计院", "16 学时",
                     "2026-03-01", "SKX-2026-000123", "2026-03-10", "合格"):
        assert expected in text
    assert "310101199001011234" not in text


def test_many_certificates_one_page_each() -> None:
    pdf = render_certificates([_sheet(number=f"SKX-2026-{n:06d}") for n in range(1, 4)])
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) == 3 and "SKX-2026-000003" in reader.pages[2].extract_text()


def test_without_a_photo_or_seal_it_still_renders(tmp_path: Path) -> None:
    url = "https://train.example.org/verify/aaaaaaaaaaaaaaaaaaaaaaaaaa"
    page = _page_png(render_certificate(_sheet(url, photo=None, seal=None)), tmp_path)
    assert [r.text for r in zxingcpp.read_barcodes(page)] == [url]
