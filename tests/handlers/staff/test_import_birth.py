"""出生年月 in the staff import: the ways people and Excel write a birth month or date (issue 10)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from server.config import Settings
from server.models.staff import birth_from_cell
from tests.client import ApiClient
from tests.factories import resident_id
from tests.handlers.staff.test_staff_import import dry_run
from tests.staff_helpers import sheet_bytes, staff_row, unit_client

SERIAL_1990_03_07 = (date(1990, 3, 7) - date(1899, 12, 30)).days  # what a General cell shows: 32939


@pytest.mark.parametrize(("cell", "expected"), [
    ("1988-07", "1988-07"), ("1988-7", "1988-07"), ("1988年07月", "1988-07"), ("1988年7月", "1988-07"),
    ("1988.07", "1988-07"), ("198807", "1988-07"), ("１９８８－０７", "1988-07"), (" 1988-07 ", "1988-07"),
    ("1988-07-15", date(1988, 7, 15)), ("1988年7月15日", date(1988, 7, 15)), ("1988.07.15", date(1988, 7, 15)),
    ("1988/7/15", date(1988, 7, 15)), ("19880715", date(1988, 7, 15)),
    (datetime(1988, 7, 15), date(1988, 7, 15)), (date(1988, 7, 15), date(1988, 7, 15)),
    (SERIAL_1990_03_07, date(1990, 3, 7)), (float(SERIAL_1990_03_07), date(1990, 3, 7)),
    (19880715, date(1988, 7, 15)), (198807, "1988-07"), (1988.07, "1988-07"), (1988.12, "1988-12"),
])
def test_birth_cells_are_read(cell: object, expected: object) -> None:
    assert birth_from_cell(cell) == expected


@pytest.mark.parametrize(("cell", "message"), [
    ("1988", "格式应为"), ("1988-13", "不是有效的日期"), ("1988-02-30", "不是有效的日期"), ("July 1988", "格式应为"),
    (1988, "须包含月份"), (1988.1, "格式应为"), ("1988-07-15x", "格式应为"), (True, "格式应为"),
])
def test_bad_birth_cells_say_why(cell: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        birth_from_cell(cell)


async def test_import_accepts_every_birth_format_and_checks_the_month(api: ApiClient, settings: Settings) -> None:
    unit = await unit_client(api, settings.sms_outbox)
    good = ["1990-03", "1990年03月", "1990.03", "1990-03-07", "1990年3月7日", datetime(1990, 3, 7),
            SERIAL_1990_03_07, 1990.03]
    rows = [staff_row(id_number=resident_id("19900307"), birth_date=cell) for cell in good]
    rows += [
        staff_row(id_number=resident_id("19900307"), birth_date="1988-07"),  # month contradicts the ID
        staff_row(id_type="护照", id_number="E12345678", sex="男", birth_date="1988-07"),  # no day for a passport
        staff_row(id_type="护照", id_number="E87654321", sex="男", birth_date="1988年7月15日"),
        staff_row(id_number=resident_id("19900307"), birth_date="1990-13"),
    ]
    r = await dry_run(unit, sheet_bytes(rows))
    assert r.status == 201, r.body
    verdicts = [(row["verdict"], row["errors"].get("birth_date")) for row in r.json["rows"]]
    assert verdicts[: len(good)] == [("ok", None)] * len(good)
    mismatch, passport_month, passport_day, bad = verdicts[len(good):]
    assert mismatch == ("error", "出生年月与居民身份证号码不一致")
    assert passport_month[0] == "error" and "须填写到日" in passport_month[1]
    assert passport_day == ("ok", None)
    assert bad[0] == "error" and "不是有效的日期" in bad[1]
