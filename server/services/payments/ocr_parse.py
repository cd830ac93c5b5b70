"""What a transfer screenshot says, from its recognised text: pure functions on text lines.

The OCR engine gives boxes of text; :func:`rows` puts the boxes that sit on one line of the
screen together, left to right, so that a label and its value ("收款方 … 上海市某协会") form one
line. Each ``parse_*`` function then reads one field from those lines:

* amount: ``¥1,280.00``, ``-1280.00``, ``1280.00元``, or a line labelled 金额;
* time: ``2026-12-01 14:03:22``, ``2026年12月1日 14:03`` (Beijing time on the phone → UTC);
* payee: after 收款方 / 收款人 / 对方户名 / 收款账户名 …;
* account tail: the last 4 digits after 收款账户 / 对方账号 … (``尾号1234``, ``6222 **** **** 1234``);
* remark: after 转账备注 / 附言 / 备注 / 用途 ….

A label is matched by the longest label a line starts with, so ``收款账户名`` (a name) is never
read as ``收款账户`` (an account).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8))

AMOUNT_LABELS = ("金额", "转账金额", "付款金额", "交易金额", "支付金额", "实付金额")
TIME_LABELS = ("转账时间", "交易时间", "创建时间", "支付时间", "付款时间", "到账时间", "时间")
PAYEE_LABELS = ("收款方", "收款人", "对方户名", "收款账户名", "收款户名", "收款单位", "对方账户名", "收款名称")
ACCOUNT_LABELS = ("收款账户", "收款账号", "对方账号", "对方账户", "收款卡号", "账号")
REMARK_LABELS = ("转账备注", "转账附言", "转账说明", "附言", "备注", "用途", "留言", "摘要")
# Labels of other fields, known so that they are never read as the value of the line before.
OTHER_LABELS = ("付款人", "付款方式", "支付方式", "交易单号", "订单号", "交易流水号", "对方开户行", "开户行", "付款账户")
ALL_LABELS = sorted({*AMOUNT_LABELS, *TIME_LABELS, *PAYEE_LABELS, *ACCOUNT_LABELS, *REMARK_LABELS, *OTHER_LABELS},
                    key=len, reverse=True)

_AMOUNT = re.compile(
    r"^(?P<sign>[-−+])?\s*(?P<cur>[¥￥])?\s*(?P<yuan>\d{1,3}(?:[,，]\d{3})+|\d+)(?:\.(?P<fen>\d{1,2}))?\s*(?P<unit>元)?$"
)
_TIME = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?\s*"
    r"(?P<H>\d{1,2})\s*[:：]\s*(?P<M>\d{2})(?:\s*[:：]\s*(?P<S>\d{2}))?"
)
_TAIL = re.compile(r"尾号\s*(\d{4})")


@dataclass(frozen=True)
class TextBox:
    """One recognised piece of text and where it sits (pixels)."""

    text: str
    left: float
    top: float
    bottom: float


def rows(boxes: Iterable[TextBox]) -> list[str]:
    """The boxes as lines of the screen: boxes whose vertical centre falls within a line join it, left to right."""
    lines: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: (b.top + b.bottom) / 2):
        centre = (box.top + box.bottom) / 2
        if lines and lines[-1][0].top <= centre <= lines[-1][0].bottom:
            lines[-1].append(box)
        else:
            lines.append([box])
    return [" ".join(b.text.strip() for b in sorted(line, key=lambda b: b.left)) for line in lines]


def split_label(line: str) -> tuple[str | None, str]:
    """``("收款方", "上海市某协会")`` for ``"收款方 上海市某协会"``; ``(None, line)`` without a known label."""
    text = line.strip()
    for label in ALL_LABELS:
        if text.startswith(label):
            return label, text[len(label):].lstrip(" :：\t")
    return None, text


def labelled(lines: Sequence[str], labels: Sequence[str]) -> str | None:
    """The value of the first line carrying one of ``labels`` (or the next line when the value sits below it)."""
    for i, line in enumerate(lines):
        label, value = split_label(line)
        if label not in labels:
            continue
        if value:
            return value
        if i + 1 < len(lines) and split_label(lines[i + 1])[0] is None and lines[i + 1].strip():
            return lines[i + 1].strip()
    return None


def amount_fen(text: str, *, marked: bool = False) -> int | None:
    """``"¥1,280.00"`` → ``128000``; ``marked`` wants a sign, ``¥`` or ``元`` (else it is not taken for an amount)."""
    m = _AMOUNT.match(text.replace(" ", ""))
    if m is None or (marked and not (m["sign"] or m["cur"] or m["unit"])):
        return None
    yuan = int(re.sub(r"[,，]", "", m["yuan"]))
    return yuan * 100 + int((m["fen"] or "0").ljust(2, "0"))


def parse_amount(lines: Sequence[str]) -> int | None:
    """The transferred amount in fen: a labelled amount; else the first unlabelled line that is an amount with a
    sign, ``¥`` or ``元``; else the first that is a plain decimal amount (``1280.00``)."""
    value = labelled(lines, AMOUNT_LABELS)
    if value is not None and (found := amount_fen(value)) is not None:
        return found
    unlabelled = [line for line in lines if split_label(line)[0] is None]
    for line in unlabelled:
        if (found := amount_fen(line, marked=True)) is not None:
            return found
    for line in unlabelled:
        if "." in line and (found := amount_fen(line)) is not None:
            return found
    return None


def parse_time(lines: Sequence[str]) -> datetime | None:
    """The transfer time (UTC): from a labelled time line first, else from any line with a date and a time."""
    value = labelled(lines, TIME_LABELS)
    for text in ([value] if value else []) + list(lines):
        m = _TIME.search(text)
        if m is None:
            continue
        try:
            local = datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["H"]), int(m["M"]), int(m["S"] or 0),
                             tzinfo=SHANGHAI)
        except ValueError:
            continue
        return local.astimezone(UTC)
    return None


def normalize_name(name: str) -> str:
    """A name as compared: no spaces, half-width brackets (OCR and people mix both)."""
    return re.sub(r"\s+", "", name).replace("（", "(").replace("）", ")")


def parse_payee(lines: Sequence[str]) -> str | None:
    """The payee's name (收款方, 收款人, 对方户名…)."""
    value = labelled(lines, PAYEE_LABELS)
    return normalize_name(value) if value else None


def parse_account_tail(lines: Sequence[str]) -> str | None:
    """The last 4 digits of the payee's account: of the labelled account line, else of any ``尾号1234``."""
    value = labelled(lines, ACCOUNT_LABELS)
    if value is not None:
        runs = re.findall(r"\d+", value)
        if runs and len(runs[-1]) >= 4:
            return runs[-1][-4:]
    for line in lines:
        if (m := _TAIL.search(line)) is not None:
            return m[1]
    return None


def parse_remark(lines: Sequence[str]) -> str | None:
    """The transfer remark (转账备注, 附言, 备注, 用途…)."""
    value = labelled(lines, REMARK_LABELS)
    return value.strip() if value else None


def reference_in(remark: str | None, reference: str) -> bool:
    """Whether the payment reference is in the remark, read leniently (case, spaces, O/0 and I/1 confusions)."""
    if not remark or not reference:
        return False

    def squash(text: str) -> str:
        return re.sub(r"\s+", "", text).upper().translate(str.maketrans("OIL", "011"))

    return squash(reference) in squash(remark)
