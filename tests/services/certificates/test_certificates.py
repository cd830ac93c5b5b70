"""Certificates: batch approval with gapless unique numbers (and the control without the guard),
revocation, the public verification, the seal, who may read which."""

from __future__ import annotations

import asyncio
import base64
from io import BytesIO
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.models.catalog import CourseUpdate
from server.models.certificates import RevokeIn
from server.services import Principal
from server.services.certificates.certificates import CertificateService
from server.services.container import Services
from tests.faults import FaultPlan, FaultyDatabase
from tests.services.enrollment.helpers import ADMIN
from tests.services.payments.helpers import make_unit
from tests.services.results.helpers import REVIEWER, approved, check_in, published, score


async def _refused(coro: Any) -> errors.AppError:
    with pytest.raises(errors.AppError) as caught:
        await coro
    return caught.value


def _on(services: Services, db: AsyncDatabase[dict[str, Any]]) -> CertificateService:
    """The certificate service wired as in production, on another database object (a FaultyDatabase)."""
    s = services.certificates
    return CertificateService(db, results=services.results, catalog=services.catalog, photos=services.photos,
                              cipher=services.cipher, jobs=services.jobs, audit=services.audit, run_cpu=s.run_cpu,
                              association=s.association, prefix=s.prefix, base_url=s.base_url, limiter=s.limiter,
                              verify_rate=s.verify_rate)


def _counter_outside_the_transaction(collection: str, method: str, args: tuple[Any, ...],
                                     kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The control: the counter's increment without the transaction (as a separate counter service would)."""
    if collection == "certificate_counters" and method == "find_one_and_update":
        kwargs = {k: v for k, v in kwargs.items() if k != "session"}
    return args, kwargs


async def _approve_at_once(services: Services, db: AsyncDatabase[dict[str, Any]], plan: FaultPlan | None) -> list[int]:
    """Three sessions of 合格 trainees, each approved by two reviewers at once; the numbers' sequence."""
    sessions = [(await published(services, db, [90, 75, 61]))[1][0]["session_id"] for _ in range(3)]
    service = services.certificates if plan is None else _on(services, FaultyDatabase(db, plan))
    await asyncio.gather(*(service.issue_session(REVIEWER, str(sid), ip=None) for sid in sessions for _ in range(2)))
    seqs = sorted(c["seq"] for c in await db["certificates"].find().to_list())
    counter = await db["certificate_counters"].find_one()
    assert counter is not None
    return [*seqs, counter["seq"]]


async def test_concurrent_approvals_give_unique_gapless_numbers(services: Services,
                                                                db: AsyncDatabase[dict[str, Any]]) -> None:
    numbers = await _approve_at_once(services, db, None)
    assert numbers == [*range(1, 10), 9]  # nine certificates, 1…9, and the counter at 9
    year = (await db["certificates"].find_one())["year"]  # type: ignore[index]
    assert {c["number"] for c in await db["certificates"].find().to_list()} == {
        f"SKX-{year}-{n:06d}" for n in range(1, 10)}
    assert await db["jobs"].count_documents({"kind": "notify", "payload.kind": "certificate_ready"}) == 9


async def test_control_without_the_guard_the_losing_approvals_burn_numbers(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    numbers = await _approve_at_once(services, db, FaultPlan(rewrite=_counter_outside_the_transaction))
    seqs, counter = numbers[:-1], numbers[-1]
    assert len(seqs) == 9 and len(set(seqs)) == 9  # the unique index still refuses a second certificate
    assert seqs != list(range(1, 10)) and counter > 9  # but the numbers have gaps


async def test_only_published_passed_results_are_certified_and_a_revoked_one_verifies_as_revoked(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    trainees, docs = await published(services, db, [80, 30, None], unit=unit)
    out = await services.certificates.issue_session(REVIEWER, str(docs[0]["session_id"]), ip=None)
    assert out.issued == 1 and out.already == 0
    again = await services.certificates.issue_session(REVIEWER, str(docs[0]["session_id"]), ip=None)
    assert again.issued == 0 and again.already == 1
    cert = await db["certificates"].find_one()
    assert cert is not None and cert["enrollment_id"] == docs[0]["_id"]
    code = cert["code"]
    assert len(code) == 26 and len(base64.b32decode(code.upper() + "======")) == 16 and cert["number"] not in code
    shown = await services.certificates.verify(code)
    assert shown.status == "valid" and shown.status_label == "有效" and shown.course == "岩土工程勘察专项培训"
    assert set(shown.model_dump()) == {"name", "id_masked", "course", "hours", "issued_on", "status", "status_label"}

    refused = await _refused(services.results.enter(REVIEWER, str(docs[0]["_id"]), score(10, "录入错误"), ip=None))
    assert refused.code == "certificate_issued"
    await services.certificates.revoke(REVIEWER, str(cert["_id"]), RevokeIn(reason="成绩更正"), ip=None)
    revoked = await services.certificates.verify(code)
    assert revoked.status == "revoked" and revoked.status_label == "已撤销"
    refused = await _refused(services.certificates.revoke(REVIEWER, str(cert["_id"]), RevokeIn(reason="再次"), ip=None))
    assert refused.code == "already_revoked"
    # Revoked, the enrollment may be certified again: with the next number.
    reissued = await services.certificates.issue_session(REVIEWER, str(docs[0]["session_id"]), ip=None)
    assert reissued.issued == 1 and reissued.numbers[0].endswith("000002")


async def test_forged_codes_all_get_the_same_answer(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    _, docs = await published(services, db, [80])
    await services.certificates.issue_session(REVIEWER, str(docs[0]["session_id"]), ip=None)
    cert = await db["certificates"].find_one()
    assert cert is not None
    forged = [cert["code"][:-1] + ("a" if cert["code"][-1] != "a" else "b"), cert["number"], "", "x" * 500,
              str(cert["_id"]), "<script>", "../../etc/passwd"]
    answers = {(e.status, e.code, e.message) for e in [await _refused(services.certificates.verify(f)) for f in forged]}
    assert answers == {(404, "certificate_not_found", "证书不存在或验证码无效")}


async def test_only_the_holder_their_unit_and_staff_see_a_certificate(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    unit = await make_unit(db)
    trainees, docs = await published(services, db, [80], unit=unit)
    await services.certificates.issue_session(REVIEWER, str(docs[0]["session_id"]), ip=None)
    cert_id = str((await db["certificates"].find_one())["_id"])  # type: ignore[index]
    for who in (Principal(trainees[0]["_id"], "trainee"), unit, REVIEWER):
        assert (await services.certificates.get_visible(who, cert_id))["_id"] == ObjectId(cert_id)
    for stranger in (await make_unit(db, "另一家单位"), Principal(ObjectId(), "trainee")):
        assert (await _refused(services.certificates.get_visible(stranger, cert_id))).status == 404
        assert await services.certificates.list_visible(stranger, session_id=None, skip=0, limit=20) == ([], 0)


def _png(mode: str, color: Any) -> bytes:
    out = BytesIO()
    Image.new(mode, (120, 120), color).save(out, "PNG")
    return out.getvalue()


async def test_the_seal_must_be_a_transparent_png(services: Services) -> None:
    admin = Principal(ObjectId(), "admin")
    assert (await services.certificates.seal()).set is False
    jpeg = BytesIO()
    Image.new("RGB", (50, 50), "red").save(jpeg, "JPEG")
    assert (await _refused(services.certificates.set_seal(admin, jpeg.getvalue(), ip=None))).status == 415
    assert (await _refused(services.certificates.set_seal(admin, _png("RGB", "red"), ip=None))).status == 422
    assert (await _refused(services.certificates.set_seal(admin, _png("RGBA", (255, 0, 0, 255)), ip=None))).status == 422
    assert (await services.certificates.seal()).set is False
    assert (await services.certificates.set_seal(admin, _png("RGBA", (200, 0, 0, 100)), ip=None)).set is True
    png = await services.certificates.seal_png()
    assert png is not None and Image.open(BytesIO(png)).mode == "RGBA"


async def test_a_passed_trainee_below_the_minimum_attendance_gets_no_certificate(
    services: Services, db: AsyncDatabase[dict[str, Any]]
) -> None:
    _, docs = await approved(services, db, 3)
    session_id = str(docs[0]["session_id"])
    course_id = str((await services.catalog.get_session(session_id))["course_id"])
    await services.catalog.update_course(course_id, CourseUpdate(min_attendance_percent=60), by=ADMIN)
    for doc, days in zip(docs, ((0, 1, 2), (0, 2), (1,)), strict=True):  # 3/3, 2/3, 1/3 training days
        await check_in(services, doc, *days)
    for doc in docs:
        await services.results.enter(REVIEWER, str(doc["_id"]), score(80), ip=None)
    await services.results.publish(REVIEWER, session_id, ip=None)

    out = await services.certificates.issue_session(REVIEWER, session_id, ip=None)
    assert (out.issued, out.already) == (2, 0)
    assert [(k.enrollment_id, k.code) for k in out.skipped] == [(str(docs[2]["_id"]), "attendance_below_minimum")]
    assert "出勤 1/3 天（33%）" in out.skipped[0].reason and "60%" in out.skipped[0].reason
    assert await db["certificates"].count_documents({"enrollment_id": docs[2]["_id"]}) == 0
    assert await db["jobs"].count_documents({"kind": "notify", "payload.kind": "certificate_ready"}) == 2
    audit = await db["audit_log"].find_one({"action": "certificates.issue"})
    assert audit is not None and audit["details"]["skipped"] == [
        {"enrollment_id": str(docs[2]["_id"]), "code": "attendance_below_minimum"}]
    # The control: the same data with the minimum lifted (0) certifies the third trainee too.
    await services.catalog.update_course(course_id, CourseUpdate(min_attendance_percent=0), by=ADMIN)
    lifted = await services.certificates.issue_session(REVIEWER, session_id, ip=None)
    assert (lifted.issued, lifted.already, lifted.skipped) == (1, 2, [])
