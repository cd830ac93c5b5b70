"""Synthetic bank-transfer screenshots (WeChat Pay, Alipay, a bank app), for tests, demo data and the bench.

:func:`render_transfer_screenshot` is a pure renderer: the same arguments give the same bytes. It
draws a phone's "transfer succeeded" screen at phone resolution with the CJK font the project
already uses for documents (WenQuanYi Micro Hei), then, when ``noise`` is on, adds sensor noise, a
slight blur and JPEG artefacts, as a forwarded or re-saved screenshot has.

The three layouts differ only in data (:data:`LAYOUTS`): colours, titles, how the amount and the
time are written, and which labelled rows appear in which order. One drawing routine renders them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
SHANGHAI = timezone(timedelta(hours=8))  # what the phone shows; China has no DST

Layout = Literal["wechat", "alipay", "bank"]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class LayoutSpec:
    """What tells one app's success screen from another: data only, drawn by one routine."""

    title: str
    bar: RGB  # the title bar
    bar_text: RGB
    accent: RGB  # the tick and the status line
    status: str
    method: str  # how the payer paid
    amount_format: str  # "{yuan}" (1,280.00) or "{plain}" (1280.00) is filled in
    time_format: str  # strftime of the phone's local time
    rows: tuple[tuple[str, str], ...]  # (label, field) in screen order; fields of :class:`_Fields`
    payee_above_amount: bool = False  # Alipay shows the payee's name above the amount


LAYOUTS: dict[str, LayoutSpec] = {
    "wechat": LayoutSpec(
        title="交易详情", bar=(237, 237, 237), bar_text=(25, 25, 25), accent=(7, 193, 96), status="转账成功", method="零钱",
        amount_format="-{yuan}", time_format="%Y-%m-%d %H:%M:%S",
        rows=(("收款方", "payee_name"), ("收款账户", "account_bank"), ("转账时间", "paid_at"),
              ("转账说明", "remark"), ("支付方式", "method"), ("交易单号", "serial")),
    ),
    "alipay": LayoutSpec(
        title="账单详情", bar=(22, 119, 255), bar_text=(255, 255, 255), accent=(22, 119, 255), status="交易成功",
        method="账户余额", amount_format="-{plain}", time_format="%Y年%m月%d日 %H:%M", payee_above_amount=True,
        rows=(("收款人", "payee_name"), ("收款账户", "account_tail"), ("付款方式", "method"),
              ("转账备注", "remark"), ("创建时间", "paid_at"), ("订单号", "serial")),
    ),
    "bank": LayoutSpec(
        title="转账结果", bar=(196, 30, 58), bar_text=(255, 255, 255), accent=(196, 30, 58), status="转账成功", method="借记卡",
        amount_format="¥{yuan}", time_format="%Y-%m-%d %H:%M:%S",
        rows=(("对方户名", "payee_name"), ("对方账号", "account_masked"), ("付款人", "payer_name"),
              ("附言", "remark"), ("交易时间", "paid_at"), ("交易流水号", "serial")),
    ),
}


@dataclass(frozen=True)
class _Fields:
    payee_name: str
    account_bank: str
    account_tail: str
    account_masked: str
    payer_name: str
    remark: str
    paid_at: str
    method: str
    serial: str


def format_yuan(amount_fen: int, *, grouped: bool) -> str:
    """``128000`` → ``1,280.00`` (``grouped``) or ``1280.00``."""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{yuan:,}.{fen:02d}" if grouped else f"{yuan}.{fen:02d}"


def _fields(spec: LayoutSpec, *, payee_name: str, payee_account: str, remark: str, paid_at: datetime,
            payer_name: str, seed: bytes) -> _Fields:
    digits = "".join(c for c in payee_account if c.isdigit())
    tail = digits[-4:]
    local = (paid_at if paid_at.tzinfo else paid_at.replace(tzinfo=UTC)).astimezone(SHANGHAI)
    return _Fields(
        payee_name=payee_name,
        account_bank=f"中国工商银行({tail})",
        account_tail=f"中国工商银行 尾号{tail}",
        account_masked=f"{digits[:4]} **** **** {tail}",
        payer_name=payer_name,
        remark=remark,
        paid_at=local.strftime(spec.time_format),
        method=spec.method,
        serial=str(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))[:18].rjust(18, "4"),
    )


class _Canvas:
    """A white phone screen with a cursor going down; sizes scale with the width (1080 = 1)."""

    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (width, height), (247, 247, 247))
        self.draw = ImageDraw.Draw(self.image)
        self.width, self.height = width, height
        self.scale = width / 1080
        self.y = 0

    def px(self, value: float) -> int:
        return round(value * self.scale)

    def font(self, size: float) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(FONT_PATH, self.px(size))

    def text(self, x: float | None, y: float, text: str, size: float, fill: RGB, *, anchor: str = "la") -> None:
        """``x=None`` centres the text."""
        at = (self.width // 2 if x is None else self.px(x), self.px(y))
        self.draw.text(at, text, font=self.font(size), fill=fill, anchor="ma" if x is None else anchor)

    def right_text(self, y: float, text: str, size: float, fill: RGB) -> None:
        self.draw.text((self.width - self.px(60), self.px(y)), text, font=self.font(size), fill=fill, anchor="ra")


def _draw(spec: LayoutSpec, fields: _Fields, display_amount: str, canvas: _Canvas) -> None:
    c = canvas
    # the phone's status bar (a time without a date: not the transfer time) and the app's title bar
    c.draw.rectangle((0, 0, c.width, c.px(220)), fill=spec.bar)
    c.text(50, 28, "9:41", 38, spec.bar_text)
    c.right_text(28, "5G  87%", 34, spec.bar_text)
    c.text(50, 120, "<", 56, spec.bar_text)
    c.text(None, 125, spec.title, 48, spec.bar_text)
    # the tick, the status, the amount
    cx, cy, r = c.width // 2, c.px(400), c.px(80)
    c.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=spec.accent)
    c.draw.line((cx - c.px(40), cy, cx - c.px(8), cy + c.px(34), cx + c.px(44), cy - c.px(30)),
                fill=(255, 255, 255), width=c.px(14))
    y = 520
    c.text(None, y, spec.status, 46, spec.accent)
    y += 90
    if spec.payee_above_amount:
        c.text(None, y, fields.payee_name, 40, (90, 90, 90))
        y += 80
    c.text(None, y, display_amount, 110, (20, 20, 20))
    y += 200
    # the card of labelled rows
    c.draw.rectangle((c.px(30), c.px(y - 30), c.width - c.px(30), c.px(y + 120 * len(spec.rows) + 10)),
                     fill=(255, 255, 255))
    for label, field in spec.rows:
        c.text(60, y + 20, label, 40, (128, 128, 128))
        c.right_text(y + 20, getattr(fields, field), 40, (30, 30, 30))
        c.draw.line((c.px(60), c.px(y + 100), c.width - c.px(60), c.px(y + 100)), fill=(235, 235, 235), width=2)
        y += 120
    c.text(None, y + 80, "如有疑问，请联系客服", 34, (150, 150, 150))
    c.text(None, c.height / c.scale - 160, "完成", 46, spec.accent)


def _degrade(image: Image.Image, seed: bytes) -> Image.Image:
    """Sensor noise and a slight blur, reproducible from ``seed``."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))
    pixels = np.asarray(image, dtype=np.int16)
    noisy = pixels + rng.normal(0, 6, pixels.shape).astype(np.int16)
    out = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return out.filter(ImageFilter.GaussianBlur(0.6))


def render_transfer_screenshot(
    *,
    layout: Layout,
    amount_fen: int,
    payee_name: str,
    payee_account: str,
    remark: str,
    paid_at: datetime,
    payer_name: str = "陈静",
    width: int = 1080,
    height: int = 2400,
    noise: bool = True,
    jpeg_quality: int = 72,
) -> bytes:
    """A JPEG of a transfer-success screen in ``layout`` (``wechat``, ``alipay`` or ``bank``).

    ``paid_at`` (UTC when naive) is shown in Beijing time, in the layout's format. With ``noise``
    the picture gets sensor noise and a slight blur before the JPEG compression at ``jpeg_quality``.
    """
    spec = LAYOUTS[layout]
    seed = f"{layout}|{amount_fen}|{payee_name}|{payee_account}|{remark}|{paid_at.isoformat()}|{payer_name}".encode()
    fields = _fields(spec, payee_name=payee_name, payee_account=payee_account, remark=remark, paid_at=paid_at,
                     payer_name=payer_name, seed=seed)
    display_amount = spec.amount_format.format(yuan=format_yuan(amount_fen, grouped=True),
                                               plain=format_yuan(amount_fen, grouped=False))
    canvas = _Canvas(width, height)
    _draw(spec, fields, display_amount, canvas)
    image = _degrade(canvas.image, seed) if noise else canvas.image
    out = BytesIO()
    image.save(out, "JPEG", quality=jpeg_quality)
    return out.getvalue()
