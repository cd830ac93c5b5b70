"""The pass PDF: rendered to an image by poppler (pdftoppm), its QR decoded by zxing-cpp, the token verified."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from server.documents.pass_pdf import PassCard, render_passes
from server.services.passes.tokens import PassPayload, sign, verify

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
PORTRAIT = (Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "portrait.jpg").read_bytes()
KEY = Ed25519PrivateKey.generate()

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None or not FONT.exists(),
                                reason="needs poppler-utils and fonts-wqy-microhei (deploy/system-deps.sh)")


def card(n: int = 0) -> PassCard:
    payload = PassPayload(kid=1, serial=os.urandom(10), session_number=7 + n, valid_from=1_760_000_000,
                          valid_to=1_760_259_200)
    return PassCard(association="上海市勘察设计行业协会", name="张三", id_masked="1101**********0000", unit="某某设计院",
                    course="岩土工程勘察专项培训", session="S2026-01 一期", days="2026-03-01 至 2026-03-03",
                    venue="上海市某某路 1 号", serial=payload.serial_hex, token=sign(payload, KEY), photo=PORTRAIT)


def decode_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    source = tmp_path / "pass.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "200", "-png", str(source), str(tmp_path / "page")], check=True, timeout=60)
    texts = []
    for page in sorted(tmp_path.glob("page*.png")):
        found = zxingcpp.read_barcodes(Image.open(page))
        texts += [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode]
    return texts


def test_pass_pdf_qr_decodes_to_a_token_that_verifies(tmp_path: Path) -> None:
    one = card()
    filename, content_type, pdf = render_passes([one], font_path=FONT)
    assert content_type == "application/pdf" and pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf  # the CJK font is embedded
    [text] = decode_pages(pdf, tmp_path)
    assert text == one.token
    assert verify(text, {1: KEY.public_key()}).serial_hex == one.serial


def test_many_passes_one_page_each(tmp_path: Path) -> None:
    cards = [card(i) for i in range(3)]
    _, _, pdf = render_passes(cards, font_path=FONT)
    assert decode_pages(pdf, tmp_path) == [c.token for c in cards]
