"""The results import: a check with a verdict per row, then all rows or none (bad rows: a score out of
range, an unknown ID number, a person not enrolled in the session)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from pymongo.asynchronous.database import AsyncDatabase

from server import errors
from server.services.container import Services
from tests import factories
from tests.services.enrollment.helpers import make_trainees
from tests.services.results.helpers import REVIEWER, approved, check_in


def sheet(rows: list[tuple[Any, ...]]) -> bytes:
    """A results sheet as the template has it."""
    workbook = Workbook()
    ws = workbook.active
    ws.title = "成绩"
    ws.append(["身份证号*", "姓名", "成绩", "缺考"])
    ws.append(["示例", "张三", 85, None])
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def _with_id_numbers(services: Services, db: AsyncDatabase[dict[str, Any]], trainees: list[dict[str, Any]]) -> list[str]:
    """Give the inserted trainees real ID numbers (their login keys, as registration makes them)."""
    numbers = []
    for i, trainee in enumerate(trainees):
        number = factories.resident_id(f"1990030{i + 1}")
        await db["accounts"].update_one({"_id": trainee["_id"]},
                                        {"$set": {"login_key": services.accounts.trainee_key(number)}})
        numbers.append(number)
    return numbers


async def test_check_then_all_or_nothing(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    trainees, docs = await approved(services, db, 3)
    outsider = await make_trainees(db, 1)
    ids = await _with_id_numbers(services, db, [*trainees, *outsider])
    sid = str(docs[0]["session_id"])
    rows = [(ids[0], "甲", 85, None), (ids[1].lower().replace("x", "X"), "乙", None, "是"), (ids[2], "丙", 101, None),
            ("110105199003079999", "查无", 70, None), (ids[3], "外人", 70, None), (ids[0], "甲", 60, None)]
    data = sheet(rows)
    await check_in(services, docs[0], 0)  # 甲 came on the first training day
    out = await services.result_imports.run(REVIEWER, sid, data, commit=False, ip=None)
    assert [r.verdict for r in out.rows] == ["ok", "ok", "bad_score", "unknown_id", "not_enrolled", "duplicate"]
    assert out.rows[0].message == "85 分：合格" and out.rows[1].message == "缺考：缺考"
    assert out.rows[0].id_masked is not None and ids[0] not in str(out.model_dump())
    assert (out.ok, out.errors, out.committed) == (2, 4, False)
    assert [r.attendance for r in out.rows] == ["1/3 天", "0/3 天", "0/3 天", None, None, "1/3 天"]

    with pytest.raises(errors.AppError) as caught:
        await services.result_imports.run(REVIEWER, sid, data, commit=True, ip=None)
    assert caught.value.code == "import_has_errors" and caught.value.status == 422
    assert set(caught.value.details["fields"]) == {"row5", "row6", "row7", "row8"}
    assert await db["results"].count_documents({}) == 0  # nothing written

    good = sheet([(ids[0], "甲", 85, None), (ids[1], "乙", None, "是"), (ids[2], "丙", "59", None)])
    done = await services.result_imports.run(REVIEWER, sid, good, commit=True, ip=None)
    assert done.committed and done.ok == 3
    results = {r["trainee_id"]: r for r in await db["results"].find().to_list()}
    assert [results[t["_id"]]["verdict"] for t in trainees] == ["passed", "absent", "failed"]
    assert {r["status"] for r in results.values()} == {"draft"}
    # The verdict sheet says the same, row by row.
    _, _, xlsx = await services.result_imports.verdict_sheet(sid, data)
    ws = load_workbook(io.BytesIO(xlsx)).active
    assert [row[5] for row in ws.iter_rows(min_row=2, values_only=True)] == [
        "可导入", "可导入", "成绩有误", "查无此人", "未报名本班次", "重复"]
    # Attendance beside each matched row's score; nothing for the unmatched.
    assert [row[4] for row in ws.iter_rows(min_row=2, values_only=True)] == [
        "1/3 天", "0/3 天", "0/3 天", None, None, "1/3 天"]


async def test_published_results_are_not_imported_again(services: Services, db: AsyncDatabase[dict[str, Any]]) -> None:
    trainees, docs = await approved(services, db, 1)
    ids = await _with_id_numbers(services, db, trainees)
    sid = str(docs[0]["session_id"])
    await services.result_imports.run(REVIEWER, sid, sheet([(ids[0], "甲", 90, None)]), commit=True, ip=None)
    await services.results.publish(REVIEWER, sid, ip=None)
    out = await services.result_imports.run(REVIEWER, sid, sheet([(ids[0], "甲", 10, None)]), commit=False, ip=None)
    assert [r.verdict for r in out.rows] == ["published"]


async def test_the_template_reads_back_as_empty_and_a_bad_file_is_refused(services: Services,
                                                                          db: AsyncDatabase[dict[str, Any]]) -> None:
    _, docs = await approved(services, db, 1)
    sid = str(docs[0]["session_id"])
    name, _, template = await services.result_imports.template(sid)
    assert name.endswith(".xlsx")
    for data, code in ((template, "xlsx_empty"), (b"not a spreadsheet", "xlsx_bad_format")):
        with pytest.raises(errors.AppError) as caught:
            await services.result_imports.run(REVIEWER, sid, data, commit=False, ip=None)
        assert caught.value.code == code
