"""The rights of the person (PIPL) over real HTTP: data export, account deletion, purge of inactive accounts."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from server.commands import COMMANDS
from server.config import Settings
from server.services.accounts.tokens import TokenService
from server.services.container import Services
from server.services.enrollment.enrollments import EnrollmentService
from server.services.enrollment.templates import TemplateService
from server.services.payments.payments import PaymentService
from server.services.privacy import PrivacyService
from server.services.profile.qualifications import QualificationService
from tests import factories
from tests.client import ApiClient
from tests.factories import STRONG_PASSWORD, register_trainee, sms_code
from tests.faults import Crash, FaultPlan, FaultyDatabase
from tests.handlers.enrollment.test_enrollments import new_session, trainee_with_photo
from tests.handlers.enrollment.test_templates import address_body
from tests.outbox import wait_for_notes
from tests.staff_helpers import multipart, verified_unit_client

PORTRAIT = (Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "portrait.jpg").read_bytes()


async def _person(api: ApiClient, settings: Settings, services: Services) -> dict[str, Any]:
    """A trainee with a photo, a licence with an image, an address, a unit, and an enrollment with books mailed."""
    token, body = await register_trainee(api, settings.sms_outbox, name="郭一", email="guo@example.com")
    me = api.with_token(token)
    r = await me.request("PUT", "/api/v1/me/photo?consent=true", body=PORTRAIT, headers={"Content-Type": "image/jpeg"})
    assert r.status == 200, r.body
    form, content_type = multipart([("image", "证书.jpg", PORTRAIT)], {"type": "注册土木工程师", "number": "Z-778"})
    r = await me.request("POST", "/api/v1/me/qualifications", body=form, headers={"Content-Type": content_type})
    assert r.status == 201, r.body
    address = await me.post("/api/v1/addresses", address_body(recipient="郭一", phone=body["phone"]))
    assert address.status == 201, address.body
    unit = await verified_unit_client(api, settings.sms_outbox, services)
    assert (await unit.post("/api/v1/unit/staff/bind", {"name": "郭一", "id_number": body["id_number"]})).status == 200
    admin = await factories.staff_token(services)
    sid = await new_session(api, admin, mails_books=True)
    r = await me.post("/api/v1/enrollments", {"session_id": sid, "address_id": address.json["id"]})
    assert r.status == 201, r.body
    enrollment = r.json["id"]
    invoice = {"kind": "normal", "medium": "electronic", "title_type": "personal", "title": "郭一",
               "email": "guo@example.com"}
    form, content_type = multipart([("proofs", "转账.jpg", PORTRAIT)],
                                   {"payload": json.dumps({"enrollment_ids": [enrollment], "invoice": invoice})})
    r = await me.request("POST", "/api/v1/payments", body=form, headers={"Content-Type": content_type})
    assert r.status == 201, r.body
    me_id = (await me.get("/api/v1/me")).json["id"]
    return {"token": token, "body": body, "id": me_id, "oid": ObjectId(me_id), "enrollment": enrollment,
            "unit": unit, "payment": r.json["id"]}


async def _personal_strings(person: dict[str, Any]) -> list[str]:
    b = person["body"]
    return [b["id_number"], b["phone"], b["email"], "郭一"]


# ---- export ----------------------------------------------------------------------------------------


async def test_data_export_holds_everything_about_the_person(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    person = await _person(api, settings, services)
    r = await api.get("/api/v1/me/data-export", token=person["token"])
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.body))
    names = set(archive.namelist())
    assert {"data.json", "photo.jpg", "说明.txt"} <= names and any(n.startswith("qualifications/") for n in names)
    assert archive.read("photo.jpg")[:3] == b"\xff\xd8\xff"
    data = json.loads(archive.read("data.json"))
    assert data["profile"]["id_number"] == person["body"]["id_number"] and data["profile"]["email"] == "guo@example.com"
    assert data["qualifications"][0]["number"] == "Z-778"
    assert data["addresses"]["items"][0]["phone"] == person["body"]["phone"]
    assert [e["_id"] for e in data["enrollments"]] == [person["enrollment"]]
    assert [p["id"] for p in data["payments"]] == [person["payment"]]
    assert data["payments"][0]["invoice"]["email"] == "guo@example.com"
    assert data["units"][0]["unit_sees"] == "limited" and "photo" in data["consents"]
    assert {"account.register", "staff.bind"} <= {e["action"] for e in data["audit_log"]}
    assert all("ip" not in e for e in data["audit_log"])
    entry = await services.db["audit_log"].find_one({"action": "privacy.export", "subject_id": person["oid"]})
    assert entry is not None and person["body"]["id_number"] not in str(entry)
    assert (await person["unit"].get("/api/v1/me/data-export")).status == 403


# ---- deletion ----------------------------------------------------------------------------------------


async def test_deletion_removes_personal_data_and_keeps_records_without_it(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    person = await _person(api, settings, services)
    me = api.with_token(person["token"])
    r = await me.post("/api/v1/me/deletion", {"password": "wrong-Password-1", "confirm": True})
    assert r.status == 422 and r.error_code == "reproof_invalid"
    r = await me.post("/api/v1/me/deletion", {"password": STRONG_PASSWORD})
    assert r.status == 422 and "confirm" in r.json["error"]["details"]["fields"]
    assert (await me.get("/api/v1/me")).status == 200  # nothing happened yet
    r = await me.post("/api/v1/me/deletion", {"password": STRONG_PASSWORD, "confirm": True})
    assert r.status == 200 and r.json["kept"] == [
        "enrollments", "waitlist", "payments", "checkins", "results", "certificates"], r.body
    # logged out everywhere; the old credentials open nothing
    assert (await me.get("/api/v1/me")).status == 401
    login = {"account": person["body"]["id_number"], "password": STRONG_PASSWORD}
    assert (await api.post("/api/v1/auth/login", login)).status == 401
    db = services.db
    account = await db["accounts"].find_one({"_id": person["oid"]})
    assert account["status"] == "deleted" and account["name"] == "已注销用户"
    assert set(account) <= {"_id", "role", "status", "login_key", "name", "password_hash", "created_at", "created_by",
                            "updated_at", "deleted_at", "trainee"}
    assert account["trainee"] == {}  # no personal field left, not even a mask
    for collection in ("qualifications", "photos.files", "photos.chunks", "qualification_images.files",
                       "qualification_images.chunks", "addresses"):
        assert await db[collection].count_documents({}) == 0, collection
    # the enrollment is kept, with its ids, without the person's data (the address copy held name and phone)
    enrollment = await db["enrollments"].find_one({"_id": ObjectId(person["enrollment"])})
    assert enrollment["trainee_id"] == person["oid"] and enrollment["fee_fen"] and enrollment["address"] is None
    kept = str(enrollment)
    assert not any(s in kept for s in await _personal_strings(person)) and "v1." not in kept
    # the payment is kept (a financial record: amount, lines, the invoice title), without the invoice's contacts
    payment = await db["payments"].find_one({"_id": ObjectId(person["payment"])})
    assert payment["amount_fen"] and payment["payer"]["account_id"] == person["oid"]
    assert payment["invoice"]["email"] is None and "v1." not in str(payment["invoice"])
    # the unit no longer has the person, and is told
    assert (await person["unit"].get("/api/v1/unit/staff")).json["total"] == 0
    unit_id = (await person["unit"].get("/api/v1/me")).json["id"]
    notes = await wait_for_notes(settings.notify_outbox, unit_id, "staff_left")  # sent by the job runner
    assert len(notes) == 1 and "注销" in notes[0]["text"]
    audit = await db["audit_log"].find_one({"action": "privacy.delete", "subject_id": person["oid"]})
    assert audit is not None and person["body"]["id_number"] not in str(audit)
    # the same ID number can register again: a new account (the phone's SMS cooldown would delay reusing it)
    token, _ = await register_trainee(api, settings.sms_outbox, id_number=person["body"]["id_number"])
    assert (await api.get("/api/v1/me", token=token)).json["id"] != person["id"]


async def test_deletion_with_an_sms_code(api: ApiClient, settings: Settings, services: Services) -> None:
    token, body = await register_trainee(api, settings.sms_outbox)
    me = api.with_token(token)
    r = await me.post("/api/v1/me/deletion", {"sms_code": "000000", "confirm": True})
    assert r.status == 422 and r.error_code == "sms_proof_invalid"
    code = await sms_code(api, settings.sms_outbox, body["phone"], "delete_account")
    r = await me.post("/api/v1/me/deletion", {"sms_code": code, "confirm": True})
    assert r.status == 200, r.body
    assert (await services.db["accounts"].find_one({"status": "deleted"})) is not None


class _NoTransaction(PrivacyService):
    """The control: the same writes, one after another, outside a transaction."""

    async def _in_transaction(self, work: Any) -> None:
        await work(None)


def _privacy_on(faulty: FaultyDatabase, services: Services, cls: type[PrivacyService]) -> PrivacyService:
    """A privacy service whose transaction's writes (each through its owner) all go through ``faulty``."""
    templates = TemplateService(faulty, cipher=services.cipher, audit=services.audit)
    real = services.enrollments
    enrollments = EnrollmentService(faulty, catalog=real.catalog, templates=templates, waitlist=real.waitlist,
                                    seats=real.seats, audit=services.audit, payment_term=real.payment_term)
    return cls(faulty, accounts=services.accounts, profiles=services.profiles, photos=services.photos,
               qualifications=QualificationService(faulty, audit=services.audit, executor=services.pools.documents),
               tokens=TokenService(faulty), membership=services.unit_membership, templates=templates,
               enrollments=enrollments, limiter=services.limiter, audit=services.audit,
               payments=PaymentService(faulty, enrollments=enrollments, templates=templates,
                                       account=services.association_account, jobs=services.jobs,
                                       audit=services.audit, cipher=services.cipher, secret_key=b"k",
                                       run_cpu=services.run_cpu),
               run_cpu=services.run_cpu, retention_days=30, invoices=services.invoices)


async def _crash_midway(services: Services, person: dict[str, Any], cls: type[PrivacyService]) -> dict[str, Any]:
    faulty = FaultyDatabase(services.db, FaultPlan(crash_before=3))  # after the account and the licences
    privacy = _privacy_on(faulty, services, cls)
    account = await services.db["accounts"].find_one({"_id": person["oid"]})
    with pytest.raises(Crash):
        await privacy._anonymize(account)
    return await services.db["accounts"].find_one({"_id": person["oid"]})  # type: ignore[return-value]


async def test_a_crash_during_deletion_changes_nothing(api: ApiClient, settings: Settings, services: Services) -> None:
    person = await _person(api, settings, services)
    account = await _crash_midway(services, person, PrivacyService)
    assert account["status"] == "active" and account["name"] == "郭一"
    assert await services.db["qualifications"].count_documents({}) == 1
    assert (await api.get("/api/v1/me/profile", token=person["token"])).status == 200


async def test_control_without_the_transaction_a_crash_leaves_half_a_deletion(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    person = await _person(api, settings, services)
    account = await _crash_midway(services, person, _NoTransaction)
    assert account["status"] == "deleted"  # the tombstone is there ...
    assert await services.db["addresses"].count_documents({}) == 1  # ... but the person's address stayed


# ---- purge of inactive accounts -------------------------------------------------------------------------


async def _age(services: Services, account_id: ObjectId, days: int) -> None:
    """Make an account look untouched for ``days`` (its dates set back directly: no clock in the API)."""
    then = datetime.now(UTC) - timedelta(days=days)
    await services.db["accounts"].update_one(
        {"_id": account_id}, {"$set": {"created_at": then, "updated_at": then, "last_login_at": then}})


async def test_purge_inactive_dry_run_then_for_real(
    api: ApiClient, make_settings: Any, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.services.container import build_services
    from tests.conftest import serve_app

    settings = make_settings(pii_retention_days=365)
    services = build_services(settings, db)
    try:
        async with serve_app(settings, services) as client:
            idle_token, idle = await register_trainee(client, settings.sms_outbox, name="钟一")
            _, active = await register_trainee(client, settings.sms_outbox, name="钟二")
            idle_id = ObjectId((await client.get("/api/v1/me", token=idle_token)).json["id"])
            await _age(services, idle_id, 400)
            admin = await factories.staff_token(services)
            r = await client.post("/api/v1/admin/privacy/purge-inactive?dry_run=true", token=admin)
            assert r.status == 200 and r.json["count"] == 1 and r.json["account_ids"] == [str(idle_id)], r.body
            assert (await db["accounts"].find_one({"_id": idle_id}))["name"] == "钟一"
            assert (await client.post("/api/v1/admin/privacy/purge-inactive", token=idle_token)).status == 403
            # the command line, for real
            assert await COMMANDS["purge-inactive"][2](services, argparse.Namespace(dry_run=False)) == 0
            assert str(idle_id) in capsys.readouterr().out
            assert (await db["accounts"].find_one({"_id": idle_id}))["status"] == "deleted"
            assert (await db["accounts"].count_documents({"name": "钟二", "status": "active"})) == 1
            entry = await db["audit_log"].find_one({"action": "privacy.purge", "subject_id": idle_id})
            assert entry is not None and entry["actor_role"] == "admin" and idle["id_number"] not in str(entry)
            assert await db["audit_log"].count_documents({"action": "privacy.purge_run"}) == 2
            login = {"account": active["id_number"], "password": STRONG_PASSWORD}
            assert (await client.post("/api/v1/auth/login", login)).status == 200
    finally:
        await services.close()


class _LogsInMeanwhile(PrivacyService):
    """The person logs in between the purge's search and its write."""

    guard = True

    async def _anonymize(self, account: dict[str, Any], *, still: dict[str, Any] | None = None) -> datetime:
        await self.accounts.tokens.issue(account["_id"], "trainee")
        return await super()._anonymize(account, still=still if self.guard else None)


@pytest.mark.parametrize("guard", [True, False])
async def test_purge_spares_an_account_used_meanwhile(
    api: ApiClient, settings: Settings, services: Services, guard: bool
) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    account_id = ObjectId((await api.get("/api/v1/me", token=token)).json["id"])
    await _age(services, account_id, 2000)
    privacy = _LogsInMeanwhile(services.db, accounts=services.accounts, profiles=services.profiles,
                               photos=services.photos, qualifications=services.qualifications,
                               tokens=services.tokens, membership=services.unit_membership, templates=services.templates,
                               enrollments=services.enrollments, limiter=services.limiter, audit=services.audit,
                               payments=services.payments, run_cpu=services.run_cpu, retention_days=365,
                               invoices=services.invoices)
    privacy.guard = guard
    result = await privacy.purge_inactive(dry_run=False, by=None)
    status = (await services.db["accounts"].find_one({"_id": account_id}))["status"]
    if guard:
        assert result.count == 0 and status == "active"
    else:  # the control: without the "still inactive" condition the fresh login is purged away
        assert result.count == 1 and status == "deleted"


async def test_two_deletions_at_once_delete_once(api: ApiClient, settings: Settings, services: Services) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    body = {"password": STRONG_PASSWORD, "confirm": True}
    answers = await asyncio.gather(*(api.post("/api/v1/me/deletion", body, token=token) for _ in range(3)))
    assert sorted(a.status for a in answers)[0] == 200 and [a.status for a in answers].count(200) == 1
    assert {a.status for a in answers if a.status != 200} <= {401, 404, 409}
    assert await services.db["audit_log"].count_documents({"action": "privacy.delete"}) == 1
    assert (await api.get("/api/v1/me/profile", token=token)).status == 401


async def test_a_deleted_person_leaves_every_waitlist(api: ApiClient, settings: Settings, services: Services) -> None:
    admin = await factories.staff_token(services)
    sid = await new_session(api, admin, capacity=1)
    first, _ = await trainee_with_photo(api, settings, services.db)
    second, _ = await trainee_with_photo(api, settings, services.db)
    third, _ = await trainee_with_photo(api, settings, services.db)
    assert (await api.post("/api/v1/enrollments", {"session_id": sid}, token=first)).status == 201
    assert (await api.post("/api/v1/waitlist", {"session_id": sid}, token=second)).status == 201
    assert (await api.post("/api/v1/waitlist", {"session_id": sid}, token=third)).json["position"] == 2
    r = await api.post("/api/v1/me/deletion", {"password": STRONG_PASSWORD, "confirm": True}, token=second)
    assert r.status == 200, r.body
    entries = await services.db["waitlist"].find({}).sort("created_at", 1).to_list()
    assert [e["status"] for e in entries] == ["withdrawn", "waiting"]  # kept, out of line
    session = await services.db["sessions"].find_one({"_id": ObjectId(sid)})
    assert session["waiting"] == [entries[1]["_id"]]


async def test_exports_are_limited_per_person(api: ApiClient, settings: Settings, services: Services) -> None:
    token, _ = await register_trainee(api, settings.sms_outbox)
    other, _ = await register_trainee(api, settings.sms_outbox)
    for _ in range(10):
        assert (await api.get("/api/v1/me/data-export", token=token)).status == 200
    r = await api.get("/api/v1/me/data-export", token=token)
    assert r.status == 429 and r.error_code == "too_many_requests"
    assert (await api.get("/api/v1/me/data-export", token=other)).status == 200
