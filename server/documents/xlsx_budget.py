"""A budget of rows and cells for one worksheet, enforced while its XML streams by.

A tiny .xlsx can describe a huge sheet: one cell at row 1,048,576 is 5 KB on
disk, yet a reader that pads the rows in between (openpyxl's read-only rows,
calamine's dense grid) walks a million of them. So before any reader walks the
rows, the worksheet part is streamed once through expat and refused as soon as

- its declared ``<dimension ref="A1:S5001">`` ends below the last allowed row
  (it comes first in the part: nothing else is parsed), or
- a cell sits below the last allowed row (the *actual* extent: a missing or
  lying dimension does not get past), or
- it holds more ``<row>`` and ``<c>`` elements than the cell budget.

The scan also tells the highest row that holds a cell, so the reader that comes
next is told to stop there (openpyxl would otherwise trust the dimension, and pad
up to any empty ``<row>`` element far below). The refusals are 422s with a
Chinese message that says what to fix.
"""

from __future__ import annotations

import io
import pyexpat
from dataclasses import dataclass
from typing import IO, Any

from openpyxl.reader.excel import ExcelReader

from server.documents.xlsx_common import refused
from server.errors import AppError

CHUNK = 64 * 1024
_MAX_COLUMN = 16384  # XFD: Excel's last column
_HUGE = 10**9  # a row number of more than 9 digits: past any budget


@dataclass(frozen=True)
class SheetBudget:
    """How far a sheet may reach: the last row number a cell may sit on, and the elements in all."""

    max_rows: int
    max_cells: int


def too_many_rows(budget: SheetBudget, row: int) -> AppError:
    """422 ``xlsx_too_many_rows``: a cell (or the declared size) reaches below the last allowed row."""
    return refused(
        "xlsx_too_many_rows",
        f"表格有内容或格式延伸到第 {row} 行，超出上限（最多 {budget.max_rows} 行）；"
        "请删除多余的行（包括空白但设置过格式的行）后再上传",
        limit=budget.max_rows, row=row,
    )


def too_many_cells(budget: SheetBudget) -> AppError:
    """422 ``xlsx_too_many_cells``: more cells than any sheet of the template holds."""
    return refused(
        "xlsx_too_many_cells",
        f"表格单元格过多（上限 {budget.max_cells} 个），请只保留导入模板中的列和数据行后再上传",
        limit=budget.max_cells,
    )


class BudgetScan:
    """expat handlers: refuse past the budget; remember the highest row that holds a cell."""

    def __init__(self, budget: SheetBudget) -> None:
        self.budget = budget
        self.elements = 0
        self.row = 0  # the open <row>'s number (rows without ``r`` follow the previous one)
        self.max_row = 0  # highest row number holding a <c>, 0 when none
        self.declared: tuple[int, int] | None = None  # (last row, last column) of <dimension>

    def start(self, name: str, attrs: dict[str, str]) -> None:
        """Count ``<row>`` and ``<c>``; check the dimension and every cell's row."""
        # Called for every element: the plain names are compared first, prefixed ones after.
        local = name if ":" not in name else name.rpartition(":")[2]
        if local == "c":
            self._count()
            row = _row_of(attrs.get("r")) or self.row or 1
            if row > self.budget.max_rows:
                raise too_many_rows(self.budget, row)
            self.max_row = max(self.max_row, row)
        elif local == "row":
            self._count()
            self.row = _int(attrs.get("r")) or self.row + 1
        elif local == "dimension":
            self._dimension(attrs.get("ref") or "")

    def _count(self) -> None:
        self.elements += 1
        if self.elements > self.budget.max_cells:
            raise too_many_cells(self.budget)

    def _dimension(self, ref: str) -> None:
        last = ref.rpartition(":")[2].replace("$", "")
        letters = last.rstrip("0123456789")
        row = _int(last[len(letters):])
        if row is None:
            return  # unreadable: the cells themselves are checked anyway
        column = _column(letters)
        self.declared = (row, column or 0)
        if row > self.budget.max_rows:
            raise too_many_rows(self.budget, row)


def scan_budget(source: IO[bytes], budget: SheetBudget) -> BudgetScan:
    """Stream a worksheet part through :class:`BudgetScan` (DTDs refused); the scan, if within budget."""
    scan = BudgetScan(budget)
    parser = pyexpat.ParserCreate()
    parser.StartDoctypeDeclHandler = _no_dtd
    parser.EntityDeclHandler = _no_dtd
    parser.StartElementHandler = scan.start
    try:
        while chunk := source.read(CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except pyexpat.ExpatError:
        raise unreadable() from None
    return scan


def scan_worksheets(data: bytes, budget: SheetBudget) -> dict[str, BudgetScan]:
    """Every worksheet part openpyxl would open, streamed through the budget before openpyxl loads it.

    openpyxl's loader reads each sheet's dimension, and parses the whole sheet when
    there is none: that alone took 10 s of CPU for a million rows. So every
    worksheet (found as openpyxl finds them: manifest, workbook, relationships) is
    held to the budget first. The scans, by part name.
    """
    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=False)
    try:
        reader.read_manifest()
        reader.read_workbook()
        scans: dict[str, BudgetScan] = {}
        for _, rel in reader.parser.find_sheets():
            if "worksheet" in (rel.Type or "") and rel.target in reader.valid_files and rel.target not in scans:
                with reader.archive.open(rel.target) as source:
                    scans[rel.target] = scan_budget(source, budget)
        return scans
    finally:
        reader.archive.close()


def unreadable() -> AppError:
    """415 ``xlsx_unreadable``: the sheet is not well-formed XML (or carries a DTD)."""
    return AppError(415, "xlsx_unreadable", "无法读取该 Excel 文件，请用导入模板填写并另存为 .xlsx 后重试")


def _no_dtd(*_: Any) -> None:
    raise unreadable()


def _row_of(ref: str | None) -> int | None:
    if not ref:
        return None
    return _int(ref[len(ref.rstrip("0123456789")):])


def _int(text: str | None) -> int | None:
    # Only plain ASCII digits: int() would also take "١٢" or " 7". A very long number is
    # past every budget (and int() refuses over 4,300 digits).
    if not text or not text.isascii() or not text.isdigit():
        return None
    return _HUGE if len(text) > 9 else int(text) or None


def _column(letters: str) -> int | None:
    if not letters or len(letters) > 3 or not letters.isascii() or not letters.isalpha():
        return None
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number if number <= _MAX_COLUMN else None
