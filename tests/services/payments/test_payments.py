"""Submit and review, on the real database: amounts, the open-payment rule, races, crashes."""

from __future__ import annotations

import asyncio
from io import BytesIO
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.config import Settings
from server.models.payments import RejectIn
from server.services import Principal
from server.services.container import Services, build_services
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.services.enrollment.helpers import as_trainee
from tests.services.payments.helpers import (
    PDF_AS_JPG,
    make_unit,
    proof_jpeg_with_gps,
    proof_png,
    state,
    submit_body,
    unpaid,
)

REVIEWER = Principal(ObjectId(), "reviewer")
OTHER_REVIEWER = Principal(ObjectId(), "admin")
REASON = RejectIn(reason_code="amount_mismatch", note="少转 100 元")


async def _refused(coro: Any) -> errors.AppError:
    with pytest.raises(errors.AppError) as refused:
        await coro
    return refused.value


# ---- submit --------------------------------------------------------------------------------------

async def test_submit_computes_the_amount_and_moves_every_enrollment_in_one_go(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    _, docs = await unpaid(services, db, 3, unit=unit)
    due = await services.payments.due(unit, [str(d["_id"]) for d in docs])
    payment = await services.payments.submit(unit, submit_body(docs, amount_fen=1), [proof_png(), proof_png()],
                                             ip=None)
    assert payment["amount_fen"] == due.amount_fen == 3 * 120000  # the client's 1 fen is ignored
    assert payment["reference"] == due.reference and len(payment["reference"]) == 8
    assert payment["payer"] == {"role": "unit", "account_id": unit.account_id}
    after = await state(db, [d["_id"] for d in docs])
    assert after["statuses"] == ["payment_submitted"] * 3
    assert set(after["payment_ids"].values()) == {payment["_id"]}
    assert after["ocr_jobs"] == 1 and payment["ocr"] == {"status": "pending"}
    assert len(payment["proofs"]) == 2 and payment["proofs"][0]["content_type"] == "image/png"


async def test_amount_tampering_is_ignored_whatever_the_client_says(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, [doc] = await unpaid(services, db)
    for claimed in (0, 1, -5, 10**12):
        await db["enrollments"].update_one({"_id": doc["_id"]}, {"$set": {"status": "pending_payment"}})
        await db["payments"].delete_many({})
        payment = await services.payments.submit(as_trainee(trainees[0]), submit_body([doc], amount_fen=claimed),
                                                 [proof_png()], ip=None)
        assert payment["amount_fen"] == 120000
        assert (await db["payments"].find_one({"_id": payment["_id"]}))["amount_fen"] == 120000


async def test_proof_metadata_is_stripped_and_heic_becomes_jpeg(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    heic = BytesIO()
    Image.new("RGB", (200, 300), "white").save(heic, "HEIF")
    trainees, [doc] = await unpaid(services, db)
    me = as_trainee(trainees[0])
    payment = await services.payments.submit(me, submit_body([doc]), [proof_jpeg_with_gps(), heic.getvalue()],
                                             ip=None)
    for index in (0, 1):
        content_type, data = await services.payments.proof(me, str(payment["_id"]), index)
        assert content_type == "image/jpeg"
        image = Image.open(BytesIO(data))
        assert image.format == "JPEG" and not dict(image.getexif()) and "exif" not in image.info


async def test_someone_elses_enrollment_is_404_and_nothing_is_written(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, docs = await unpaid(services, db, 2)
    unit = await make_unit(db)
    _, staff_docs = await unpaid(services, db, 1, unit=unit)
    other_unit = await make_unit(db, "另一单位")
    cases = [(as_trainee(trainees[0]), docs), (other_unit, staff_docs), (as_trainee(trainees[0]), staff_docs)]
    for payer, what in cases:
        refused = await _refused(services.payments.submit(payer, submit_body(what), [proof_png()], ip=None))
        assert refused.status == 404 and refused.code == "enrollment_not_found"
    assert await db["payments"].count_documents({}) == 0
    assert await db["payment_proofs.files"].count_documents({}) == 0


async def test_an_enrollment_in_an_open_payment_cancelled_or_expired_is_409(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, docs = await unpaid(services, db, 3)
    me = [as_trainee(t) for t in trainees]
    await services.payments.submit(me[0], submit_body([docs[0]]), [proof_png()], ip=None)
    again = await _refused(services.payments.submit(me[0], submit_body([docs[0]]), [proof_png()], ip=None))
    assert again.status == 409 and again.code == "already_in_payment"
    await services.enrollments.cancel(me[1], str(docs[1]["_id"]), ip=None)
    cancelled = await _refused(services.payments.submit(me[1], submit_body([docs[1]]), [proof_png()], ip=None))
    assert cancelled.status == 409 and cancelled.code == "enrollment_closed"
    await db["enrollments"].update_one({"_id": docs[2]["_id"]}, {"$set": {"status": "expired"}})
    expired = await _refused(services.payments.submit(me[2], submit_body([docs[2]]), [proof_png()], ip=None))
    assert expired.status == 409 and expired.code == "enrollment_closed"
    assert await db["payments"].count_documents({}) == 1
    assert await db["payment_proofs.files"].count_documents({}) == 1


async def test_a_pdf_renamed_jpg_is_415_and_nothing_is_written(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, [doc] = await unpaid(services, db)
    refused = await _refused(services.payments.submit(as_trainee(trainees[0]), submit_body([doc]),
                                                      [proof_png(), PDF_AS_JPG], ip=None))
    assert refused.status == 415
    after = await state(db, [doc["_id"]])
    assert after["statuses"] == ["pending_payment"] and not after["payments"]
    assert await db["payment_proofs.files"].count_documents({}) == 0


async def test_a_typed_invoice_is_sealed_and_a_template_is_copied_sealed(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    from server.models.templates import InvoiceTemplateIn

    trainees, docs = await unpaid(services, db, 2)
    me = as_trainee(trainees[0])
    typed = {"kind": "normal", "medium": "electronic", "title_type": "personal", "title": "张三",
             "email": "13912345678@139.com"}
    payment = await services.payments.submit(me, submit_body([docs[0]], invoice=typed), [proof_png()], ip=None)
    stored = await db["payments"].find_one({"_id": payment["_id"]})
    assert "13912345678" not in repr(stored)
    [shown] = await services.payments.shown([stored], staff=False)
    assert shown.invoice.email == "13912345678@139.com"
    template = await services.templates.create_invoice_template(
        Principal(trainees[1]["_id"], "trainee"), InvoiceTemplateIn(**{**typed, "title": "李四"}))
    other = await services.payments.submit(as_trainee(trainees[1]), submit_body(
        [docs[1]], invoice=None, invoice_template_id=template.id), [proof_png()], ip=None)
    assert "13912345678" not in repr(await db["payments"].find_one({"_id": other["_id"]}))
    [shown] = await services.payments.shown([other], staff=False)
    assert shown.invoice.title == "李四" and shown.invoice.template_id == template.id
    not_mine = await _refused(services.payments.submit(me, submit_body(
        [docs[0]], invoice=None, invoice_template_id=template.id), [proof_png()], ip=None))
    assert not_mine.status in (404, 409)


# ---- review --------------------------------------------------------------------------------------

async def test_approve_moves_the_payment_and_every_enrollment_and_notifies(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    _, docs = await unpaid(services, db, 2, unit=unit)
    payment = await services.payments.submit(unit, submit_body(docs), [proof_png()], ip=None)
    done = await services.payments.approve(REVIEWER, str(payment["_id"]), ip=None)
    assert done["status"] == "approved" and done["review"]["decision"] == "approved"
    after = await state(db, [d["_id"] for d in docs])
    assert after["statuses"] == ["approved", "approved"]
    [note] = after["notifications"]
    assert note["payload"]["account_id"] == str(unit.account_id) and note["payload"]["kind"] == "payment_approved"
    assert set(note["payload"]["data"]) == {"payment_id", "reference", "amount_fen", "session_titles"}
    assert note["payload"]["data"]["amount_fen"] == 240000
    actions = [e["action"] async for e in db["audit_log"].find({})]
    assert actions.count("enrollment.payment_submitted") == 2 and actions.count("enrollment.approved") == 2
    assert {"payment.submit", "payment.approve"} <= set(actions)


async def test_reject_gives_the_reason_and_a_new_deadline_and_a_resubmit_is_a_new_payment(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    trainees, [doc] = await unpaid(services, db)
    me = as_trainee(trainees[0])
    first = await services.payments.submit(me, submit_body([doc]), [proof_png()], ip=None)
    await services.payments.reject(REVIEWER, str(first["_id"]), REASON, ip=None)
    enrollment = await services.enrollments.get_visible(me, str(doc["_id"]))
    assert enrollment["status"] == "rejected" and enrollment["rejection"]["reason"] == "转账金额与应缴金额不符：少转 100 元"
    [shown] = await services.payments.shown([await services.payments.get_visible(me, str(first["_id"]))], staff=False)
    assert shown.review is not None and shown.review.reason_code == "amount_mismatch" and shown.ocr is not None
    [note] = (await state(db, [doc["_id"]]))["notifications"]
    assert note["payload"]["kind"] == "payment_rejected"
    assert set(note["payload"]["data"]) == {"payment_id", "reference", "reason", "pay_by"}
    second = await services.payments.submit(me, submit_body([doc]), [proof_png()], ip=None)
    assert second["_id"] != first["_id"] and second["reference"] != first["reference"]
    assert (await db["payments"].find_one({"_id": first["_id"]}))["status"] == "rejected"  # history kept
    assert (await state(db, [doc["_id"]]))["payment_ids"][doc["_id"]] == second["_id"]


async def test_approving_when_an_enrollment_left_meanwhile_is_409_and_changes_nothing(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    _, docs = await unpaid(services, db, 2, unit=unit)
    payment = await services.payments.submit(unit, submit_body(docs), [proof_png()], ip=None)
    # Cancelled behind the lifecycle's back (an administrator's repair, a later feature): approve must see it.
    await db["enrollments"].update_one({"_id": docs[1]["_id"]}, {"$set": {"status": "cancelled"}})
    refused = await _refused(services.payments.approve(REVIEWER, str(payment["_id"]), ip=None))
    assert refused.status == 409 and refused.code == "enrollment_changed"
    after = await state(db, [d["_id"] for d in docs])
    assert after["statuses"] == ["cancelled", "payment_submitted"]
    assert after["payments"][0]["status"] == "submitted" and "review" not in after["payments"][0]
    assert after["notifications"] == []


async def _two_reviewers(services_a: Services, services_b: Services, payment_id: str) -> list[Any]:
    return await asyncio.gather(services_a.payments.approve(REVIEWER, payment_id, ip=None),
                                services_b.payments.reject(OTHER_REVIEWER, payment_id, REASON, ip=None),
                                return_exceptions=True)


async def test_two_reviewers_at_once_exactly_one_decision_wins(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    for _ in range(5):
        unit = await make_unit(db)
        _, docs = await unpaid(services, db, 2, unit=unit)
        payment = await services.payments.submit(unit, submit_body(docs), [proof_png()], ip=None)
        results = await _two_reviewers(services, services, str(payment["_id"]))
        losers = [r for r in results if isinstance(r, errors.AppError)]
        winners = [r for r in results if isinstance(r, dict)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert losers[0].status == 409 and losers[0].code == "already_decided"
        assert losers[0].details["decision"] == winners[0]["review"]["decision"]
        after = await state(db, [d["_id"] for d in docs])
        expected = "approved" if winners[0]["status"] == "approved" else "rejected"
        assert after["statuses"] == [expected, expected] and len(after["notifications"]) == 1


def _without_status_guard(collection: str, method: str, args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Control: the payment's decision written without ``status: submitted`` in its filter."""
    if collection == "payments" and method == "find_one_and_update":
        query = {k: v for k, v in args[0].items() if k != "status"}
        return (query, *args[1:]), kwargs
    return args, kwargs


async def test_control_without_the_guard_both_decisions_land(
    services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings
) -> None:
    """The same two reviewers, the rejecting one a moment behind the approving one: with the guard the
    second gets 409 (shown above); without it both land — a rejected payment whose enrollments are
    approved, and the payer told both."""
    unit = await make_unit(db)
    _, docs = await unpaid(services, db, 2, unit=unit)
    payment = await services.payments.submit(unit, submit_body(docs), [proof_png()], ip=None)
    approved = asyncio.Event()

    async def behind_the_approval(collection: str, method: str) -> None:
        if collection == "payments":
            await approved.wait()

    guarded = build_services(settings, FaultyDatabase(db, FaultPlan(before_write=behind_the_approval)))
    broken = build_services(settings, FaultyDatabase(db, FaultPlan(before_write=behind_the_approval,
                                                                   rewrite=_without_status_guard)))
    try:
        for late, expect_both in ((guarded, False), (broken, True)):
            if expect_both:
                _, docs = await unpaid(services, db, 2, unit=unit)
                payment = await services.payments.submit(unit, submit_body(docs), [proof_png()], ip=None)
            approved.clear()
            rejecting = asyncio.create_task(late.payments.reject(OTHER_REVIEWER, str(payment["_id"]), REASON, ip=None))
            await services.payments.approve(REVIEWER, str(payment["_id"]), ip=None)
            approved.set()
            try:
                await rejecting
                both = True
            except errors.AppError as refused:
                assert refused.code == "already_decided" and refused.details["decision"] == "approved"
                both = False
            after = await state(db, [d["_id"] for d in docs])
            assert both == expect_both
            if expect_both:
                assert after["payments"][0]["status"] == "rejected" and after["statuses"] == ["approved", "approved"]
                assert sorted(n["payload"]["kind"] for n in after["notifications"]) == [
                    "payment_approved", "payment_rejected"]
            else:
                assert after["payments"][0]["status"] == "approved" and len(after["notifications"]) == 1
    finally:
        await guarded.close()
        await broken.close()


async def test_a_payment_and_a_cancel_at_the_same_moment_have_one_winner(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    outcomes = set()
    for _ in range(8):
        trainees, [doc] = await unpaid(services, db)
        me = as_trainee(trainees[0])
        paid, cancelled = await asyncio.gather(
            services.payments.submit(me, submit_body([doc]), [proof_png()], ip=None),
            services.enrollments.cancel(me, str(doc["_id"]), ip=None), return_exceptions=True)
        wins = [not isinstance(r, BaseException) for r in (paid, cancelled)]
        assert sum(wins) == 1, (paid, cancelled)
        loser = cancelled if wins[0] else paid
        assert isinstance(loser, errors.AppError) and loser.status == 409, loser
        after = await state(db, [doc["_id"]])
        session = await db["sessions"].find_one({"_id": doc["session_id"]})
        if wins[0]:
            assert after["statuses"] == ["payment_submitted"] and len(after["payments"]) == 1
            assert session is not None and session["seats_taken"] == 1
        else:
            assert after["statuses"] == ["cancelled"] and not after["payments"] and after["ocr_jobs"] == 0
            assert session is not None and session["seats_taken"] == 0
            assert await db["payment_proofs.files"].count_documents({"metadata.payer_id": me.account_id}) == 0
        outcomes.add("paid" if wins[0] else "cancelled")
    assert outcomes  # which one wins is the scheduler's; each run has exactly one


# ---- crash injection --------------------------------------------------------------------------------

async def test_a_crash_anywhere_in_submit_leaves_nothing_half_changed(
    services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings
) -> None:
    unit = await make_unit(db)
    for n in range(1, 40):
        _, docs = await unpaid(services, db, 2, unit=unit)
        ids = [d["_id"] for d in docs]
        plan = FaultPlan(crash_before=n)
        faulty = build_services(settings, FaultyDatabase(db, plan))
        try:
            await faulty.payments.submit(unit, submit_body(docs), [proof_png(), proof_png()], ip=None)
        except Crash:
            pass
        finally:
            await faulty.close()
        after = await state(db, ids)
        audited = await db["audit_log"].count_documents(
            {"action": {"$in": ["payment.submit", "enrollment.payment_submitted"]}, "subject_id": {"$in": ids}})
        if after["payments"]:
            [payment] = after["payments"]
            assert after["statuses"] == ["payment_submitted"] * 2 and after["ocr_jobs"] == 1, (n, plan.writes)
            assert set(after["payment_ids"].values()) == {payment["_id"]}
            assert await db["audit_log"].count_documents({"action": "payment.submit",
                                                          "subject_id": payment["_id"]}) == 1, n
            assert audited == 2, n  # each enrollment's transition too
        else:
            assert after["statuses"] == ["pending_payment"] * 2 and after["ocr_jobs"] == 0, (n, plan.writes)
            assert set(after["payment_ids"].values()) == {None}
            assert audited == 0, n
        if not plan.crashed:
            assert after["payments"], "the submit completed without a payment"
            return
    raise AssertionError("submit never completed")


async def test_a_crash_anywhere_in_a_decision_leaves_nothing_half_changed(
    services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings
) -> None:
    unit = await make_unit(db)
    for n in range(1, 30):
        _, docs = await unpaid(services, db, 2, unit=unit)
        payment = await services.payments.submit(unit, submit_body(docs), [proof_png()], ip=None)
        plan = FaultPlan(crash_before=n)
        faulty = build_services(settings, FaultyDatabase(db, plan))
        try:
            await faulty.payments.approve(REVIEWER, str(payment["_id"]), ip=None)
        except Crash:
            pass
        finally:
            await faulty.close()
        after = await state(db, [d["_id"] for d in docs])
        status = after["payments"][0]["status"]
        audited = await db["audit_log"].count_documents(
            {"action": {"$in": ["payment.approve", "enrollment.approved"]},
             "subject_id": {"$in": [payment["_id"], *(d["_id"] for d in docs)]}})
        if status == "approved":
            assert after["statuses"] == ["approved"] * 2 and len(after["notifications"]) == 1, n
            assert audited == 3, n  # the payment's decision and each enrollment's transition
        else:
            assert status == "submitted" and after["statuses"] == ["payment_submitted"] * 2, n
            assert after["notifications"] == [] and audited == 0, n
        if not plan.crashed:
            assert status == "approved"
            return
    raise AssertionError("approve never completed")


async def test_orphan_proof_files_are_swept(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    from datetime import UTC, datetime, timedelta

    from server.services.payments.payments import PaymentService

    trainees, [doc] = await unpaid(services, db)
    await services.payments.submit(as_trainee(trainees[0]), submit_body([doc]), [proof_png()], ip=None)
    later = PaymentService(db, enrollments=services.enrollments, templates=services.templates,
                           account=services.association_account, jobs=services.jobs, audit=services.audit,
                           cipher=services.cipher, secret_key=b"k", run_cpu=services.run_cpu,
                           now=lambda: datetime.now(UTC) + timedelta(hours=2))
    await later.bucket.upload_from_stream("proof.png", proof_png())
    # the orphan is new: only files older than an hour go
    assert await services.payments.sweep_orphan_proofs() == 0
    assert await later.sweep_orphan_proofs() == 1
    assert await db["payment_proofs.files"].count_documents({}) == 1  # the payment's own file stays


def _without_enrollment_guard(collection: str, method: str, args: tuple[Any, ...],
                              kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Control: the enrollments' transitions written without the lifecycle's status condition."""
    if collection == "enrollments" and method == "find_one_and_update":
        return ({k: v for k, v in args[0].items() if k != "status"}, *args[1:]), kwargs
    return args, kwargs


async def _cancel_during_submit(services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings,
                                *, guarded: bool) -> tuple[bool, dict[str, Any], list[str]]:
    """A submit that has checked its enrollment waits at its first payment write while the enrollment is
    cancelled; (whether both succeeded, the state, the seat problems)."""
    from tests.services.enrollment.helpers import seat_problems

    trainees, [doc] = await unpaid(services, db)
    me = as_trainee(trainees[0])
    reached, cancelled = asyncio.Event(), asyncio.Event()

    async def after_the_cancel(collection: str, method: str) -> None:
        if collection == "payments":
            reached.set()
            await cancelled.wait()

    plan = FaultPlan(before_write=after_the_cancel, rewrite=None if guarded else _without_enrollment_guard)
    late = build_services(settings, FaultyDatabase(db, plan))
    try:
        submitting = asyncio.create_task(late.payments.submit(me, submit_body([doc]), [proof_png()], ip=None))
        await reached.wait()
        await services.enrollments.cancel(me, str(doc["_id"]), ip=None)
        cancelled.set()
        try:
            await submitting
            both = True
        except errors.AppError as refused:
            assert refused.status == 409 and refused.code == "enrollment_changed"
            both = False
    finally:
        await late.close()
    return both, await state(db, [doc["_id"]]), await seat_problems(db, doc["session_id"])


async def test_control_a_cancel_between_the_check_and_the_write_without_the_guard(
    services: Services, db: AsyncDatabase[dict[str, Any]], settings: Settings
) -> None:
    """With the guard the submit is refused (409, nothing written); without it the cancelled enrollment
    is moved under review anyway — a payment for an enrollment whose seat is gone."""
    both, after, problems = await _cancel_during_submit(services, db, settings, guarded=True)
    assert not both and after["statuses"] == ["cancelled"] and not after["payments"] and problems == []
    both, after, problems = await _cancel_during_submit(services, db, settings, guarded=False)
    assert both and after["statuses"] == ["payment_submitted"] and len(after["payments"]) == 1
    assert problems, "the control should leave an enrollment under review without its seat"


# ---- the review queue's OCR filter ---------------------------------------------------------------------


def _flag(code: str, soft: bool) -> dict[str, Any]:
    return {"code": code, "message": "提示", "proof_index": 0, "soft": soft}


async def test_the_flag_filter_parts_hard_soft_and_no_flags(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    """``any`` is a hard flag; soft flags only ("please check by hand") are ``soft``; ``none`` is read and clean."""
    from server.models.payments import ReviewQueueQuery

    services.runner.handlers.pop("payment_ocr")  # the OCR results below stand for the job's (tested in test_ocr.py)
    unit = await make_unit(db)
    _, docs = await unpaid(services, db, 5, unit=unit)
    results = {
        "hard": {"status": "done", "flags": [_flag("amount_mismatch", False)]},
        "mixed": {"status": "done", "flags": [_flag("reference_missing", True), _flag("payee_mismatch", False)]},
        "soft": {"status": "done", "flags": [_flag("reference_missing", True), _flag("time_unread", True)]},
        "clean": {"status": "done", "flags": []},
        "pending": {"status": "pending"},
    }
    ids = {}
    for (name, ocr), doc in zip(results.items(), docs, strict=True):
        payment = await services.payments.submit(unit, submit_body([doc]), [proof_png()], ip=None)
        await db["payments"].update_one({"_id": payment["_id"]}, {"$set": {"ocr": ocr}})
        ids[payment["_id"]] = name

    async def names(**filters: Any) -> set[str]:
        found, total = await services.payments.queue(ReviewQueueQuery(**filters))
        assert total == len(found)
        return {ids[d["_id"]] for d in found}

    assert await names(flag="any") == {"hard", "mixed"}
    assert await names(flag="soft") == {"soft"}
    assert await names(flag="none") == {"clean"}
    assert await names(flag="reference_missing") == {"mixed", "soft"}
    assert await names() == set(results)  # without the filter, the payment not yet read too
    found, _ = await services.payments.queue(ReviewQueueQuery(flag="soft"))
    [seen] = await services.payments.shown(found, staff=True)
    assert seen.ocr is not None and seen.ocr.status == "done"
    assert [(f.code, f.soft) for f in seen.ocr.flags] == [("reference_missing", True), ("time_unread", True)]
    payer = (await services.payments.shown(found, staff=False))[0].ocr
    assert payer is not None and [f.code for f in payer.flags] == ["reference_missing", "time_unread"]


async def test_the_payer_sees_the_reading_but_not_the_reused_screenshot_hint(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    """The payer can fix a wrong amount before review; the reused-screenshot check stays with reviewers."""
    services.runner.handlers.pop("payment_ocr")  # the OCR result below stands for the job's (tested in test_ocr.py)
    trainees, [doc] = await unpaid(services, db)
    me = as_trainee(trainees[0])
    payment = await services.payments.submit(me, submit_body([doc]), [proof_png()], ip=None)
    reading = {"amount_fen": 120000, "paid_at": None, "payee_name": "某协会", "payee_account_tail": "1234",
               "remark": None, "lines": ["转账成功"], "seconds": 1.0, "error": None}
    ocr = {"status": "done", "readings": [reading],
           "flags": [_flag("amount_mismatch", False), _flag("duplicate_screenshot", False)]}
    await db["payments"].update_one({"_id": payment["_id"]}, {"$set": {"ocr": ocr}})
    found = [await services.payments.get_visible(me, str(payment["_id"]))]
    [payer] = await services.payments.shown(found, staff=False)
    [staff] = await services.payments.shown(found, staff=True)
    assert payer.ocr is not None and staff.ocr is not None
    assert payer.ocr.readings[0].amount_fen == 120000
    assert [f.code for f in payer.ocr.flags] == ["amount_mismatch"]
    assert [f.code for f in staff.ocr.flags] == ["amount_mismatch", "duplicate_screenshot"]
