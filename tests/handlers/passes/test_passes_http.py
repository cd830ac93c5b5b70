"""Passes and check-in over real HTTP: the trainee's pass, a scanner's scan, roles, bad bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.services.accounts.identity import today_shanghai
from server.services.container import Services
from tests import factories
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD
from tests.handlers.enrollment.test_enrollments import new_session, trainee_with_photo
from tests.services.passes.helpers import approve


async def approved_pass(api: ApiClient, services: Services, settings: Settings,
                        db: AsyncDatabase) -> tuple[str, str, str, dict]:  # type: ignore[type-arg]
    """(trainee token, session id, enrollment id, pass JSON) of a session training today."""
    admin = await factories.staff_token(services)
    session_id = await new_session(api, admin)
    token, _ = await trainee_with_photo(api, settings, db)
    enrolled = await api.post("/api/v1/enrollments", {"session_id": session_id}, token=token)
    assert enrolled.status == 201, enrolled.body
    await approve(services, ObjectId(enrolled.json["id"]))
    today = today_shanghai()  # the session trains from today (its dates moved here, past its enrollment window)
    await db["sessions"].update_one({"_id": ObjectId(session_id)}, {"$set": {
        "start_date": today.isoformat(), "end_date": (today + timedelta(days=1)).isoformat()}})
    got = await api.get(f"/api/v1/enrollments/{enrolled.json['id']}/pass", token=token)
    assert got.status == 200, got.body
    return token, session_id, enrolled.json["id"], got.json


async def test_scanner_checks_a_trainee_in(api: ApiClient, services: Services, settings: Settings,
                                           db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    token, session_id, _, pass_json = await approved_pass(api, services, settings, db)
    assert pass_json["token"].startswith("PS1:") and "name" not in pass_json
    scanner = await factories.staff_token(services, "scanner")
    keys = await api.get("/api/v1/scanner/keys", token=scanner)
    assert keys.status == 200 and keys.json["keys"][0]["kid"] >= 1
    body = {"token": pass_json["token"], "session_id": session_id, "client_id": "scan-1", "device_id": "door-1"}
    first = await api.post("/api/v1/checkins", body, token=scanner)
    assert first.status == 200 and first.json["result"] == "ok", first.body
    photo = await api.get(first.json["photo_url"], token=scanner)
    assert photo.status in (200, 404)  # the test photo file id is a placeholder; the route admits scanners
    again = await api.post("/api/v1/checkins", {**body, "client_id": "scan-2"}, token=scanner)
    assert again.json["result"] == "already_checked_in" and again.json["first_device"] == "door-1"
    # A trainee is no scanner; a bad body is a 422 with nothing written.
    assert (await api.post("/api/v1/checkins", body, token=token)).status == 403
    bad = await api.post("/api/v1/checkins", {**body, "session_id": "x"}, token=scanner)
    assert bad.status == 422
    assert await db["checkins"].count_documents({}) == 1


async def test_reissue_over_http(api: ApiClient, services: Services, settings: Settings,
                                 db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    token, session_id, enrollment_id, old = await approved_pass(api, services, settings, db)
    new = await api.post(f"/api/v1/enrollments/{enrollment_id}/pass/reissue", token=token)
    assert new.status == 200 and new.json["serial"] != old["serial"]
    scanner = await factories.staff_token(services, "scanner")
    body = {"token": old["token"], "session_id": session_id, "client_id": "s", "device_id": "d"}
    assert (await api.post("/api/v1/checkins", body, token=scanner)).json["result"] == "revoked"


async def test_pass_pdf_for_its_trainee_only(api: ApiClient, services: Services, settings: Settings,
                                             db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    token, _, enrollment_id, _ = await approved_pass(api, services, settings, db)
    got = await api.get(f"/api/v1/enrollments/{enrollment_id}/pass.pdf", token=token)
    assert got.status == 200 and got.headers["Content-Type"] == "application/pdf" and got.body.startswith(b"%PDF")
    other, _ = await trainee_with_photo(api, settings, db)
    assert (await api.get(f"/api/v1/enrollments/{enrollment_id}/pass.pdf", token=other)).status == 404


async def test_bundle_etag_and_offline_batch_twice(api: ApiClient, services: Services, settings: Settings,
                                                  db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    _, session_id, _, pass_json = await approved_pass(api, services, settings, db)
    scanner = await factories.staff_token(services, "scanner")
    bundle = await api.get(f"/api/v1/scanner/sessions/{session_id}/bundle", token=scanner)
    assert bundle.status == 200 and [r["serial"] for r in bundle.json["roster"]] == [pass_json["serial"]]
    etag = bundle.headers["Etag"]
    same = await api.get(f"/api/v1/scanner/sessions/{session_id}/bundle", token=scanner,
                         headers={"If-None-Match": etag})
    assert same.status == 304
    scans = [{"token": pass_json["token"], "session_id": session_id, "client_id": "off-1", "device_id": "door-9",
              "scanned_at": pass_json["valid_from"]}]
    first = await api.post("/api/v1/checkins/batch", {"scans": scans}, token=scanner)
    second = await api.post("/api/v1/checkins/batch", {"scans": scans}, token=scanner)
    assert first.status == 200 and first.json["recorded"] == 1, first.body
    assert second.json["recorded"] == 0 and second.json["results"] == first.json["results"]
    assert await db["checkins"].count_documents({}) == 1


async def test_deleted_person_pass_revoked_and_checkins_kept_anonymized(
        api: ApiClient, services: Services, settings: Settings, db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    token, session_id, _, pass_json = await approved_pass(api, services, settings, db)
    scanner = await factories.staff_token(services, "scanner")
    body = {"token": pass_json["token"], "session_id": session_id, "client_id": "k", "device_id": "d"}
    assert (await api.post("/api/v1/checkins", body, token=scanner)).json["result"] == "ok"
    deleted = await api.post("/api/v1/me/deletion", {"password": STRONG_PASSWORD, "confirm": True}, token=token)
    assert deleted.status == 200, deleted.body
    stored = await db["passes"].find_one({"serial": pass_json["serial"]})
    assert stored is not None and stored["status"] == "revoked" and stored["reason"] == "account_deleted"
    checkin = await db["checkins"].find_one({})
    assert checkin is not None and checkin["trainee_id"] is None and checkin["day"]
    again = await api.post("/api/v1/checkins", {**body, "client_id": "k2"}, token=scanner)
    assert again.json["result"] == "revoked"


async def test_dashboard_and_attendance_export(api: ApiClient, services: Services, settings: Settings,
                                              db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    _, session_id, _, pass_json = await approved_pass(api, services, settings, db)
    scanner = await factories.staff_token(services, "scanner")
    admin = await factories.staff_token(services)
    before = await api.get(f"/api/v1/admin/sessions/{session_id}/attendance", token=scanner)
    assert before.status == 200 and before.json["approved"] == 1 and before.json["not_yet"] == 1, before.body
    body = {"token": pass_json["token"], "session_id": session_id, "client_id": "x1", "device_id": "door"}
    assert (await api.post("/api/v1/checkins", body, token=scanner)).json["result"] == "ok"
    after = (await api.get(f"/api/v1/admin/sessions/{session_id}/attendance", token=scanner)).json
    assert after["checked_in"] == 1 and after["not_yet"] == 0
    export = await api.get(f"/api/v1/admin/sessions/{session_id}/attendance.xlsx", token=admin)
    assert export.status == 200 and export.body[:2] == b"PK"
    import io

    from openpyxl import load_workbook
    rows = list(load_workbook(io.BytesIO(export.body)).active.iter_rows(values_only=True))
    assert rows[1][5] == pass_json["serial"] and "*" in rows[1][3]
    assert (await api.get(f"/api/v1/admin/sessions/{session_id}/attendance.xlsx", token=scanner)).status == 403


async def test_unit_pass_job_with_progress_then_download(api: ApiClient, services: Services, settings: Settings,
                                                         db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    unit_token, _ = await factories.register_unit(api, settings.sms_outbox)
    unit_id = ObjectId((await api.get("/api/v1/me", token=unit_token)).json["id"])
    admin = await factories.staff_token(services)
    session_id = await new_session(api, admin)
    for _ in range(3):
        _, trainee_id = await trainee_with_photo(api, settings, db)
        enrollment_id = ObjectId()
        await db["enrollments"].insert_one({  # the unit's enrollment, approved (enrolling is tested elsewhere)
            "_id": enrollment_id, "session_id": ObjectId(session_id), "course_id": ObjectId(),
            "trainee_id": ObjectId(trainee_id), "unit_id": unit_id, "status": "approved", "active": True,
            "created_by": {"account_id": unit_id, "role": "unit"}, "fee_fen": 0, "address": None,
            "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)})
    started = await api.post("/api/v1/unit/pass-jobs", {"session_id": session_id}, token=unit_token)
    assert started.status == 202 and started.json["total"] == 3 and started.json["download_url"] is None, started.body
    job_url = f"/api/v1/unit/pass-jobs/{started.json['id']}"
    assert (await api.get(job_url + "/file", token=unit_token)).status == 409  # still running
    await services.runner.run_until_idle()
    done = await api.get(job_url, token=unit_token)
    assert done.json["status"] == "done" and done.json["done"] == 3
    pdf = await api.get(done.json["download_url"], token=unit_token)
    assert pdf.status == 200 and pdf.body.startswith(b"%PDF")
    other, _ = await factories.register_unit(api, settings.sms_outbox)
    assert (await api.get(job_url, token=other)).status == 404
    inline = await api.get(f"/api/v1/unit/passes.pdf?session_id={session_id}", token=unit_token)
    assert inline.status == 200
