"""Small files must not stall the import: the sheet's budget holds before any reader walks its rows."""

from __future__ import annotations

import io
import itertools
import random
import time
import zipfile

import pytest

from server.documents.staff_xlsx import COLUMNS, read_staff_sheet, read_staff_sheet_openpyxl, sheet_budget
from server.documents.xlsx_budget import SheetBudget, scan_budget
from server.documents.xlsx_common import check_xlsx_container, load_workbook_safely
from server.errors import AppError
from tests.staff_helpers import sheet_bytes, staff_row

SHEET = "xl/worksheets/sheet1.xml"
NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
READERS = (read_staff_sheet, read_staff_sheet_openpyxl)


def _with_sheet(sheet_xml: bytes) -> bytes:
    """A real workbook (openpyxl's) whose worksheet part is replaced by ``sheet_xml``."""
    source = zipfile.ZipFile(io.BytesIO(sheet_bytes([staff_row()])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            archive.writestr(name, sheet_xml if name == SHEET else source.read(name))
    return out.getvalue()


def _worksheet(rows: bytes, dimension: str | None) -> bytes:
    dim = f'<dimension ref="{dimension}"/>'.encode() if dimension else b""
    return b"<worksheet " + NS + b">" + dim + b"<sheetData>" + rows + b"</sheetData></worksheet>"


def _header_row() -> bytes:
    cells = b"".join(
        b'<c r="%s1" t="inlineStr"><is><t>%s</t></is></c>' % (chr(65 + i).encode(), c.label.encode())
        for i, c in enumerate(COLUMNS)
    )
    return b'<row r="1">' + cells + b"</row>"


def one_far_cell(dimension: str | None = "A1048576") -> bytes:
    """The issue's 8.7 KB file: its only cell sits at row 1,048,576."""
    return _with_sheet(_worksheet(b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>', dimension))


def million_rows() -> bytes:
    """A header and a million one-cell rows: about 2 MB compressed."""
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(2, 1_000_002))
    return _with_sheet(_worksheet(_header_row() + rows, "A1:S1000001"))


def _refused_quickly(data: bytes, code: str) -> AppError:
    check_xlsx_container(data, max_bytes=5 * 1024 * 1024)
    for reader in READERS:
        started = time.thread_time()  # CPU time: the machine may be busy with other work
        with pytest.raises(AppError) as refused:
            reader(data, max_rows=5000)
        assert time.thread_time() - started < 1.0, reader.__name__
        assert (refused.value.status, refused.value.code) == (422, code), refused.value
    return refused.value


@pytest.mark.parametrize("dimension", ["A1048576", "A1:A1048576", "A1:S3", None],
                         ids=["declared", "declared-range", "lying", "missing"])
def test_one_cell_at_the_last_row_is_refused_within_a_second(dimension: str | None) -> None:
    data = one_far_cell(dimension)
    assert len(data) < 10_000
    error = _refused_quickly(data, "xlsx_too_many_rows")
    assert error.details == {"limit": 6000, "row": 1048576}
    assert "1048576" in error.message and "6000" in error.message


def test_a_million_row_sheet_is_refused_within_a_second() -> None:
    data = million_rows()
    assert len(data) < 5 * 1024 * 1024
    _refused_quickly(data, "xlsx_too_many_rows")
    # the declared dimension refuses before a single row is parsed; without it the first row past the cap
    lied = _with_sheet(_worksheet(_header_row() + b'<row r="6001"><c r="A6001"><v>1</v></c></row>', "A1:S2"))
    assert _refused_quickly(lied, "xlsx_too_many_rows").details["row"] == 6001


def test_too_many_cells_within_the_rows_are_refused() -> None:
    numbers = random.Random(7)  # varied values: a run of equal cells would look like a zip bomb
    wide = b"".join(b'<row r="%d">%s</row>' % (r, b"".join(b"<c><v>%d</v></c>" % numbers.randrange(10**9)
                                                            for _ in range(100))) for r in range(2, 3100))
    data = _with_sheet(_worksheet(_header_row() + wide, "A1:CV3100"))
    assert _refused_quickly(data, "xlsx_too_many_cells").details == {"limit": 150_000}


def test_empty_row_elements_far_below_do_not_make_openpyxl_walk() -> None:
    """An empty <row> (a custom height) far below: nothing to refuse, and no million padded rows."""
    rows = _header_row() + b'<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row>'
    data = _with_sheet(_worksheet(rows + b'<row r="1048576" ht="30" customHeight="1"/>', "A1:S2"))
    for reader in READERS:
        started = time.thread_time()
        assert [(n, v["name"]) for n, v in reader(data, max_rows=5000)] == [(2, "x")]
        assert time.thread_time() - started < 1.0, reader.__name__


def test_control_without_the_budget_openpyxl_walks_every_empty_row() -> None:
    """Control: the read-only rows, unbounded, pad the gap row by row (the 23 s of the issue)."""
    workbook = load_workbook_safely(one_far_cell())
    try:
        rows = workbook.worksheets[0].iter_rows(min_row=1, max_col=40)
        deadline = time.perf_counter() + 0.5
        walked = 0
        for _ in itertools.takewhile(lambda _: time.perf_counter() < deadline, rows):
            walked += 1
        assert walked > 5_000  # still walking empty rows after half a second, far from done
    finally:
        workbook.close()


def test_a_normal_5000_row_sheet_still_reads() -> None:
    data = sheet_bytes([staff_row() for _ in range(5000)])
    check_xlsx_container(data, max_bytes=5 * 1024 * 1024)
    fast = read_staff_sheet(data, max_rows=5000)
    assert len(fast) == 5000 and fast[-1][0] == 5001


def test_the_scan_reports_the_last_row_with_a_cell() -> None:
    xml = _worksheet(b'<row r="3"><c r="B3"><v>1</v></c></row><row><c><v>2</v></c></row><row r="90"/>', "A1:B2")
    scan = scan_budget(io.BytesIO(xml), SheetBudget(max_rows=100, max_cells=10))
    assert (scan.max_row, scan.declared) == (4, (2, 2))
    with pytest.raises(AppError) as refused:
        scan_budget(io.BytesIO(b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY e "x">]>' + xml),
                    sheet_budget(5000))
    assert refused.value.code == "xlsx_unreadable"


def test_a_file_sent_to_openpyxl_without_a_dimension_is_refused_before_openpyxl_loads_it() -> None:
    """A cell without a reference sends the file to openpyxl, whose loader would parse a sheet without a
    dimension from end to end just to size it: the budget scan of every worksheet comes first."""
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(3, 300_002))
    data = _with_sheet(_worksheet(_header_row() + b"<row><c><v>1</v></c></row>" + rows, None))
    check_xlsx_container(data, max_bytes=5 * 1024 * 1024)
    started = time.thread_time()
    with pytest.raises(AppError) as refused:
        read_staff_sheet(data, max_rows=5000)
    ours = time.thread_time() - started
    assert refused.value.code == "xlsx_too_many_rows" and ours < 1.0
    # Control: openpyxl's loader alone, before any row is read, parses the whole sheet.
    started = time.thread_time()
    load_workbook_safely(data).close()
    assert time.thread_time() - started > 10 * ours
