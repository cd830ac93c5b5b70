"""The calamine reading of import sheets: same values as openpyxl, and every guard kept."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook

from server.documents import staff_xlsx
from server.documents.staff_xlsx import COLUMNS, read_staff_sheet, read_staff_sheet_openpyxl
from server.documents.xlsx_fast import NotFast, read_sheet_values
from server.errors import AppError
from tests.staff_helpers import sheet_bytes, staff_row

SHEET = "xl/worksheets/sheet1.xml"


def _openpyxl_only(data: bytes) -> Any:
    return read_staff_sheet_openpyxl(data, max_rows=5000)


def _rewrite(data: bytes, member: str, change: Callable[[bytes], bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            content = source.read(name)
            archive.writestr(name, change(content) if name == member else content)
    return out.getvalue()


def _workbook(rows: list[list[Any]], title: str = "学员信息") -> Workbook:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append([c.label for c in COLUMNS])
    for row in rows:
        sheet.append(row)
    return workbook


def _bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_same_values_as_openpyxl() -> None:
    rows = [
        staff_row(birth_date=datetime(1990, 3, 7), work_start=date(2012, 7, 1), postcode=200000,
                  phone=13800138000, title=5, position=5.5, remarks=True),
        staff_row(name=None, id_number=110105199003070011),  # empty first cell, ID typed as a number
        {}, {},                                               # a gap
        staff_row(email="  padded@example.com  "),
    ]
    workbook = _workbook([[row.get(c.field) for c in COLUMNS] for row in rows])
    workbook.active["AZ3"] = "a note far right"
    workbook.create_sheet("其他")["A1"] = "another sheet"
    data = _bytes(workbook)
    read_sheet_values(data, prefer="学员信息", max_cols=40)  # the fast path takes it
    fast = read_staff_sheet(data, max_rows=5000)
    assert fast == _openpyxl_only(data)
    assert [n for n, _ in fast] == [2, 3, 6]
    assert fast[0][1]["birth_date"] == datetime(1990, 3, 7) and fast[0][1]["postcode"] == 200000
    assert fast[0][1]["work_start"] == datetime(2012, 7, 1) and fast[0][1]["position"] == 5.5
    assert fast[2][1]["email"] == "padded@example.com"


def test_the_template_reads_fast() -> None:
    _, _, data = staff_xlsx.render_template()
    assert len(read_sheet_values(data, prefer="学员信息", max_cols=40)) == 2
    assert read_staff_sheet(data, max_rows=5000) == _openpyxl_only(data)


@pytest.mark.parametrize("cell", ["C2", "T3"])  # a mapped column, and one no field reads
def test_formula_anywhere_in_the_sheet_refuses(cell: str) -> None:
    data = sheet_bytes([staff_row(), staff_row()], formula_at=cell)
    for read in (lambda: read_staff_sheet(data, max_rows=5000), lambda: _openpyxl_only(data)):
        with pytest.raises(AppError) as refused:
            read()
        assert refused.value.code == "xlsx_formula" and refused.value.details["cell"] == cell


def test_prefixed_and_shared_formulas_refuse_but_validation_formulas_do_not() -> None:
    good = sheet_bytes([staff_row()])
    prefixed = _rewrite(good, SHEET, lambda x: x.replace(b"<worksheet ", b'<worksheet xmlns:x="urn:any" ', 1)
                        .replace(b'<c r="A2" t="inlineStr"><is>', b'<c r="A2" t="inlineStr"><x:f t="shared" si="0"/><is>'))
    with pytest.raises(AppError) as refused:
        read_sheet_values(prefixed, prefer="学员信息", max_cols=40)
    assert refused.value.details["cell"] == "A2"
    # Excel keeps cross-sheet list sources as <xm:f> in the worksheet's extLst: not a cell formula
    ext = (b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" xmlns:x14="urn:x14"><x14:dataValidations>'
           b'<x14:dataValidation><x14:formula1><xm:f xmlns:xm="urn:xm">Options!$A$2:$A$3</xm:f></x14:formula1>'
           b'<xm:sqref xmlns:xm="urn:xm">B2:B9</xm:sqref></x14:dataValidation></x14:dataValidations></ext></extLst>')
    validated = _rewrite(good, SHEET, lambda x: x.replace(b"</worksheet>", ext + b"</worksheet>"))
    assert len(read_sheet_values(validated, prefer="学员信息", max_cols=40)) == 2


def test_far_cells_go_to_openpyxl_instead_of_a_huge_grid() -> None:
    workbook = _workbook([[staff_row().get(c.field) for c in COLUMNS]])
    workbook.active["AN30000"] = "far away"  # 40 x 30,000 cells: over the grid cap (XFD1048576: 17e9)
    data = _bytes(workbook)
    with pytest.raises(NotFast):
        read_sheet_values(data, prefer="学员信息", max_cols=40)
    assert [n for n, _ in read_staff_sheet(data, max_rows=30_000)] == [2]


@pytest.mark.parametrize("change", [
    lambda x: b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY e "x">]>' + x,  # a DTD: never for calamine
    lambda x: x.replace(b'<c r="C2"', b'<c r="B2" t="e"><v>#N/A</v></c><c r="C2"', 1),  # an error cell
    lambda x: x.replace(b' r="A2"', b"", 1),  # a cell without a reference
])
def test_unusual_sheets_go_to_openpyxl(change: Callable[[bytes], bytes]) -> None:
    data = _rewrite(sheet_bytes([staff_row(sex=None)]), SHEET, change)
    with pytest.raises(NotFast):
        read_sheet_values(data, prefer="学员信息", max_cols=40)


def test_a_member_larger_than_declared_never_reaches_calamine() -> None:
    """Declared size and CRC fit a prefix; the deflate stream holds more: zipfile stops at the declared size."""
    data = bytearray(sheet_bytes([staff_row() for _ in range(50)]))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(SHEET)
    declared = 2000
    prefix = zipfile.ZipFile(io.BytesIO(bytes(data))).read(SHEET)[:declared]
    crc = zlib.crc32(prefix)
    central = zipfile.ZipFile(io.BytesIO(bytes(data))).start_dir
    while struct.unpack_from("<4s", data, central)[0] == b"PK\x01\x02":  # walk the central directory
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, central + 28)
        if bytes(data[central + 46:central + 46 + name_len]) == SHEET.encode():
            break
        central += 46 + name_len + extra_len + comment_len
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, declared)
    struct.pack_into("<I", data, info.header_offset + 14, crc)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    with pytest.raises(NotFast):  # the 2,000-byte prefix is not a whole worksheet: never parsed
        read_sheet_values(bytes(data), prefer="学员信息", max_cols=40)


def test_a_stray_cell_far_below_the_data_is_refused_quickly() -> None:
    workbook = _workbook([[staff_row().get(c.field) for c in COLUMNS]])
    workbook.active.cell(row=900_000, column=1, value="x")
    data = _bytes(workbook)
    for reader in (read_staff_sheet, read_staff_sheet_openpyxl):
        with pytest.raises(AppError) as refused:
            reader(data, max_rows=5000)
        assert refused.value.code == "xlsx_too_many_rows"


def test_a_sheet_openpyxl_cannot_parse_is_a_clear_415() -> None:
    good = _bytes(_workbook([[staff_row().get(c.field) for c in COLUMNS]]))
    data = _rewrite(good, SHEET, lambda xml: xml[: len(xml) // 2])
    for reader in (read_staff_sheet, read_staff_sheet_openpyxl):
        with pytest.raises(AppError) as refused:
            reader(data, max_rows=5000)
        assert refused.value.status in (415, 422)
