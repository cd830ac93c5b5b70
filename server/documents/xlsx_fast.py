"""Fast reading of one worksheet's values with calamine, behind the guards openpyxl gave us.

calamine (Rust) reads values about 15x faster than openpyxl, but it neither shows
formulas nor streams (it builds a dense grid of the used area), and its zip
reader is not Python's. So, before it sees anything (the bytes have already
passed ``check_xlsx_container``):

- every part it may read is inflated by :mod:`zipfile` (declared size and CRC
  enforced, as for openpyxl) and re-packed uncompressed: calamine parses exactly
  the bytes checked here, and nothing else — only the workbook, its
  relationships, shared strings, styles and the one chosen worksheet go in, so
  no other part can be read in its place;
- each of those parts goes through expat with DTDs refused (no entity tricks);
- the chosen worksheet is scanned: a formula cell refuses the file, naming the
  cell; the extent of the cells with a value bounds calamine's grid; with a
  :class:`~server.documents.xlsx_budget.SheetBudget`, a declared dimension or a
  cell past the last allowed row, or too many cells, refuse the file while the
  part streams by, before calamine builds any grid.

Anything unusual (no ``xl/workbook.xml``, cells without a reference, cell types
whose values the two readers give differently, such as errors, a grid too large,
a DTD) raises :class:`NotFast`, and the caller reads the file with openpyxl.
"""

from __future__ import annotations

import io
import posixpath
import pyexpat
import zipfile
import zlib
from datetime import date, datetime, time
from typing import Any

import python_calamine
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from openpyxl.utils import get_column_letter

from server.documents.xlsx_budget import BudgetScan, SheetBudget
from server.documents.xlsx_common import refused
from server.errors import unsupported_media

MAX_CELLS = 1_000_000  # rows x columns of calamine's dense grid; larger sheets go to openpyxl
CHUNK = 64 * 1024
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_FAST_TYPES = frozenset({None, "n", "s", "inlineStr", "b"})  # errors, "d", "str" read differently
_COLUMNS = {get_column_letter(i): i - 1 for i in range(1, 16385)}  # "A" → 0 ... "XFD"
_CELL_CHILDREN = frozenset({"v", "is"})
_BIG_INT = 1e15  # below this an integral float was written as an integer (openpyxl gives int)


class NotFast(Exception):
    """The file is readable but not by the fast path: read it with openpyxl."""


def read_sheet_values(
    data: bytes, *, prefer: str, max_cols: int, budget: SheetBudget | None = None
) -> list[tuple[int, list[Any]]]:
    """``(row number, values)`` of the sheet named ``prefer`` (else the first worksheet).

    Values are as openpyxl gives them: ``None`` for an empty cell, ``int`` for a
    whole number, ``datetime`` for a date cell; text is not stripped. A sheet past
    ``budget`` is refused (422) before calamine reads anything.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            package, sheet_name, scan = _verified_package(archive, prefer, budget)
        with python_calamine.CalamineWorkbook.from_object(io.BytesIO(package)) as workbook:
            grid = workbook.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise unsupported_media("文件已损坏或不是 .xlsx 格式", "xlsx_bad_format") from None
    except (python_calamine.CalamineError, DefusedXmlException, SyntaxError, pyexpat.ExpatError,
            KeyError, ValueError) as exc:  # SyntaxError: ElementTree.ParseError
        raise NotFast(type(exc).__name__) from None
    if len(grid) > scan.max_row + 1 or (grid and len(grid[0]) > scan.max_col + 1):
        raise NotFast("grid")  # calamine saw more than the scan bounded: trust neither
    return [(index + 1, [_value(v) for v in row[:max_cols]]) for index, row in enumerate(grid)]


def _value(value: Any) -> Any:
    if type(value) is str:
        return value or None
    if type(value) is float and value.is_integer() and abs(value) < _BIG_INT:
        return int(value)
    if type(value) is date:
        return datetime.combine(value, time())
    return value


def _verified_package(
    archive: zipfile.ZipFile, prefer: str, budget: SheetBudget | None
) -> tuple[bytes, str, _SheetScan]:
    names = archive.namelist()
    if len(set(names)) != len(names):
        raise NotFast("duplicate members")
    package_rels = _inflate(archive, "_rels/.rels")
    documents = [target for kind, target, _ in _relationships(package_rels) if kind.endswith("/officeDocument")]
    if [posixpath.normpath(d.lstrip("/")) for d in documents] != ["xl/workbook.xml"]:
        raise NotFast("workbook elsewhere")  # calamine follows this link; we read the usual place
    workbook = _inflate(archive, "xl/workbook.xml")
    relations = _inflate(archive, "xl/_rels/workbook.xml.rels")
    targets = {rid: (kind, target) for kind, target, rid in _relationships(relations)}
    sheets = [(s.get("name"), targets.get(s.get(_REL_NS))) for s in fromstring(workbook, forbid_dtd=True).iter()
              if s.tag.endswith("}sheet")]
    if len({name for name, _ in sheets}) != len(sheets):
        raise NotFast("duplicate sheet names")
    worksheets = [(name, _part(t[1])) for name, t in sheets if name and t and t[0].endswith("/worksheet")]
    chosen = next((s for s in worksheets if s[0] == prefer), worksheets[0] if worksheets else None)
    if chosen is None:
        raise NotFast("no worksheet")
    scan = _SheetScan(BudgetScan(budget) if budget else None)
    parts = {"_rels/.rels": package_rels, "xl/workbook.xml": workbook, "xl/_rels/workbook.xml.rels": relations,
             chosen[1]: _inflate(archive, chosen[1], scan)}
    for kind, target in targets.values():
        if kind.endswith(("/sharedStrings", "/styles")):
            parts[_part(target)] = _inflate(archive, _part(target))
    if (scan.max_row + 1) * (scan.max_col + 1) > MAX_CELLS:
        raise NotFast("grid too large")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as package:
        for name, content in parts.items():
            package.writestr(name, content)
    return out.getvalue(), chosen[0], scan


def _relationships(xml: bytes) -> list[tuple[str, str, str]]:
    """``(type, target, id)`` of a relationships part; an external target sends the file to openpyxl."""
    found = []
    for rel in fromstring(xml, forbid_dtd=True):
        if rel.tag.endswith("}Relationship"):
            if rel.get("TargetMode", "Internal") != "Internal":
                raise NotFast("external relationship")
            found.append((rel.get("Type") or "", rel.get("Target") or "", rel.get("Id") or ""))
    return found


def _part(target: str) -> str:
    """A relationship target of the workbook as a member name."""
    return posixpath.normpath(target[1:] if target.startswith("/") else "xl/" + target)


def _inflate(archive: zipfile.ZipFile, name: str, scan: _SheetScan | None = None) -> bytes:
    """One member through zipfile (sizes and CRC checked) and a DTD-refusing expat, in chunks."""
    parser = pyexpat.ParserCreate()
    parser.StartDoctypeDeclHandler = _no_dtd
    parser.EntityDeclHandler = _no_dtd
    if scan is not None:
        parser.StartElementHandler = scan.start
        parser.EndElementHandler = scan.end
    chunks = []
    with archive.open(name) as member:
        while chunk := member.read(CHUNK):
            parser.Parse(chunk, False)
            chunks.append(chunk)
    parser.Parse(b"", True)
    return b"".join(chunks)


def _no_dtd(*_: Any) -> None:
    raise NotFast("DTD")


class _SheetScan:
    """expat handlers over a worksheet: formula cells, where the cells with a value end, the budget."""

    def __init__(self, budget: BudgetScan | None = None) -> None:
        self.budget = budget
        self.in_data = False
        self.seen_data = False
        self.ref: str | None = None  # the open <c>
        self.row = self.col = 0
        self.max_row = self.max_col = -1

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.budget is not None:
            self.budget.start(name, attrs)
        local = name.rpartition(":")[2]  # calamine, too, goes by local names
        if local == "sheetData":
            if self.seen_data:
                raise NotFast("two sheetData")
            self.in_data = self.seen_data = True
        elif not self.in_data:
            return
        elif local == "c":
            self._cell(attrs)
        elif self.ref is None:
            return
        elif local == "f":
            raise refused("xlsx_formula", f"单元格 {self.ref} 含有公式，请复制后“粘贴为数值”再上传", cell=self.ref)
        elif local in _CELL_CHILDREN:
            self.max_row = max(self.max_row, self.row)
            self.max_col = max(self.max_col, self.col)

    def _cell(self, attrs: dict[str, str]) -> None:
        ref = attrs.get("r")
        if ref is None or attrs.get("t") not in _FAST_TYPES:
            raise NotFast("cell without a reference, or of another type")
        letters = ref.rstrip("0123456789")
        digits = ref[len(letters):]
        if letters not in _COLUMNS or not digits.isascii() or not digits.isdigit() or int(digits) < 1:
            raise NotFast("bad cell reference")
        self.ref, self.row, self.col = ref, int(digits) - 1, _COLUMNS[letters]

    def end(self, name: str) -> None:
        local = name.rpartition(":")[2]
        if local == "c":
            self.ref = None
        elif local == "sheetData":
            self.in_data = False
