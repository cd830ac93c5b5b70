"""Flags of the OCR pre-check: where the screenshots differ from what the payment expects. Pure functions.

A flag is a hint for the reviewer beside the image (a code, a Chinese sentence, the proof it is
about); it never approves or rejects anything. ``soft`` flags (nothing read, no payment reference
in the remark) are weaker hints than the others (wrong amount, wrong payee, reused screenshot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from server.services.payments.ocr_parse import SHANGHAI, normalize_name, reference_in
from server.services.payments.ocr_reader import Reading
from server.services.payments.phash import hamming

PHASH_THRESHOLD = 6  # bits of 64: the same screenshot re-saved or rescaled moves 0–2; another one about 10+
TIME_SLACK = timedelta(minutes=1)  # screens often show minutes only
FUTURE_SLACK = timedelta(minutes=5)  # the phone's clock may run a little ahead

STATUS_ZH = {"submitted": "审核中", "approved": "已通过", "rejected": "已驳回"}


@dataclass(frozen=True)
class Flag:
    """One hint for the reviewer: ``proof_index`` is the proof it is about (None: the payment as a whole)."""

    code: str
    message: str
    proof_index: int | None = None
    soft: bool = False

    def to_doc(self) -> dict[str, Any]:
        """As stored in ``payments.ocr.flags``."""
        return asdict(self)


@dataclass(frozen=True)
class Expected:
    """What the payment expects a proof to show."""

    amount_fen: int
    reference: str
    account_name: str | None  # the association's account (``association_settings`` ``bank_account``)
    account_number: str | None
    not_before: datetime | None  # when the earliest enrollment of the payment was created
    now: datetime


@dataclass(frozen=True)
class PriorProof:
    """A proof of another payment, as its OCR stored it (for the reused-screenshot check)."""

    payment_id: str
    reference: str
    status: str
    proof_index: int
    phash: str
    amount_fen: int | None
    paid_at: datetime | None


def yuan(amount_fen: int) -> str:
    """``¥1,280.00``."""
    return f"¥{amount_fen // 100:,}.{amount_fen % 100:02d}"


def beijing(at: datetime) -> str:
    """``2026-12-01 14:03`` in Beijing time."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def same_transfer(reading: Reading, prior: PriorProof, threshold: int = PHASH_THRESHOLD) -> bool:
    """Whether a proof is another payment's screenshot again: the hashes are near, and what both read agrees.

    Two different transfers in one app look alike at 8×8; a screenshot re-saved or rescaled keeps its
    amount and its time. A field either reading lacks does not speak against it.
    """
    if reading.phash is None or hamming(reading.phash, prior.phash) > threshold:
        return False
    if reading.amount_fen is not None and prior.amount_fen is not None and reading.amount_fen != prior.amount_fen:
        return False
    return not (reading.paid_at is not None and prior.paid_at is not None
                and abs(reading.paid_at - prior.paid_at) > TIME_SLACK)


def _tail(number: str | None) -> str | None:
    digits = "".join(c for c in number or "" if c.isdigit())
    return digits[-4:] if len(digits) >= 4 else None


def _one_or_none(readings: Sequence[Reading]) -> int | None:
    return 0 if len(readings) == 1 else None


def amount_flags(readings: Sequence[Reading], expected: Expected) -> list[Flag]:
    """The amount is due when one proof shows it, or the proofs together (a payment in two transfers)."""
    amounts = [r.amount_fen for r in readings if r.amount_fen is not None]
    where = _one_or_none(readings)
    if not amounts:
        return [Flag("amount_unread", "未能识别转账金额，请人工核对", where, soft=True)]
    if expected.amount_fen in amounts or sum(amounts) == expected.amount_fen:
        return []
    shown = "、".join(yuan(a) for a in amounts)
    return [Flag("amount_mismatch", f"识别金额 {shown} 与应缴金额 {yuan(expected.amount_fen)} 不符", where)]


def proof_flags(index: int, reading: Reading, expected: Expected) -> list[Flag]:
    """Payee, account tail and time of one proof."""
    if reading.error:
        return [Flag("unreadable", reading.error, index)]
    flags: list[Flag] = []
    if reading.payee_name is None:
        flags.append(Flag("payee_unread", "未能识别收款方，请人工核对", index, soft=True))
    elif expected.account_name and normalize_name(reading.payee_name) != normalize_name(expected.account_name):
        flags.append(Flag("payee_mismatch",
                          f"收款方「{reading.payee_name}」与协会户名「{expected.account_name}」不符", index))
    tail = _tail(expected.account_number)
    if reading.payee_account_tail is not None and tail is not None and reading.payee_account_tail != tail:
        flags.append(Flag("account_mismatch",
                          f"收款账号尾号 {reading.payee_account_tail} 与协会账号尾号 {tail} 不符", index))
    if reading.paid_at is None:
        flags.append(Flag("time_unread", "未能识别转账时间，请人工核对", index, soft=True))
    elif expected.not_before is not None and reading.paid_at < expected.not_before - TIME_SLACK:
        flags.append(Flag("time_before_enrollment",
                          f"转账时间 {beijing(reading.paid_at)} 早于报名时间 {beijing(expected.not_before)}", index))
    elif reading.paid_at > expected.now + FUTURE_SLACK:
        flags.append(Flag("time_in_future", f"转账时间 {beijing(reading.paid_at)} 晚于当前时间", index))
    return flags


def reference_flags(readings: Sequence[Reading], expected: Expected) -> list[Flag]:
    """Soft: no proof's remark carries the payment reference."""
    if any(reference_in(r.remark, expected.reference) for r in readings):
        return []
    return [Flag("reference_missing", f"转账备注中未见付款编号 {expected.reference}", _one_or_none(readings),
                 soft=True)]


def duplicate_flags(readings: Sequence[Reading], priors: Sequence[PriorProof],
                    threshold: int = PHASH_THRESHOLD) -> list[Flag]:
    """A proof whose screenshot another payment also uses (the most recent such payment named)."""
    flags = []
    for index, reading in enumerate(readings):
        match = next((p for p in priors if same_transfer(reading, p, threshold)), None)
        if match is not None:
            state = STATUS_ZH.get(match.status, match.status)
            flags.append(Flag("duplicate_screenshot",
                              f"该截图也用于付款 {match.reference}（{state}）的第 {match.proof_index + 1} 张凭证", index))
    return flags


def compute_flags(readings: Sequence[Reading], expected: Expected, priors: Sequence[PriorProof] = (),
                  threshold: int = PHASH_THRESHOLD) -> list[Flag]:
    """Every flag of a payment's readings, proof by proof, then the payment as a whole."""
    flags = [f for i, r in enumerate(readings) for f in proof_flags(i, r, expected)]
    if any(not r.error for r in readings):  # an unreadable picture has its own flag
        flags += amount_flags(readings, expected) + reference_flags(readings, expected)
    return flags + duplicate_flags(readings, priors, threshold)
