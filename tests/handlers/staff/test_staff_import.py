"""Staff Excel import: template, dry-run verdicts, refused files, all-or-none commit, races, recovery."""

from __future__ import annotations

import asyncio
import io
import random
import zipfile
from datetime import UTC, date, datetime, timedelta

import bson
import pytest
from openpyxl import load_workbook

from server.config import Settings
from server.errors import AppError
from server.models.staff import work_start_from_cell
from server.services import Principal
from server.services.container import Services
from server.services.staff import imports as imports_module
from server.services.staff.imports import pack
from tests.client import ApiClient
from tests.factories import register_trainee, resident_id
from tests.faults import FaultPlan, FaultyDatabase
from tests.services.staff.support import crash_before_reveal, import_service
from tests.staff_helpers import (
    XLSX,
    form_body,
    multipart,
    sheet_bytes,
    staff_row,
    unit_client,
    verified_unit_client,
    verify_unit,
)

IMPORTS = "/api/v1/unit/staff/imports"


async def dry_run(unit: ApiClient, data: bytes):  # type: ignore[no-untyped-def]
    return await unit.request("POST", IMPORTS, body=data, headers={"Content-Type": XLSX})


async def test_template_has_header_dropdowns_help_and_example(api: ApiClient, settings: Settings,
                                                              services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    r = await unit.get("/api/v1/unit/staff/import-template.xlsx")
    assert r.status == 200 and r.headers["Content-Type"] == XLSX
    book = load_workbook(io.BytesIO(r.body))
    assert book.sheetnames[0] == "学员信息" and "说明" in book.sheetnames
    sheet = book["学员信息"]
    header = [c.value for c in sheet[1]]
    assert "姓名*" in header and "民族" in header and "学历" in header
    # a resident ID gives sex and birth date: not marked required, and 说明 says when they are
    assert "性别" in header and "出生年月" in header and "性别*" not in header
    assert any("其他证件必须填写" in (row[0].value or "") for row in book["说明"].iter_rows())
    assert sheet.cell(row=2, column=header.index("身份证号*") + 1).value == "11010519491231002X"
    lists = {str(dv.sqref).split(":")[0] for dv in sheet.data_validations.dataValidation}
    assert len(lists) == 6  # 性别, 证件类型, 学历, 民族, 政治面貌, 院士/大师
    # the text columns are text on every row an import may hold (5,000 rows below the header)
    for label in ("身份证号*", "手机号*", "出生年月", "参加工作时间*", "邮编"):
        column = header.index(label) + 1
        assert {sheet.cell(row=n, column=column).number_format for n in (2, 1001, 1002, 5001)} == {"@"}, label
    # the example row is recognised and skipped: a forgotten example creates no account
    r = await dry_run(unit, r.body)
    assert r.status == 201, r.body
    assert r.json["rows"][0]["verdict"] == "example" and "示例行" in r.json["rows"][0]["note"]
    assert r.json["counts"] == {"example": 1}
    r = await unit.post(f"{IMPORTS}/{r.json['id']}/commit")
    assert r.status == 200 and r.json["created"] == 0, r.body
    assert await services.db["accounts"].count_documents({"role": "trainee"}) == 0


async def test_mixed_sheet_verdicts(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    _, registered = await register_trainee(api, settings.sms_outbox, name="钱二")
    dup = resident_id()
    good_id = resident_id()
    bad_check = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
    rows = [
        staff_row(id_number=good_id, name="好人"),                       # 2 ok
        staff_row(id_number=bad_check),                                  # 3 check character
        staff_row(birth_date="1980-01-01"),                              # 4 birth vs ID
        staff_row(specialty=None, address=None),                         # 5 missing required
        staff_row(phone="12345"),                                        # 6 bad phone
        staff_row(id_number=dup), staff_row(id_number=dup),              # 7, 8 duplicates in the file
        staff_row(id_number=registered["id_number"], name="钱二"),       # 9 exists, can bind
        staff_row(ethnicity="火星族"),                                   # 10 not in the list
        staff_row(id_number=110105199003070011),                         # 11 typed as a number
    ]
    r = await dry_run(unit, sheet_bytes(rows))
    assert r.status == 201, r.body
    by_row = {row["row"]: row for row in r.json["rows"]}
    assert [by_row[n]["verdict"] for n in range(2, 12)] == [
        "ok", "error", "error", "error", "error", "error", "error", "exists", "error", "error"]
    assert "校验位" in by_row[3]["errors"]["id_number"]
    assert "birth_date" in by_row[4]["errors"]
    assert set(by_row[5]["errors"]) == {"specialty", "address"}
    assert "phone" in by_row[6]["errors"]
    assert "重复" in by_row[7]["errors"]["id_number"] and "重复" in by_row[8]["errors"]["id_number"]
    assert by_row[9]["can_bind"] is True and "存在账号" in by_row[9]["errors"]["id_number"]
    assert "ethnicity" in by_row[10]["errors"] and "id_number" in by_row[11]["errors"]
    assert r.json["counts"] == {"ok": 1, "error": 8, "exists": 1}
    assert await services.db["accounts"].count_documents({"name": "好人"}) == 0  # nothing written yet
    stored = await services.db["staff_import_chunks"].find().to_list()
    assert good_id not in str(stored) and await services.db["staff_imports"].count_documents({}) == 1
    payload = next(c for c in stored if c["kind"] == "payload")
    assert payload["items"][0]["id_number"].startswith("v1.")


async def test_exists_bound_elsewhere_cannot_bind(api: ApiClient, settings: Settings, services: Services) -> None:
    first = await verified_unit_client(api, settings.sms_outbox, services)
    second = await unit_client(api, settings.sms_outbox)
    _, person = await register_trainee(api, settings.sms_outbox, name="冯三")
    r = await first.post("/api/v1/unit/staff/bind", {"name": "冯三", "id_number": person["id_number"]})
    assert r.status == 200, r.body
    r = await dry_run(second, sheet_bytes([staff_row(id_number=person["id_number"], name="冯三")]))
    assert r.json["rows"][0]["verdict"] == "exists" and r.json["rows"][0]["can_bind"] is False


def _zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _xlsm(good: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(good))
    members = {n: source.read(n) for n in source.namelist()}
    members["xl/vbaProject.bin"] = b"\x00" * 100
    return _zip(members)


@pytest.mark.parametrize("kind, code, status", [
    ("xlsm", "xlsx_macros", 422),
    ("formula", "xlsx_formula", 422),
    ("encrypted", "xlsx_encrypted", 422),
    ("bomb", "archive_bomb", 422),
    ("not_zip", "xlsx_bad_format", 415),
])
async def test_refused_files(api: ApiClient, settings: Settings, services: Services, kind: str, code: str,
                             status: int) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    good = sheet_bytes([staff_row()])
    data = {
        "xlsm": lambda: _xlsm(good),
        "formula": lambda: sheet_bytes([staff_row()], formula_at="C2"),
        "encrypted": lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000,
        # a zip bomb disguised as xlsx: 60 MB of zeros in one member
        "bomb": lambda: _zip({"[Content_Types].xml": b"<Types/>", "xl/sharedStrings.xml": b"\x00" * (60 << 20)}),
        "not_zip": lambda: b"name,id\n",
    }[kind]()
    r = await dry_run(unit, data)
    assert (r.status, r.error_code) == (status, code), r.body
    if kind == "formula":
        assert r.json["error"]["details"]["cell"] == "C2"
    assert await services.db["staff_imports"].count_documents({}) == 0


async def test_too_many_rows_and_too_big(api: ApiClient, make_settings, services: Services, db) -> None:
    from server.services.container import build_services
    from tests.conftest import serve_app

    settings = make_settings(import_max_rows=3, import_max_bytes=20_000)
    built = build_services(settings, db)
    try:
        async with serve_app(settings, built) as client:
            unit = await unit_client(client, settings.sms_outbox)
            r = await dry_run(unit, sheet_bytes([staff_row() for _ in range(4)]))
            assert r.error_code == "xlsx_too_many_rows"
            r = await dry_run(unit, b"PK\x03\x04" + b"\x00" * 30_000)
            assert r.status == 413
    finally:
        await built.close()


async def test_multipart_upload_and_commit(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    rows = [staff_row(name=f"员工{i}") for i in range(5)] + [staff_row(phone="1")]
    body, content_type = multipart([("file", "staff.xlsx", sheet_bytes(rows))])
    r = await unit.request("POST", IMPORTS, body=body, headers={"Content-Type": content_type})
    assert r.status == 201 and r.json["counts"] == {"ok": 5, "error": 1}
    import_id = r.json["id"]
    r = await unit.post(f"{IMPORTS}/{import_id}/commit")
    assert r.status == 200 and r.json["created"] == 5, r.body
    secret = r.json["accounts"][0]["one_time_secret"]
    assert (await unit.get("/api/v1/unit/staff")).json["total"] == 5
    r = await unit.post(f"{IMPORTS}/{import_id}/commit")
    assert r.status == 409 and r.error_code == "import_already_committed"
    # the result sheet carries the secrets once, then no more
    first = await unit.get(f"{IMPORTS}/{import_id}/result.xlsx")
    second = await unit.get(f"{IMPORTS}/{import_id}/result.xlsx")
    cells = lambda r: [c.value for row in load_workbook(io.BytesIO(r.body)).active.iter_rows() for c in row]  # noqa: E731
    assert secret in cells(first) and secret not in cells(second)
    # the verdicts keep the ID numbers sealed (not even masked at rest); the sheet shows them masked
    masks = [row["id_number"][:4] + "*" * 10 + row["id_number"][-4:] for row in rows]
    assert all(m in cells(second) for m in masks)
    stored = str(await services.db["staff_import_chunks"].find({}).to_list())
    assert "*" * 10 not in stored and not any(row["id_number"] in stored for row in rows)
    other = await unit_client(api, settings.sms_outbox)
    assert (await other.post(f"{IMPORTS}/{import_id}/commit")).status == 404
    assert (await other.get(f"{IMPORTS}/{import_id}/result.xlsx")).status == 404


async def test_failed_commit_leaves_nothing_and_recommit_works(
    api: ApiClient, settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    ids = [resident_id() for _ in range(7)]
    r = await dry_run(unit, sheet_bytes([staff_row(id_number=n, name=f"批{i}") for i, n in enumerate(ids)]))
    import_id = r.json["id"]
    unit_doc = await services.db["accounts"].find_one({"role": "unit"})
    principal = Principal(unit_doc["_id"], "unit")
    monkeypatch.setattr(imports_module, "INSERT_CHUNK", 3)  # three groups: the failure comes after one
    inserts = 0

    async def fail_second_insert(collection: str, method: str) -> None:
        nonlocal inserts
        if (collection, method) == ("accounts", "insert_many"):
            inserts += 1
            if inserts == 2:
                raise RuntimeError("the database refused the second group")

    failing = import_service(services, FaultyDatabase(services.db, FaultPlan(before_write=fail_second_insert)))
    with pytest.raises(RuntimeError):
        await failing.commit(principal, import_id, ip="test")
    assert await services.db["accounts"].count_documents({"role": "trainee"}) == 0
    batch = await services.db["staff_imports"].find_one()
    assert batch["status"] == "failed" and "lease_id" not in batch
    r = await unit.post(f"{IMPORTS}/{import_id}/commit")
    assert r.status == 200 and r.json["created"] == 7
    assert (await unit.get("/api/v1/unit/staff")).json["total"] == 7


async def test_concurrent_commits_create_rows_once(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    r = await dry_run(unit, sheet_bytes([staff_row(name=f"并{i}") for i in range(30)]))
    import_id = r.json["id"]
    answers = await asyncio.gather(*(unit.post(f"{IMPORTS}/{import_id}/commit") for _ in range(4)))
    assert sorted(a.status for a in answers) == [200, 409, 409, 409]
    assert {a.error_code for a in answers if a.status == 409} <= {"import_in_progress", "import_already_committed"}
    assert await services.db["accounts"].count_documents({"role": "trainee"}) == 30


async def test_duplicate_key_midway_rolls_back(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    ids = [resident_id() for _ in range(6)]
    r = await dry_run(unit, sheet_bytes([staff_row(id_number=n) for n in ids]))
    # someone registers the 4th person between the dry run and the commit
    await register_trainee(api, settings.sms_outbox, id_number=ids[3])
    r = await unit.post(f"{IMPORTS}/{r.json['id']}/commit")
    assert r.status == 409 and r.error_code == "import_conflict" and r.json["error"]["details"]["row"] == 5
    assert await services.db["accounts"].count_documents({"role": "trainee"}) == 1


async def test_pending_batch_invisible_and_recovered_at_start(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    person = resident_id()
    r = await dry_run(unit, sheet_bytes([staff_row(id_number=person, name="隐身")]))
    import_id = r.json["id"]
    unit_doc = await services.db["accounts"].find_one({"role": "unit"})
    batches = services.db["staff_imports"]
    # a crash after the inserts: claim + docs inserted hidden, never revealed
    await crash_before_reveal(services, unit_doc["_id"], import_id)
    assert (await unit.get("/api/v1/unit/staff")).json["total"] == 0
    r = await api.post("/api/v1/auth/login", {"account": person, "password": "whatever-123"})
    assert r.status == 401
    await verify_unit(api, unit, services)
    r = await unit.post("/api/v1/unit/staff/bind", {"name": "隐身", "id_number": person})
    assert r.status == 404
    assert await services.staff_imports.rollback_unfinished_imports() == 0  # the lease still runs
    await batches.update_one({}, {"$set": {"lease_until": datetime.now(UTC) - timedelta(seconds=1)}})
    assert await services.staff_imports.rollback_unfinished_imports() == 1
    assert await services.db["accounts"].count_documents({"role": "trainee"}) == 0
    assert (await unit.post(f"{IMPORTS}/{import_id}/commit")).status == 200


async def test_batch_an_earlier_version_left_publishing_is_rolled_forward(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    r = await dry_run(unit, sheet_bytes([staff_row(name=f"前{i}") for i in range(3)]))
    import_id = r.json["id"]
    unit_doc = await services.db["accounts"].find_one({"role": "unit"})
    await crash_before_reveal(services, unit_doc["_id"], import_id)
    batches = services.db["staff_imports"]
    # the former commit (before the one-transaction reveal) had a "publishing" step: inserts all done
    await batches.update_one({}, {"$set": {"status": "publishing", "lease_until": datetime.now(UTC) + timedelta(minutes=5)}})
    assert await services.staff_imports.rollback_unfinished_imports() == 0  # the lease still runs
    await batches.update_one({}, {"$set": {"lease_until": datetime.now(UTC) - timedelta(seconds=1)}})
    assert await services.staff_imports.rollback_unfinished_imports() == 1
    assert (await batches.find_one())["status"] == "committed"
    assert (await unit.get("/api/v1/unit/staff")).json["total"] == 3
    assert await services.db["staff_import_chunks"].count_documents({"kind": "payload"}) == 0
    r = await unit.get(f"{IMPORTS}/{import_id}/result.xlsx")
    cells = [c.value for row in load_workbook(io.BytesIO(r.body)).active.iter_rows() for c in row]
    assert r.status == 200 and cells.count("已导入") == 3


async def test_commit_extends_the_batch_lifetime(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    r = await dry_run(unit, sheet_bytes([staff_row(name="临期")]))
    soon = datetime.now(UTC) + timedelta(seconds=30)
    for name in ("staff_imports", "staff_import_chunks"):
        await services.db[name].update_many({}, {"$set": {"expires_at": soon}})
    r = await unit.post(f"{IMPORTS}/{r.json['id']}/commit")
    assert r.status == 200 and r.json["created"] == 1, r.body
    day = datetime.now(UTC) + timedelta(hours=23)
    # the TTL can no longer take the batch (nor its rows) while a crashed commit may need it
    for name in ("staff_imports", "staff_import_chunks"):
        stored = await services.db[name].find().to_list()
        assert stored and all(d["expires_at"].replace(tzinfo=UTC) > day for d in stored), name


async def test_hidden_accounts_of_a_vanished_batch_are_removed(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    person = resident_id()
    r = await dry_run(unit, sheet_bytes([staff_row(id_number=person, name="孤儿")]))
    unit_doc = await services.db["accounts"].find_one({"role": "unit"})
    await crash_before_reveal(services, unit_doc["_id"], r.json["id"])
    # the batch vanished (an old TTL took it) before the recovery ran: the hidden account holds the number
    await services.db["staff_imports"].delete_many({})
    await services.db["staff_import_chunks"].delete_many({})
    hidden = {"role": "trainee", "import_pending": True}
    assert await services.staff_imports.rollback_unfinished_imports() == 0  # too young to be sure
    assert await services.db["accounts"].count_documents(hidden) == 1
    await services.db["accounts"].update_many(hidden, {"$set": {"created_at": datetime.now(UTC) - timedelta(hours=2)}})
    assert await services.staff_imports.rollback_unfinished_imports() == 1
    assert await services.db["accounts"].count_documents({"role": "trainee"}) == 0
    # the number is free again
    r = await unit.post("/api/v1/unit/staff", form_body(name="孤儿", id_number=person))
    assert r.status == 201, r.body


def _long_rows(count: int) -> list[dict]:  # type: ignore[type-arg]
    """Good rows with every text at its allowed length, in 4-byte characters (as large as a row gets)."""
    big = "\U00020000"
    start = date(1960, 1, 1)
    rows = []
    for i in range(count):
        birth = (start + timedelta(days=i)).strftime("%Y%m%d")
        rows.append(staff_row(id_number=resident_id(birth), name="王五", remarks=big * 500, address=big * 200,
                              employer=big * 100, specialty=big * 50, title=big * 50, position=big * 50))
    return rows


async def test_largest_sheet_is_stored_in_chunks(api: ApiClient, settings: Settings, services: Services) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    rows = settings.import_max_rows
    r = await dry_run(unit, sheet_bytes(_long_rows(rows)))
    assert r.status == 201, r.body[:300]
    assert r.json["counts"] == {"ok": rows}
    stored = await services.db["staff_import_chunks"].find().to_list()
    # as one document (the former layout) the batch would pass MongoDB's 16 MiB limit
    assert sum(len(bson.encode(c)) for c in stored) > 16 * 1024 * 1024
    assert max(len(bson.encode(c)) for c in stored) < 5 * 1024 * 1024
    # the commit reads the payload back whole and in order (committing 5,000 accounts is left to the
    # smaller tests: it only repeats their inserts)
    batch = await services.db["staff_imports"].find_one()
    payload = await services.staff_imports._load(batch, "payload")
    assert payload is not None and [p["row"] for p in payload] == list(range(2, rows + 2))
    r = await unit.get(f"{IMPORTS}/{r.json['id']}/result.xlsx")
    assert r.status == 200
    assert load_workbook(io.BytesIO(r.body), read_only=True).active.max_row == rows + 1


async def test_echoed_cells_are_capped(api: ApiClient, settings: Settings) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    dup = resident_id()
    rows = [staff_row(name="".join(chr(0x4E00 + random.randrange(20_000)) for _ in range(30_000)), id_number=dup)
            for _ in range(12)]
    r = await dry_run(unit, sheet_bytes(rows))
    assert r.status == 201, r.body[:300]
    first = r.json["rows"][0]
    assert first["verdict"] == "error" and len(first["name"]) <= 51 and "name" in first["errors"]
    # a duplicate message names a few rows, not all of them
    assert first["errors"]["id_number"] == "与第 3、4、5、6、7 等 11 行的证件号码重复"


def test_pack_refuses_what_cannot_be_stored() -> None:
    items = [{"n": i, "text": "x" * 100} for i in range(10)]
    chunks = pack(items, limit=500)
    assert [i for c in chunks for i in c] == items and all(len(c) <= 4 for c in chunks)
    with pytest.raises(AppError) as refused:
        pack([{"text": "x" * 1000}], limit=500)
    assert (refused.value.status, refused.value.code) == (413, "import_too_large")


@pytest.mark.parametrize("cell, expected", [
    (2010.05, "2010-05"), (2010.12, "2010-12"), (2010.7, "2010-07"), (201007, "2010-07"), ("2010.1", "2010-01"),
    ("2010.10", "2010-10"), (datetime(2010, 10, 1), "2010-10"),
])
def test_work_start_cells(cell: object, expected: str) -> None:
    assert work_start_from_cell(cell) == expected


async def test_ambiguous_work_start_number_is_an_error(api: ApiClient, settings: Settings) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    rows = [staff_row(work_start=2010.1), staff_row(work_start=2010.05), staff_row(work_start=2010)]
    r = await dry_run(unit, sheet_bytes(rows))
    verdicts = [(row["verdict"], row["errors"].get("work_start", "")) for row in r.json["rows"]]
    assert verdicts[0][0] == "error" and "1 月还是 10 月" in verdicts[0][1]
    assert verdicts[1] == ("ok", "") and verdicts[2][0] == "error"


async def test_concurrent_result_downloads_release_the_secrets_once(
    api: ApiClient, settings: Settings, services: Services
) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    r = await dry_run(unit, sheet_bytes([staff_row(name=f"密{i}") for i in range(3)]))
    import_id = r.json["id"]
    secrets = {a["one_time_secret"] for a in (await unit.post(f"{IMPORTS}/{import_id}/commit")).json["accounts"]}
    sheets = await asyncio.gather(*(unit.get(f"{IMPORTS}/{import_id}/result.xlsx") for _ in range(4)))
    shown = [{c.value for row in load_workbook(io.BytesIO(s.body)).active.iter_rows() for c in row} & secrets
             for s in sheets]
    assert sorted(len(s) for s in shown) == [0, 0, 0, 3]
    assert await services.db["staff_import_chunks"].count_documents({"kind": "secrets"}) == 0
