"""The pre-check's flags (pure) and the perceptual hash that finds a reused screenshot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from server.demo.screenshots import render_transfer_screenshot
from server.services.payments.ocr import ocr_for_review
from server.services.payments.ocr_flags import Expected, PriorProof, compute_flags, same_transfer
from server.services.payments.ocr_reader import Reading
from server.services.payments.phash import bands, hamming, phash_bytes, to_hex
from tests.services.payments.ocr_helpers import (
    ACCOUNT_NAME,
    ACCOUNT_NUMBER,
    ENROLLED_AT,
    FEE_FEN,
    PAID_AT,
    REFERENCE,
    resaved,
    screenshot,
)

EXPECTED = Expected(amount_fen=FEE_FEN, reference=REFERENCE, account_name=ACCOUNT_NAME, account_number=ACCOUNT_NUMBER,
                    not_before=ENROLLED_AT, now=PAID_AT + timedelta(hours=1))
GOOD = Reading(amount_fen=FEE_FEN, paid_at=PAID_AT, payee_name=ACCOUNT_NAME, payee_account_tail="7890",
               remark=f"{REFERENCE} 培训费", phash="e7673692c9c84c5c")


def codes(readings: list[Reading], expected: Expected = EXPECTED, priors: list[PriorProof] | None = None) -> list[str]:
    return [f.code for f in compute_flags(readings, expected, priors or [])]


def test_a_matching_reading_raises_no_flag() -> None:
    assert codes([GOOD]) == []


def test_each_difference_raises_its_flag_with_a_chinese_message() -> None:
    flags = compute_flags([replace(GOOD, amount_fen=120000)], EXPECTED, [])
    assert [(f.code, f.proof_index, f.soft) for f in flags] == [("amount_mismatch", 0, False)]
    assert flags[0].message == "识别金额 ¥1,200.00 与应缴金额 ¥1,280.00 不符"
    assert codes([replace(GOOD, payee_name="张三")]) == ["payee_mismatch"]
    assert codes([replace(GOOD, payee_account_tail="1111")]) == ["account_mismatch"]
    assert codes([replace(GOOD, paid_at=ENROLLED_AT - timedelta(hours=1))]) == ["time_before_enrollment"]
    assert codes([replace(GOOD, paid_at=EXPECTED.now + timedelta(days=1))]) == ["time_in_future"]
    assert codes([replace(GOOD, remark="培训费")]) == ["reference_missing"]
    assert codes([replace(GOOD, amount_fen=None, paid_at=None, payee_name=None)]) == [
        "payee_unread", "time_unread", "amount_unread"]
    assert codes([Reading(error="图片无法打开，未能识别")]) == ["unreadable"]


def test_a_time_shown_to_the_minute_is_not_before_an_enrollment_of_that_minute() -> None:
    expected = replace(EXPECTED, not_before=PAID_AT.replace(second=50))
    assert codes([replace(GOOD, paid_at=PAID_AT.replace(second=0))], expected) == []


def test_two_proofs_may_pay_the_amount_together() -> None:
    halves = [replace(GOOD, amount_fen=FEE_FEN // 2), replace(GOOD, amount_fen=FEE_FEN // 2, remark=None)]
    assert codes(halves) == []
    flags = compute_flags([replace(GOOD, amount_fen=100), replace(GOOD, amount_fen=200)], EXPECTED, [])
    assert [(f.code, f.proof_index) for f in flags] == [("amount_mismatch", None)]


def test_no_payee_check_without_an_association_account() -> None:
    assert codes([replace(GOOD, payee_name="张三", payee_account_tail="1111")],
                 replace(EXPECTED, account_name=None, account_number=None)) == []


def prior(reading: Reading, status: str = "approved") -> PriorProof:
    return PriorProof(payment_id="p1", reference="XK2M8P4R", status=status, proof_index=0, phash=reading.phash or "",
                      amount_fen=reading.amount_fen, paid_at=reading.paid_at)


def test_a_near_hash_with_the_same_reading_is_the_same_transfer() -> None:
    near = to_hex(int(GOOD.phash or "", 16) ^ 0b101)  # two bits off
    flags = compute_flags([replace(GOOD, phash=near)], EXPECTED, [prior(GOOD)])
    assert [(f.code, f.message) for f in flags] == [
        ("duplicate_screenshot", "该截图也用于付款 XK2M8P4R（已通过）的第 1 张凭证")]
    # near hashes, but another amount or another time: two transfers that look alike
    assert not same_transfer(replace(GOOD, amount_fen=96000), prior(GOOD))
    assert not same_transfer(replace(GOOD, paid_at=PAID_AT + timedelta(hours=3)), prior(GOOD))
    far = to_hex(int(GOOD.phash or "", 16) ^ 0xFFFF)
    assert not same_transfer(replace(GOOD, phash=far), prior(GOOD))


def test_the_hash_of_a_resaved_screenshot_is_near_and_of_another_one_far() -> None:
    original = screenshot("wechat")
    again = phash_bytes(resaved(original))
    other = phash_bytes(screenshot("wechat", amount_fen=96000, remark="XK2M8P4R", paid_at=datetime(2026, 12, 3, tzinfo=UTC)))
    bank = phash_bytes(render_transfer_screenshot(layout="bank", amount_fen=FEE_FEN, payee_name=ACCOUNT_NAME,
                                                  payee_account=ACCOUNT_NUMBER, remark=REFERENCE, paid_at=PAID_AT))
    first = phash_bytes(original)
    assert hamming(first, again) <= 2
    assert hamming(first, other) > 6 and hamming(first, bank) > 6
    # every hash within 7 bits shares a band with it: the indexed lookup misses none
    assert set(bands(first)) & set(bands(again))


def test_the_renderer_is_pure() -> None:
    assert screenshot("alipay") == screenshot("alipay")
    assert screenshot("alipay") != screenshot("alipay", amount_fen=1)


def test_the_review_view_of_a_result_keeps_the_bookkeeping_inside() -> None:
    stored = {"status": "done", "at": PAID_AT, "job_id": "j", "phash_bands": ["0:e7"],
              "proof_hashes": [{"phash": GOOD.phash}], "readings": [GOOD.to_doc()],
              "flags": [f.to_doc() for f in compute_flags([replace(GOOD, remark=None)], EXPECTED, [])]}
    view = ocr_for_review(stored)
    assert set(view) == {"status", "readings", "flags", "at", "error"}
    assert "phash" not in view["readings"][0] and view["readings"][0]["amount_fen"] == FEE_FEN
    assert view["flags"] == [{"code": "reference_missing", "message": f"转账备注中未见付款编号 {REFERENCE}",
                              "proof_index": 0, "soft": True}]
    assert ocr_for_review(None)["status"] == "pending"


def test_the_ocr_process_runs_below_the_document_threads() -> None:
    from server.services.payments.ocr_reader import ocr_niceness

    assert ocr_niceness(10) == 19 and ocr_niceness(5) == 14 and ocr_niceness(15) == 19
    assert ocr_niceness(0) == 0  # documents not niced (tests): the OCR process neither
