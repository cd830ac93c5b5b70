"""Issue 10: a database dump without the key must not rebuild an ID number or a phone.

A realistic flow runs through the real HTTP API (a trainee registers and fills
in the profile, changes the phone, keeps templates with phones and e-mails; a
unit registers, adds a person, imports a sheet, uploads a ZIP of photos that
becomes a background job, enrolls its staff), then every collection is dumped
and, for every person's ID number and phone, each single document must leave at
least ``MIN_CANDIDATES`` candidates (``tests/candidates.py``).
"""

from __future__ import annotations

import asyncio
import io
import logging
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from server.config import Settings
from server.services.accounts.identity import mask_id_number
from server.services.container import Services
from tests import factories
from tests.candidates import MIN_CANDIDATES, id_candidates, phone_candidates
from tests.client import ApiClient
from tests.factories import phone, register_trainee, register_unit, resident_id, sms_code, uscc
from tests.handlers.enrollment.test_enrollments import window
from tests.staff_helpers import XLSX, form_body, sheet_bytes, staff_row

PORTRAIT = (Path(__file__).resolve().parent / "fixtures" / "photos" / "portrait.jpg").read_bytes()


async def dump(services: Services) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection, as a backup would hold it."""
    db = services.db
    return {name: await db[name].find({}).to_list() for name in sorted(await db.list_collection_names())}


def leaks(collections: dict[str, list[dict[str, Any]]], ids: list[str],
          phones: list[str]) -> list[tuple[str, str, str, int]]:
    """(collection, kind, value, candidates) of every document that leaves too few candidates."""
    found = []
    for name, docs in collections.items():
        for doc in docs:
            for number in ids:
                if (n := id_candidates(number, doc)) < MIN_CANDIDATES:
                    found.append((name, "id_number", number, n))
            for mobile in phones:
                if (n := phone_candidates(mobile, doc)) < MIN_CANDIDATES:
                    found.append((name, "phone", mobile, n))
    return found


def test_the_counter_itself() -> None:
    """The counter's own figures: a mask beside the birth date leaves about 9; each alone leaves many."""
    number = resident_id("19900307")
    mask = number[:4] + "*" * 10 + number[-4:]
    assert id_candidates(number, {"id_masked": mask, "birth_date": "1990-03-07"}) < 20
    assert id_candidates(number, {"id_masked": mask}) >= MIN_CANDIDATES
    assert id_candidates(number, {"birth_date": "1990-03-07", "sex": "male"}) >= MIN_CANDIDATES
    assert id_candidates(number, {"file": f"张三-{number}.jpg"}) == 1
    assert id_candidates(number, {"id_number": "v1.k1.AAAA" + number.replace("X", "A")}) >= MIN_CANDIDATES
    assert phone_candidates("13912345678", {"email": "13912345678@139.com"}) == 1
    assert phone_candidates("13912345678", {"masked": "139****5678"}) == 10_000
    assert phone_candidates("13912345678", {"masked": "1391234****"}) == 10_000
    assert phone_candidates("13912345678", {"a": "139****5678", "b": "1391234****"}) == 1


async def _run_flow(api: ApiClient, settings: Settings, services: Services) -> tuple[list[str], list[str]]:
    """Everything a busy day writes; the ID numbers and phones of the people in it."""
    outbox = settings.sms_outbox
    ids: list[str] = []
    phones: list[str] = []
    admin = await factories.staff_token(services)
    course = await api.post("/api/v1/admin/courses", factories.course_body(mails_books=True), token=admin)
    session = await api.post("/api/v1/admin/sessions",
                             factories.session_body(course.json["id"], **window()), token=admin)
    assert (await api.post(f"/api/v1/admin/sessions/{session.json['id']}/publish", token=admin)).status == 200
    session_id = session.json["id"]

    # A trainee whose mailbox is the phone number, as at 139.com.
    first_phone = phone()
    token, body = await register_trainee(api, outbox, id_number=resident_id("19850612", male=False),
                                         phone=first_phone, email=f"{first_phone}@139.com")
    ids.append(body["id_number"])
    profile = {"name": "张三", "birth_date": "1985-06-12", "sex": "female", "email": f"{first_phone}@139.com",
               "work_start": "2008-07", "specialty": "岩土工程", "address": "上海市徐汇区宜山路 700 号"}
    r = await api.put("/api/v1/me/profile", profile, token=token)
    assert r.status == 200, r.body
    new_phone = phone()
    code = await sms_code(api, outbox, new_phone, "change_phone")
    assert (await api.put("/api/v1/me/phone", {"phone": new_phone, "sms_code": code}, token=token)).status == 200
    phones += [first_phone, new_phone]
    recipient = phone()
    phones.append(recipient)
    r = await api.post("/api/v1/addresses", {"recipient": "张三", "phone": recipient, "region": "上海市徐汇区",
                                              "address": "宜山路 700 号", "postcode": "200233", "is_default": True},
                       token=token)
    assert r.status == 201, r.body
    invoice_phone = phone()
    phones.append(invoice_phone)
    r = await api.post("/api/v1/invoice-templates", {
        "kind": "special", "medium": "electronic", "title_type": "company", "title": "上海某某勘察设计有限公司",
        "tax_id": uscc(), "address_phone": f"上海市徐汇区宜山路 700 号 {invoice_phone}",
        "bank_account": "中国银行 6217 0000 0000 0000", "email": f"{invoice_phone}@139.com"}, token=token)
    assert r.status == 201, r.body
    r = await api.post("/api/v1/me/qualifications", {"type": "注册土木工程师（岩土）", "number": "AY123456"},
                       token=token)
    assert r.status == 201, r.body
    me = (await api.get("/api/v1/me", token=token)).json
    await services.db["accounts"].update_one({"_id": ObjectId(me["id"])},
                                             {"$set": {"trainee.photo": {"file_id": ObjectId()}}})
    assert (await api.post("/api/v1/enrollments", {"session_id": session_id}, token=token)).status == 201

    # A unit: its contact, one person added by hand, a sheet imported, one more dry run left open.
    unit_token, unit_body = await register_unit(api, outbox)
    phones.append(unit_body["phone"])
    unit = api.with_token(unit_token)
    added = form_body(name="赵六", email=None)
    added["email"] = f"{added['phone']}@139.com"
    r = await unit.post("/api/v1/unit/staff", added)
    assert r.status == 201, r.body
    added_id = r.json["id"]
    ids.append(added["id_number"])
    phones.append(added["phone"])
    rows = [staff_row(name=f"导入{i}", id_number=resident_id(f"19{70 + i}0101")) for i in range(2)]
    for row in rows:
        row["email"] = f"{row['phone']}@139.com"
        row["birth_date"] = date(1970 + int(row["name"][-1]), 1, 1).isoformat()
    r = await unit.request("POST", "/api/v1/unit/staff/imports", body=sheet_bytes(rows), headers={"Content-Type": XLSX})
    assert r.status in (200, 201), r.body
    assert (await unit.post(f"/api/v1/unit/staff/imports/{r.json['id']}/commit")).status == 200
    open_row = staff_row(name="待导入", id_number=resident_id("19800505"))
    open_row["email"] = f"{open_row['phone']}@139.com"
    r = await unit.request("POST", "/api/v1/unit/staff/imports", body=sheet_bytes([open_row]),
                           headers={"Content-Type": XLSX})
    assert r.status in (200, 201), r.body
    for row in (*rows, open_row):
        ids.append(row["id_number"])
        phones.append(row["phone"])

    # Bulk photos in a ZIP large enough to run as a job: the person added, and names of strangers.
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"赵六-{added['id_number']}.jpg", PORTRAIT)
        z.writestr(f"张三-{body['id_number']}.jpg", b"x")  # the trainee, not this unit's staff
        for i in range(21):
            z.writestr(f"某人{i}-{resident_id()}.jpg", b"x")
    r = await unit.request("POST", "/api/v1/unit/staff/photos?consent=true", body=archive.getvalue(),
                           headers={"Content-Type": "application/zip"})
    assert r.status in (200, 202), r.body
    job_id = r.json["job_id"]
    for _ in range(600):
        job = (await unit.get(f"/api/v1/unit/staff/photo-jobs/{job_id}")).json
        if job["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "done", job

    # The unit enrolls the person, books mailed to its own address.
    unit_phone = phone()
    phones.append(unit_phone)
    r = await unit.post("/api/v1/addresses", {"recipient": "李四", "phone": unit_phone, "region": "上海市",
                                               "address": "某某路 1 号", "postcode": "200000", "is_default": True})
    assert r.status == 201, r.body
    r = await unit.post("/api/v1/unit/enrollments", {"session_id": session_id, "trainee_ids": [added_id]})
    assert r.status in (200, 201), r.body
    assert (await api.get("/api/v1/admin/audit", token=admin)).status == 200
    return ids, phones


async def test_a_dump_leaves_enough_candidates(api: ApiClient, settings: Settings, services: Services,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """No single document of any collection narrows an ID number or a phone below 10,000 candidates.

    The logs of the whole flow (ours and the driver's commands) hold no ID number or phone in
    full, no ID mask and no phone-number mailbox either.
    """
    with caplog.at_level(logging.DEBUG):
        ids, phones = await _run_flow(api, settings, services)
    logged = caplog.text
    for value in [*ids, *(mask_id_number(n) for n in ids), *phones, *(f"{p}@139.com" for p in phones)]:
        assert value not in logged, value
    collections = await dump(services)
    assert {"accounts", "audit_log", "enrollments", "photo_jobs", "staff_import_chunks"} <= set(collections)
    found = leaks(collections, ids, phones)
    assert found == [], "\n".join(f"{c}: {kind} {value[:3]}… leaves {n}" for c, kind, value, n in found)
