"""The OCR pre-check on generated screenshots (1080×2400, noise, JPEG artefacts), and its job end to end.

The models load once for this module (one :class:`OcrWorker`); the job tests use the worker the
container wires, through the real job runner, on payments inserted as submit stores them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.demo.screenshots import Layout
from server.services.container import Services, build_services
from server.services.jobs.queue import JobQueue
from server.services.jobs.runner import JobRunner
from server.services.payments.ocr import JOB_KIND, PaymentOcr
from server.services.payments.ocr_flags import Expected, compute_flags
from server.services.payments.ocr_reader import OcrWorker, Reading
from server.services.payments.payments import proof_file_reader
from tests.faults import FaultPlan, FaultyDatabase
from tests.services.payments.ocr_helpers import (
    ACCOUNT_NAME,
    ACCOUNT_NUMBER,
    ENROLLED_AT,
    FEE_FEN,
    PAID_AT,
    REFERENCE,
    enqueue_ocr,
    insert_payment,
    resaved,
    screenshot,
    set_account,
    wait_for_ocr,
)

EXPECTED = Expected(amount_fen=FEE_FEN, reference=REFERENCE, account_name=ACCOUNT_NAME, account_number=ACCOUNT_NUMBER,
                    not_before=ENROLLED_AT, now=datetime.now(UTC))


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The default settings, the OCR process not niced: the tests share the machine with other work."""
    return make_settings(executor_niceness=0)


@pytest.fixture(scope="module")
def worker() -> Iterator[OcrWorker]:
    """One OCR process (models loaded once) for the module; not niced, as the tests share the machine."""
    ocr = OcrWorker(memory_mb=2048, timeout=120, niceness=0)
    try:
        yield ocr
    finally:
        ocr.close()


@pytest.mark.parametrize(("layout", "paid_at"), [
    ("wechat", PAID_AT), ("alipay", PAID_AT.replace(second=0)),  # Alipay shows minutes only
    ("bank", PAID_AT),
])
def test_each_layout_is_read_exactly(worker: OcrWorker, layout: Layout, paid_at: datetime) -> None:
    image = screenshot(layout)
    assert len(image) > 50_000  # a noisy full-size JPEG, not a flat picture
    [reading] = worker.read_blocking([image])
    assert (reading.amount_fen, reading.payee_name, reading.payee_account_tail, reading.paid_at, reading.remark) == (
        FEE_FEN, ACCOUNT_NAME, "7890", paid_at, f"{REFERENCE} 培训费")
    assert reading.error is None and reading.phash and reading.lines
    assert compute_flags([reading], EXPECTED) == []


def test_a_wrong_amount_is_flagged(worker: OcrWorker) -> None:
    [reading] = worker.read_blocking([screenshot("bank", amount_fen=120000)])
    assert reading.amount_fen == 120000
    assert [(f.code, f.message) for f in compute_flags([reading], EXPECTED)] == [
        ("amount_mismatch", "识别金额 ¥1,200.00 与应缴金额 ¥1,280.00 不符")]


def test_a_picture_that_is_not_an_image_gets_an_error_and_the_worker_goes_on(worker: OcrWorker) -> None:
    [broken] = worker.read_blocking([b"%PDF-1.4 not a picture"])
    assert broken.error == "图片无法打开，未能识别" and broken.amount_fen is None
    assert worker.read_blocking([]) == []  # still there


def _ocr_without_volatile(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc["ocr"].items() if k not in ("at", "job_id")} | {
        "readings": [{k: v for k, v in r.items() if k != "seconds"} for r in doc["ocr"]["readings"]]}


async def test_the_job_reads_flags_and_finds_a_reused_screenshot(services: Services,
                                                                  db: AsyncDatabase[dict[str, Any]]) -> None:
    await set_account(db)
    original = screenshot("wechat")
    first = await insert_payment(db, [original])
    await enqueue_ocr(services.jobs, first)
    done = await wait_for_ocr(db, first)
    assert done["ocr"]["status"] == "done" and done["ocr"]["flags"] == []
    reading = Reading.from_doc(done["ocr"]["readings"][0])
    assert (reading.amount_fen, reading.payee_name, reading.payee_account_tail, reading.remark) == (
        FEE_FEN, ACCOUNT_NAME, "7890", f"{REFERENCE} 培训费")
    assert reading.paid_at is not None and reading.paid_at.replace(tzinfo=UTC) == PAID_AT
    assert done["status"] == "submitted" and "review" not in done  # OCR never decides

    # The same screenshot, re-saved smaller, in a later payment; and another transfer for the wrong amount.
    reused = await insert_payment(db, [resaved(original)], reference="XK2M8P4R")
    other = await insert_payment(db, [screenshot("wechat", amount_fen=96000, remark="QW3E5R7T",
                                                 paid_at=PAID_AT + timedelta(hours=5))], reference="QW3E5R7T")
    for payment_id in (reused, other):
        await enqueue_ocr(services.jobs, payment_id)
    reused_doc, other_doc = await wait_for_ocr(db, reused), await wait_for_ocr(db, other)
    assert [(f["code"], f["proof_index"]) for f in reused_doc["ocr"]["flags"]] == [
        ("reference_missing", 0), ("duplicate_screenshot", 0)]
    assert reused_doc["ocr"]["flags"][1]["message"] == f"该截图也用于付款 {REFERENCE}（审核中）的第 1 张凭证"
    assert [f["code"] for f in other_doc["ocr"]["flags"]] == ["amount_mismatch"]

    # Run again (an administrator's retry): the same result.
    before = _ocr_without_volatile(reused_doc)
    again = await services.jobs.enqueue("payment_ocr", {"payment_id": str(reused)})
    async with asyncio.timeout(60):
        while (await db["jobs"].find_one({"_id": again}) or {}).get("status") != "done":
            await asyncio.sleep(0.1)
    assert _ocr_without_volatile(await db["payments"].find_one({"_id": reused}) or {}) == before


async def test_a_missing_proof_file_is_flagged_and_a_decided_payment_keeps_its_decision(
        services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    payment_id = await insert_payment(db, [screenshot("bank")], status="approved")
    review = {"decision": "approved", "reason": None, "reviewer_id": ObjectId(), "at": datetime.now(UTC)}
    await db["payments"].update_one({"_id": payment_id}, {"$set": {"review": review}})
    before = await db["payments"].find_one({"_id": payment_id}) or {}
    await db["payment_proofs.files"].delete_many({})  # the picture is gone (the chunks may stay: unreachable)
    await enqueue_ocr(services.jobs, payment_id)
    done = await wait_for_ocr(db, payment_id)
    assert done["ocr"]["status"] == "done"
    assert [(f["code"], f["message"], f["proof_index"]) for f in done["ocr"]["flags"]] == [
        ("unreadable", "凭证文件缺失，未能识别", 0)]
    assert {k: v for k, v in done.items() if k != "ocr"} == {k: v for k, v in before.items() if k != "ocr"}
    assert done["status"] == "approved" and done["review"]["decision"] == "approved"  # OCR wrote its field only


@pytest.mark.parametrize("guarded", [True, False])
async def test_two_payments_checked_at_once_with_one_screenshot(worker: OcrWorker, db: AsyncDatabase[dict[str, Any]],
                                                                guarded: bool) -> None:
    """Both jobs run at once and both look for the other before either has finished: one still sees the other,
    because each records its hashes before looking. The control run drops that early write (the hashes then
    arrive with the final result only): neither payment is flagged."""
    await set_account(db)
    image = screenshot("alipay", width=540, height=1200)  # half size: only the hash, amount and time matter here
    payments = [await insert_payment(db, [image], reference="AAAA1111"),
                await insert_payment(db, [resaved(image)], reference="BBBB2222")]
    writes: dict[asyncio.Task[Any] | None, int] = {}
    finals = asyncio.Barrier(2)

    async def both_looked_before_either_finishes(collection: str, method: str) -> None:
        if collection == "payments":  # each job writes its hashes, looks, then writes its result
            task = asyncio.current_task()
            writes[task] = writes.get(task, 0) + 1
            if writes[task] == 2:
                await finals.wait()

    def drop_the_early_hashes(collection: str, method: str, args: tuple[Any, ...],
                              kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if collection == "payments" and "ocr.proof_hashes" in args[1].get("$set", {}):
            return ({"_id": "no such payment"}, *args[1:]), kwargs
        return args, kwargs

    plan = FaultPlan(before_write=both_looked_before_either_finishes,
                     rewrite=None if guarded else drop_the_early_hashes)
    queue = JobQueue(db)
    runner = JobRunner(queue, db, concurrency=2)
    faulty = FaultyDatabase(db, plan)
    runner.register(JOB_KIND, PaymentOcr(faulty, worker=worker, read_proof=proof_file_reader(db),
                                         max_attempts=1).run_job)
    for payment_id in payments:
        await enqueue_ocr(queue, payment_id)
    async with asyncio.timeout(60):
        assert await runner.run_until_idle() == 2
    flagged = [[f["code"] for f in (await db["payments"].find_one({"_id": p}) or {})["ocr"]["flags"]] for p in payments]
    assert all(codes.count("reference_missing") == 1 for codes in flagged)  # the same screenshot: one reference
    duplicates = sum("duplicate_screenshot" in codes for codes in flagged)
    assert duplicates >= 1 if guarded else duplicates == 0


async def _failing_run(make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]],
                       **limits: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One payment's OCR under ``limits`` with two attempts: the payment and its job afterwards."""
    built = build_services(make_settings(jobs_max_attempts=2, jobs_backoff_seconds=0, executor_niceness=0, **limits), db)
    try:
        payment_id = await insert_payment(db, [screenshot("bank")])
        job_id = await enqueue_ocr(built.jobs, payment_id)
        assert await built.runner.run_until_idle() == 2  # retried once, then given up
        return await db["payments"].find_one({"_id": payment_id}) or {}, await db["jobs"].find_one({"_id": job_id}) or {}
    finally:
        await built.close()


async def test_past_the_time_limit_the_reading_is_killed_and_fails_after_the_retries(
        make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]]) -> None:
    payment, job = await _failing_run(make_settings, db, ocr_timeout_seconds=0.3)
    assert payment["ocr"]["status"] == "failed" and payment["ocr"]["error"] == "识别超时（超过 0.3 秒）"
    assert payment["status"] == "submitted" and job["status"] == "dead" and job["attempts"] == 2


async def test_past_the_memory_limit_the_reading_fails(make_settings: Callable[..., Settings],
                                                       db: AsyncDatabase[dict[str, Any]]) -> None:
    payment, job = await _failing_run(make_settings, db, ocr_memory_mb=300)
    assert payment["ocr"] | {"at": None, "job_id": None} == {
        "status": "failed", "readings": [], "flags": [], "error": "识别所需内存超出 300 MB 限制", "at": None, "job_id": None}
    assert job["status"] == "dead"
